"""`Services`: what one process's requests and jobs share, built once from the settings.

The runtime builds them (`guichet.runtime.app.build_services`) from the `Settings` its entry
point read, then installs them for the jobs and listeners of the process (`install`). Nothing
else holds process state: there is no module that re-reads the environment, and no accessor
that falls back to defaults — a job run in a process that installed nothing fails loudly.

Jobs receive only their JSON arguments from procrastinate, hence one installed object rather
than an argument; requests reach the same objects through `app.state`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from guichet.core.config import Settings

if TYPE_CHECKING:  # storage and mail import this module for their `current()` accessors
    from guichet.core.mail import Mailer
    from guichet.core.storage import BlobStore


class NotInstalled(RuntimeError):
    """A job or listener ran in a process whose runtime installed no services."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    blob_store: BlobStore
    mailer: Mailer
    # Resources a front builds for itself from the settings (see `guichet.core.fronts.Front`),
    # by the front's name: the drop zone's S3 backend.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in its own transaction: committed on success, rolled back on error."""
        async with self.sessionmaker.begin() as session:
            yield session

    async def aclose(self) -> None:
        await self.engine.dispose()

    def evolve(self, **changes: Any) -> Services:
        """A copy with some parts replaced (tests swap a mailer or a sessionmaker)."""
        return replace(self, **changes)


_installed: Services | None = None


def install(services: Services | None) -> None:
    """Make `services` the process's (the runtime does, once; tests do per test)."""
    global _installed
    _installed = services


def current() -> Services:
    if _installed is None:
        raise NotInstalled("no services installed in this process (guichet.runtime builds them)")
    return _installed


@asynccontextmanager
async def transaction() -> AsyncIterator[AsyncSession]:
    """`current().transaction()`: jobs, listeners and CLI commands open theirs here."""
    async with current().transaction() as session:
        yield session
