"""`Front`: how a front (the BAL publication API, the partners' loaders) declares itself once.

Each front has one `front.py` holding a `FRONT`; `guichet.runtime.fronts.FRONTS` lists them and
the app, the worker, the CLI and the migrations read that list. Adding a front is one new
`front.py` and one line there.

Fronts never import the runtime: their commands receive a `CommandRunner` from it (the runtime
knows how to reach the database, embedded or not), their background work receives `Services`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from guichet.core.config import Settings

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

    from guichet.core.services import Services

T = TypeVar("T")


class CommandRunner(Protocol):
    """Runs a front's CLI command against this installation's services (the runtime's)."""

    def __call__(
        self, work: Callable[[AsyncSession, Settings], Awaitable[T]], *, drop_zone: bool = False
    ) -> T:
        """Read the settings, reach the database (and with `drop_zone`, the S3 server), build
        and install the services, run `work` in one committed transaction, tear everything
        down."""
        ...


@dataclass(frozen=True)
class TaskModule:
    """A module defining a procrastinate `blueprint`; its tasks are named `namespace:name`
    (the names stored in job rows: they never change when modules move)."""

    namespace: str
    module: str


@contextlib.asynccontextmanager
async def _nothing(_: Any) -> AsyncIterator[None]:
    yield


@dataclass(frozen=True)
class Front:
    name: str
    # Modules defining its ORM tables (Alembic and the app import them).
    models: tuple[str, ...]
    tasks: tuple[TaskModule, ...] = ()
    # Adds the front's routers to the app.
    routers: Callable[[FastAPI], None] = lambda app: None
    # Adds the front's commands to the `guichet` CLI.
    commands: Callable[[typer.Typer, CommandRunner], None] = lambda app, run: None
    # Resources the front builds from the settings, kept in `Services.extras[name]`.
    resources: Callable[[Settings], Any] = lambda settings: None
    # Runs in every process that runs jobs, beside the job worker (event listeners).
    background: Callable[[Services], AbstractAsyncContextManager[None]] = _nothing
    # Runs in every API process for the app's lifetime (caches, pools).
    app_lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] = _nothing
