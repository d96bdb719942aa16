"""Server commands of the `guichet` CLI: serve, worker, migrate, admin helpers, and the runner of
the fronts' own commands.

`guichet.runtime.cli` calls `register(app)`. With no `GUICHET_DATABASE_URL`, every command uses the
embedded PostgreSQL of `GUICHET_HOME`: `serve` starts it (and stops it on exit); the others
attach to it if a `serve` is running, else start it for their own duration.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession
from uvicorn.supervisors import Multiprocess

from guichet import cog
from guichet.core import auth, db, queue
from guichet.core.config import Settings
from guichet.core.logging import configure_logging, get_logger
from guichet.runtime import banner, http_server, outbox_cli, preflight, worker_processes
from guichet.runtime.app import build_services, create_app
from guichet.runtime.fronts import FRONTS
from guichet.runtime.home import make_private, use_private_umask
from guichet.runtime.postgres import POSTGRES_BIN_PATH, EmbeddedPostgres
from guichet.runtime.seaweedfs import embedded_server

log = get_logger(__name__)

T = TypeVar("T")

HostOption = Annotated[str | None, typer.Option(help="Address to bind (default GUICHET_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default GUICHET_PORT).")]


def register(app: typer.Typer) -> None:
    """The server commands, then each front's commands (run through `run_command`)."""
    app.command()(serve)
    app.command()(worker)
    app.command()(migrate)
    app.command()(psql)
    app.command("admin-token")(admin_token)
    app.command("config")(show_config)
    app.add_typer(outbox_cli.app, name="outbox")
    for front in FRONTS:
        front.commands(app, run_command)


def _settings(**overrides: Any) -> Settings:
    # Everything a command creates (under the home above all) is its user's only.
    use_private_umask()
    settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    configure_logging(settings.log)
    return settings


def _private_home(settings: Settings) -> None:
    """Bring what an older version (or a copy) left under the home back to 0600 / 0700."""
    extra = [settings.outbox_dir]
    if settings.storage.backend == "local":
        extra.append(settings.blobs_dir)
    make_private(settings.home, extra)


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that `finally` blocks (stopping PostgreSQL) run.

    uvicorn and procrastinate install their own handlers while they run and re-raise the
    signal when they are done; this one covers the rest (startup, migrations, shutdown).
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The settings to use, with the embedded PostgreSQL started (or attached) if needed."""
    if not settings.is_embedded:
        yield settings
        return
    with EmbeddedPostgres(settings.home) as postgres:
        yield settings.with_embedded_database(postgres.url())


def serve(
    host: HostOption = None,
    port: PortOption = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
    workers: Annotated[
        int | None, typer.Option(min=1, help="API processes (default GUICHET_WORKERS, 1).")
    ] = None,
) -> None:
    """Run the API (and, by default in embedded mode, a worker) until Ctrl-C / SIGTERM."""
    settings = _settings(host=host, port=port, workers=workers)
    preflight.check_or_exit(settings)  # before anything starts: one plain line, exit 2
    admin_token_configured = settings.admin_token is not None or not settings.is_embedded
    _private_home(settings)
    try:
        with (
            _exit_on_sigterm(),
            database(settings) as settings,
            embedded_server(settings) as settings,
        ):
            if migrate:
                db.migrate(settings.sqlalchemy_url)
            settings, new_token = auth.with_admin_token(settings)
            if new_token is not None:
                typer.echo(
                    f"Admin token (shown once; kept in {settings.home / auth.ADMIN_TOKEN_FILE}):"
                    f" {new_token}"
                )
            facts = banner.start_facts(settings, admin_token_configured=admin_token_configured)
            with worker_processes.worker_processes(settings):
                _serve_api(settings, facts)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        log.info("serve.stopped")


def _serve_api(settings: Settings, facts: banner.StartFacts) -> None:
    if settings.workers > 1:
        _serve_processes(settings, facts)
        return
    application = create_app(settings)
    _settle_heap()
    config = http_server.server_config(application, settings)
    log.info("serve.start", url=f"http://{settings.host}:{settings.port}")
    _AnnouncingServer(config, lambda: banner.announce(settings, facts)).run()


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, telling where everything is once it listens (not before: a banner
    must not announce a server that then fails to bind)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._announce()


# --- several API processes ------------------------------------------------------------------

_CHILD_SETTINGS = "_GUICHET_SERVE_SETTINGS"


def _serve_processes(settings: Settings, facts: banner.StartFacts) -> None:
    """`settings.workers` uvicorn processes on one socket, under uvicorn's supervisor.

    The children build their app from the settings resolved here (embedded database URL,
    admin token, drop zone), passed in their environment (readable by this user only). They
    never run jobs: the one job worker, if any, runs in this supervisor process, in a thread.
    """
    children = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"in_process": False})}
    )
    os.environ[_CHILD_SETTINGS] = base64.b64encode(pickle.dumps(children)).decode()
    jobs = _JobThread(settings) if settings.run_worker_in_process else None
    log.info("serve.start", url=f"http://{settings.host}:{settings.port}", workers=settings.workers)
    try:
        # What `uvicorn.run(..., workers=N)` does, with our configuration (and its limits).
        config = http_server.server_config(
            "guichet.runtime.commands:child_app", settings, factory=True, workers=settings.workers
        )
        sockets = [config.bind_socket()]
        banner.announce(settings, facts)  # listening: the children accept on this socket
        with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: a normal stop
            Multiprocess(config, sockets=sockets).run()
    finally:
        del os.environ[_CHILD_SETTINGS]
        if jobs is not None:
            jobs.stop()


def child_app() -> Any:
    """The app of one API process of `serve --workers N` (uvicorn's factory)."""
    settings: Settings = pickle.loads(base64.b64decode(os.environ[_CHILD_SETTINGS]))
    configure_logging(settings.log)
    application = create_app(settings)
    _settle_heap()
    return application


def _settle_heap() -> None:
    """Load the COG index now, then move every object built so far (modules, models, routes,
    the index) out of the garbage collector's reach: full collections walking them stalled
    the event loop for tens of milliseconds (most of the p99 of the public reads)."""
    cog.is_current("75056")
    _freeze_heap()


def _freeze_heap() -> None:
    """Move the objects built at start-up out of the garbage collector's reach: collections
    then walk only what the work allocates (a drop-zone worker allocates fast enough to run
    several full collections per second)."""
    gc.collect()
    gc.freeze()


class _JobThread:
    """The in-process job worker of a multi-process `serve`, in the supervisor."""

    def __init__(self, settings: Settings) -> None:
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._timeout = settings.worker.shutdown_timeout + 10
        self._thread = threading.Thread(target=self._run, args=(settings,), name="jobs")
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def _run(self, settings: Settings) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(_run_worker(settings, signal_handlers=False))
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    def stop(self) -> None:
        if self._task is not None and not self._loop.is_closed():
            # procrastinate's graceful stop, as in the app lifespan
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(self._timeout)


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at the same time.")] = None,
) -> None:
    """Run a job worker until Ctrl-C / SIGTERM (scale out: one per core, on any machine)."""
    started_by_serve = worker_processes.PARENT_PID_VARIABLE in os.environ
    worker_processes.die_with_serve()  # when started by `serve`
    settings = _settings()
    if concurrency is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"concurrency": concurrency})}
        )
    if not started_by_serve:  # `serve` made its home private already
        _private_home(settings)
    try:
        with (
            _exit_on_sigterm(),
            database(settings) as settings,
            embedded_server(settings) as settings,
        ):
            asyncio.run(_run_worker(settings))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _run_worker(settings: Settings, *, signal_handlers: bool = True) -> None:
    built = build_services(settings)
    await queue.open_queue(settings)
    name = f"{socket.gethostname()}-{os.getpid()}"
    log.info("worker.started", mode="standalone", name=name)
    _freeze_heap()
    try:
        async with contextlib.AsyncExitStack() as stack:
            for front in FRONTS:
                await stack.enter_async_context(front.background(built))
            await queue.run_worker(settings, install_signal_handlers=signal_handlers, name=name)
    finally:
        await queue.close_queue()
        await built.aclose()
    log.info("worker.stopped", name=name)


