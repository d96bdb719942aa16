"""The BAL publication front, declared once (see `guichet.core.fronts`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import typer
from fastapi import FastAPI

from guichet.core.fronts import CommandRunner, Front, TaskModule


def _routers(app: FastAPI) -> None:
    from guichet.depot import (
        cache,
        diff_router,
        habilitations_router,
        parties_router,
        proconnect_router,
        read_router,
        revalidation_router,
        router,
        stats_router,
        sync_ids_router,
        webhooks_router,
    )

    app.state.depot_cache = cache.create_cache(app.state.settings)  # its listener: the lifespan
    # Reading first: `/revisions/client/{id}` must win over `/revisions/{id}/…` patterns.
    app.include_router(read_router.router)
    app.include_router(router.router)
    app.include_router(parties_router.router)
    # Before the habilitations: `/habilitations/proconnect/callback` is a fixed path.
    app.include_router(proconnect_router.router)
    app.include_router(habilitations_router.router)
    app.include_router(stats_router.router)
    app.include_router(sync_ids_router.router)
    app.include_router(webhooks_router.router)
    app.include_router(revalidation_router.router)
    app.include_router(diff_router.router)


def _commands(app: typer.Typer, run: CommandRunner) -> None:
    from guichet.depot.cli import register

    register(app, run)


@contextlib.asynccontextmanager
async def _app_lifespan(app: FastAPI) -> AsyncIterator[None]:
    from guichet.depot import cache, compute

    listener = cache.start_listener(app.state.depot_cache, app.state.settings)
    app.state.depot_cache_listener = listener
    compute.pool.warm()
    try:
        yield
    finally:
        if listener is not None:
            await listener.stop()


FRONT = Front(
    name="depot",
    models=(
        "guichet.depot.models",
        "guichet.depot.diff_models",
        "guichet.depot.revalidation_models",
        "guichet.depot.webhooks_models",
    ),
    tasks=(
        TaskModule("depot", "guichet.depot.diff_tasks"),
        TaskModule("depot", "guichet.depot.revalidation_tasks"),
        TaskModule("depot", "guichet.depot.tasks"),
    ),
    routers=_routers,
    commands=_commands,
    app_lifespan=_app_lifespan,
)
