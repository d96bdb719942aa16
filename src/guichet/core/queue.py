"""The job queue: one procrastinate `App` for the process, task registration, transactional defer,
and the worker runner (in-process for `guichet serve`, standalone for `guichet worker`).

Fronts declare tasks on a `procrastinate.Blueprint` named `blueprint` in a module that their
`Front.tasks` lists with a namespace; `load_tasks()` binds them under it (task names
`<namespace>:<name>`, e.g. `dropzone:drain_bucket`).

Jobs are deferred with `defer(session, task, **kwargs)`: the INSERT runs on the session's own
connection, so the job exists if and only if the caller's transaction commits.

`run_worker` keeps a worker going through database outages (procrastinate's worker stops when
its connection goes: it is started again after a pause) and, beside it, retries the jobs of
dead workers: each worker records a heartbeat; a job left `doing` by a worker that has been
silent for `worker.stalled_timeout` (SIGKILL, crash) goes back to `todo` (`recover_stalled_jobs`).
Every task must therefore be idempotent: a stalled job may have done part of its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import psycopg_pool
import structlog
from procrastinate import App, Blueprint, JobContext, PsycopgConnector
from procrastinate.app import WorkerOptions
from procrastinate.exceptions import ConnectorException, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.tasks import ConfigureTaskOptions, Task
from procrastinate.types import JSONValue, TimeDeltaParams
from procrastinate.worker import Worker
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.core.db import libpq_url
from guichet.core.fronts import TaskModule
from guichet.core.logging import get_logger

log = get_logger(__name__)

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
    """Run a worker until cancelled (in-process) or signalled (`guichet worker`): started again
    whenever it stops on its own (database lost), with stalled-job recovery beside it."""
    stop = asyncio.Event()
    with _stop_on_signals(stop) if install_signal_handlers else contextlib.nullcontext():
        recovery = asyncio.create_task(_recover_forever(settings), name="stalled-jobs")
        try:
            await _keep_worker_running(settings, name, stop)
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery


async def _keep_worker_running(settings: Settings, name: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        worker = asyncio.create_task(_run_procrastinate_worker(settings, name))
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not worker.done():
                worker.cancel()  # procrastinate's graceful stop (running jobs may finish)
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        if stop.is_set():
            return
        error = None if worker.cancelled() else worker.exception()
        log.warning(
            "worker.stopped_unexpectedly",
            name=name,
            error=f"{type(error).__name__}: {error}"[:300] if error else None,
            restart_in=settings.worker.restart_pause,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.worker.restart_pause)


async def _run_procrastinate_worker(settings: Settings, name: str) -> None:
    worker = settings.worker
    options: WorkerOptions = {
        "concurrency": worker.concurrency,
        "name": name,
        # Signals are ours (`_stop_on_signals`): a stop must end the restart loop too.
        "install_signal_handlers": False,
        "shutdown_graceful_timeout": worker.shutdown_timeout,
        "worker_middleware": [_bind_job_context],
        "update_heartbeat_interval": worker.heartbeat_interval,
        "stalled_worker_timeout": worker.stalled_timeout,
    }
    # Omitted means every queue; an empty list would mean none.
    if worker.queues:
        options["queues"] = worker.queues
    await app.run_worker_async(**options)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT / SIGTERM set `stop` (a graceful stop), as procrastinate's own handlers would."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


# --- stalled jobs -----------------------------------------------------------------------------


async def _recover_forever(settings: Settings) -> None:
    while True:
        try:
            await recover_stalled_jobs(settings.worker.stalled_timeout)
        except (ConnectorException, psycopg_pool.PoolTimeout, OSError) as exc:
            # The database is away: the next round will do.
            log.warning("worker.stalled_jobs_check_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(settings.worker.heartbeat_interval)


async def recover_stalled_jobs(stalled_timeout: float) -> list[int]:
    """Send the `doing` jobs of dead workers (no heartbeat for `stalled_timeout` seconds, or
    none recorded) back to `todo`; returns their ids. Safe to run in many workers at once."""
    manager = app.job_manager
    # Dead workers' rows go first: their jobs then have no worker, which marks them stalled.
    await manager.prune_stalled_workers(stalled_timeout)
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_timeout)
    retried = [job.id for job in stalled if job.id is not None and await _retry_stalled(job)]
    if retried:
        log.warning("worker.stalled_jobs_retried", job_ids=retried)
    return retried


async def _retry_stalled(job: Job) -> bool:
    assert job.id is not None
    manager = app.job_manager
    try:
        await manager.retry_job_by_id_async(job.id, retry_at=dt.datetime.now(dt.UTC))
    except ConnectorException as exc:
        if isinstance(exc, UniqueViolation):
            # An identical job (same queueing lock) is already waiting: it does the work; this
            # one ends as failed rather than running twice.
            await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            log.warning("worker.stalled_job_superseded", job_id=job.id, task=job.task_name)
            return False
        if 'not in "doing" status' in str(exc.__cause__ or exc):
            return False  # another worker's recovery (or a late finish) got there first
        raise
    return True
