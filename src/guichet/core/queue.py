"""The job queue: one procrastinate `App` for the process, task registration, transactional defer,
and the worker runner (in-process for `guichet serve`, standalone for `guichet worker`).

Fronts declare tasks on a `procrastinate.Blueprint` named `blueprint` in a module that their
`Front.tasks` lists with a namespace; `load_tasks()` binds them under it (task names
`<namespace>:<name>`, e.g. `dropzone:drain_bucket`).

Jobs are deferred with `defer(session, task, **kwargs)`: the INSERT runs on the session's own
connection, so the job exists if and only if the caller's transaction commits.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg_pool
import structlog
from procrastinate import App, Blueprint, JobContext, PsycopgConnector
from procrastinate.app import WorkerOptions
from procrastinate.tasks import ConfigureTaskOptions, Task
from procrastinate.types import JSONValue, TimeDeltaParams
from procrastinate.worker import Worker
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.core.db import libpq_url
from guichet.core.fronts import TaskModule

# The connector is configured when the process opens the queue (`open_queue`); until then the
# app can still defer jobs on a caller's connection, which is all the API (and tests) need.
app = App(connector=PsycopgConnector())

_loaded: set[str] = set()


def load_tasks(modules: Iterable[TaskModule]) -> None:
    """Bind every listed blueprint to `app` (idempotent: blueprints can be bound only once)."""
    for task_module in modules:
        if task_module.module in _loaded:
            continue
        module = importlib.import_module(task_module.module)
        blueprint: Blueprint = module.blueprint
        app.add_tasks_from(blueprint, namespace=task_module.namespace)
        _loaded.add(task_module.module)


async def defer(
    session: AsyncSession,
    task: Task[..., Any, ...],
    *,
    queueing_lock: str | None = None,
    lock: str | None = None,
    schedule_in: TimeDeltaParams | None = None,
    priority: int | None = None,
    queue: str | None = None,
    **kwargs: JSONValue,
) -> int:
    """Insert a job in the caller's transaction and return its id.

    With a `queueing_lock`, a job already waiting under that lock raises
    `procrastinate.exceptions.AlreadyEnqueued`; the insert runs in a savepoint so that the
    caller's transaction stays usable after catching it.
    """
    options: ConfigureTaskOptions = {
        "queueing_lock": queueing_lock,
        "lock": lock,
        "schedule_in": schedule_in,
        "priority": priority,
        "queue": queue,
    }
    if queueing_lock is None:
        return await _defer_on(session, task, options, kwargs)
    async with session.begin_nested():
        return await _defer_on(session, task, options, kwargs)


async def defer_batch(
    session: AsyncSession,
    task: Task[..., Any, ...],
    jobs: list[tuple[str | None, dict[str, JSONValue]]],
    *,
    priority: int | None = None,
) -> list[int]:
    """Insert several jobs of one task in the caller's transaction with one statement; each
    item is (queueing lock or None, task kwargs). Raises `AlreadyEnqueued` if any lock is
    taken, and then inserts none (savepoint): the caller can fall back to `defer` one by one."""
    if not jobs:
        return []
    async with session.begin_nested():
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        deferrer = task.configure(connection=raw.driver_connection, priority=priority)
        made = [deferrer.make_new_job(**kwargs).evolve(queueing_lock=lock) for lock, kwargs in jobs]
        done = await deferrer.job_manager.batch_defer_jobs_async(
            jobs=made, connection=raw.driver_connection
        )
    return [job.id for job in done if job.id is not None]


async def _defer_on(
    session: AsyncSession,
    task: Task[..., Any, ...],
    options: ConfigureTaskOptions,
    kwargs: dict[str, JSONValue],
) -> int:
    # session.connection() also emits the pending SAVEPOINT of a begin_nested() block, which
    # SQLAlchemy would otherwise only send with its next statement.
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    with_connection: ConfigureTaskOptions = {**options, "connection": raw.driver_connection}
    deferrer = task.configure(**with_connection)
    return await deferrer.defer_async(**kwargs)


async def open_queue(settings: Settings, *, max_size: int | None = None) -> None:
    """Give `app` a connection pool (needed by workers and by defers outside a session)."""
    # A worker holds one connection for LISTEN/NOTIFY plus one per concurrent job.
    size = max_size or settings.worker.concurrency + 2
    pool = psycopg_pool.AsyncConnectionPool(
        libpq_url(settings.sqlalchemy_url),
        min_size=1,
        max_size=size,
        open=False,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
        name="procrastinate",
    )
    await pool.open(wait=True)
    await app.open_async(pool=pool)


async def close_queue() -> None:
    connector = app.connector
    assert isinstance(connector, PsycopgConnector)
    # procrastinate leaves an externally supplied pool open and keeps a reference to it;
    # close it ourselves and forget it so that the queue can be opened again (tests, reloads).
    pool = connector._async_pool
    if pool is not None:
        await pool.close()
    connector._async_pool = None
    connector._pool_externally_set = False


async def _bind_job_context(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Worker
) -> Any:
    """Every log line of a job carries its id and task name (warehouse's task pre/post-run)."""
    job = context.job
    with structlog.contextvars.bound_contextvars(job_id=job.id, task_name=job.task_name):
        return await call_next()


async def run_worker(settings: Settings, *, install_signal_handlers: bool, name: str) -> None:
    """Run a worker until cancelled (in-process) or signalled (`guichet worker`)."""
    options: WorkerOptions = {
        "concurrency": settings.worker.concurrency,
        "name": name,
        "install_signal_handlers": install_signal_handlers,
        "shutdown_graceful_timeout": settings.worker.shutdown_timeout,
        "worker_middleware": [_bind_job_context],
    }
    # Omitted means every queue; an empty list would mean none.
    if settings.worker.queues:
        options["queues"] = settings.worker.queues
    await app.run_worker_async(**options)