def run_command(
    work: Callable[[AsyncSession, Settings], Awaitable[T]], *, drop_zone: bool = False
) -> T:
    """A front's command (`guichet.core.fronts.CommandRunner`): the settings from the
    environment, the embedded PostgreSQL (and SeaweedFS, with `drop_zone`) attached or started,
    the services built and installed, `work` run in one committed transaction, everything torn
    down."""
    settings = _settings()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exit_on_sigterm())
        settings = stack.enter_context(database(settings))
        if drop_zone:
            settings = stack.enter_context(embedded_server(settings))

        async def main() -> T:
            built = build_services(settings)
            try:
                async with built.transaction() as session:
                    return await work(session, built.settings)
            finally:
                await built.aclose()

        return asyncio.run(main())


def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (the job queue's schema included)."""
    settings = _settings()
    with _exit_on_sigterm(), database(settings) as settings:
        db.migrate(settings.sqlalchemy_url, revision)
        current = db.current_revision(settings.sqlalchemy_url)
    typer.echo(f"database at revision {current}")


def psql(
    args: Annotated[list[str] | None, typer.Argument(help="Extra psql arguments.")] = None,
) -> None:
    """Open psql on Guichet's database (embedded or configured)."""
    settings = _settings()
    with _exit_on_sigterm(), database(settings) as settings:
        command = [str(POSTGRES_BIN_PATH / "psql"), db.libpq_url(settings.sqlalchemy_url)]
        code = subprocess.call([*command, *(args or [])])
    raise typer.Exit(code)


def admin_token() -> None:
    """Print the embedded admin token (created if needed)."""
    settings = _settings()
    if not settings.is_embedded:
        typer.echo("the admin token is GUICHET_ADMIN_TOKEN (not stored by Guichet)", err=True)
        raise typer.Exit(1)
    if settings.admin_token is not None:
        typer.echo("GUICHET_ADMIN_TOKEN is set; it overrides the stored token", err=True)
        raise typer.Exit(1)
    token, _ = auth.load_or_create_admin_token(settings.home)
    typer.echo(token)


def show_config() -> None:
    """Print the effective settings as JSON, secrets masked."""
    settings = _settings()
    data = settings.model_dump(mode="json")
    if settings.database_url:
        data["database_url"] = db.safe_url(settings.database_url)
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def main() -> None:
    app = typer.Typer(help="Guichet server commands.", no_args_is_help=True)
    register(app)
    app()


if __name__ == "__main__":
    main()
