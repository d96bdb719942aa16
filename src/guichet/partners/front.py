"""The partners' front (loaders by REST and by S3 drop zone), declared once (see
`guichet.core.fronts`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import typer
from fastapi import FastAPI

from guichet.core.config import Settings
from guichet.core.fronts import CommandRunner, Front, TaskModule
from guichet.core.services import Services


def _routers(app: FastAPI) -> None:
    from guichet.partners import admin_router, router
    from guichet.partners.dropzone import router as dropzone_router

    app.include_router(router.router)
    app.include_router(admin_router.router)
    app.include_router(dropzone_router.admin_router)
    app.include_router(dropzone_router.partner_router)


def _commands(app: typer.Typer, run: CommandRunner) -> None:
    from guichet.partners import cli
    from guichet.partners.dropzone import cli as dropzone_cli

    cli.register(app, run)
    dropzone_cli.register(app, run)


def _resources(settings: Settings) -> Any:
    """The drop zone's S3 backend (None when the drop zone is off or its server not started)."""
    from guichet.partners.dropzone import backends

    return backends.create_backend(settings.dropzone)


@contextlib.asynccontextmanager
async def _background(services: Services) -> AsyncIterator[None]:
    """The drop zone's event listeners, beside every job worker that listens."""
    from guichet.partners.dropzone import events

    listeners = events.start(services.settings)
    try:
        yield
    finally:
        await events.stop(listeners)


FRONT = Front(
    name="partners",
    models=("guichet.partners.models", "guichet.partners.dropzone.models"),
    # Namespaces kept from the first layout: they are the task names stored in job rows.
    tasks=(
        TaskModule("loaders", "guichet.partners.tasks"),
        TaskModule("dropzone", "guichet.partners.dropzone.tasks"),
    ),
    routers=_routers,
    commands=_commands,
    resources=_resources,
    background=_background,
)
