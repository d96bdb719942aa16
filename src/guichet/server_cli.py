"""Server commands of the `guichet` CLI: serve, worker, migrate, and admin helpers.

`guichet.cli` calls `register(app)`. With no `GUICHET_DATABASE_URL`, every command uses the
embedded PostgreSQL of `GUICHET_HOME`: `serve` starts it (and stops it on exit); the others
attach to it if a `serve` is running, else start it for their own duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn

from guichet import auth, db, queue
from guichet.app import build_resources, create_app
from guichet.config import Settings
from guichet.embedded import POSTGRES_BIN_PATH, EmbeddedPostgres
from guichet.logging import configure_logging, get_logger

log = get_logger(__name__)

HostOption = Annotated[str | None, typer.Option(help="Address to bind (default GUICHET_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default GUICHET_PORT).")]


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command()(migrate)
    app.command()(psql)
    app.command("admin-token")(admin_token)
    app.command("config")(show_config)


def _settings(**overrides: Any) -> Settings:
    settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    configure_logging(settings.log)
    return settings


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
) -> None:
    """Run the API (and, by default in embedded mode, a worker) until Ctrl-C / SIGTERM."""
    settings = _settings(host=host, port=port)
    try:
        with _exit_on_sigterm(), database(settings) as settings:
            if migrate:
                db.migrate(settings.sqlalchemy_url)
            settings, new_token = auth.with_admin_token(settings)
            if new_token is not None:
                typer.echo(
                    f"Admin token (shown once; kept in {settings.home / auth.ADMIN_TOKEN_FILE}):"
                    f" {new_token}"
                )
            config = uvicorn.Config(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                log_config=None,  # ours (structlog) is already in place
                access_log=False,  # the request middleware logs every request
                server_header=False,
            )
            log.info("serve.start", url=f"http://{settings.host}:{settings.port}")
            uvicorn.Server(config).run()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        log.info("serve.stopped")


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at the same time.")] = None,
) -> None:
    """Run a job worker until Ctrl-C / SIGTERM (scale out: one per core, on any machine)."""
    settings = _settings()
    if concurrency is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"concurrency": concurrency})}
        )
    try:
        with _exit_on_sigterm(), database(settings) as settings:
            asyncio.run(_run_worker(settings))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _run_worker(settings: Settings) -> None:
    resources = build_resources(settings)
    await queue.open_queue(settings)
    name = f"{socket.gethostname()}-{os.getpid()}"
    log.info("worker.started", mode="standalone", name=name)
    try:
        await queue.run_worker(settings, install_signal_handlers=True, name=name)
    finally:
        await queue.close_queue()
        await resources.engine.dispose()
    log.info("worker.stopped", name=name)


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
