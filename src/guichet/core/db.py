"""Database plumbing: declarative `Base`, engine and sessionmaker, the request-owned `Session`
dependency, migrations. (Jobs and scripts open transactions through `guichet.core.services`.)

Services receive an `AsyncSession`, `flush()` and never `commit()`: the request (or the job)
owns the transaction. `Session` commits *before* the response is sent (`scope="function"`), so a
failed commit can never hide behind a 2xx.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Annotated

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from fastapi import Depends, Request
from sqlalchemy import MetaData, NullPool, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, SessionTransaction
from sqlalchemy.orm import Session as SyncSession

from guichet.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.sqlalchemy_url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_timeout=settings.db.pool_timeout,
        pool_pre_ping=True,  # survive a database restart without a burst of 500s
        echo=settings.db.echo,
        # A database error's message otherwise carries the statement's parameters (partners'
        # records, personal data) into the logs; only an explicit debugging echo shows them.
        hide_parameters=not settings.db.echo,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: endpoints return ORM objects that are serialized after the commit.
    return async_sessionmaker(engine, expire_on_commit=False)


def libpq_url(url: str) -> str:
    """The same URL for libpq (procrastinate's psycopg pool, psql): no `+psycopg` driver part."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """For logs and `guichet config`: password masked."""
    return make_url(url).render_as_string(hide_password=True)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    # Commit on success; closing rolls back on any exception. Not `sessionmaker.begin()`: its
    # one transaction could not be ended early (`release_connection`) and the session reused.
    async with sessionmaker() as session:
        setattr(request.state, _REQUEST_SESSION, session)  # for `release_connection`
        yield session
        await session.commit()


_REQUEST_SESSION = "guichet_db_session"
_WROTE = "guichet.db.wrote"


async def release_connection(request: Request) -> None:
    """Give the connection of the request's `Session` back to the pool before waiting on the
    client (its body): a client sending slowly must not hold a connection, nor can a handful
    of them exhaust the pool. Its transaction is committed if it has only read so far (the
    authentication, the path's rows; those objects stay usable); one that wrote is left alone,
    since committing it early would break the route's atomicity. The next statement of the
    route checks out a connection again."""
    session: AsyncSession | None = getattr(request.state, _REQUEST_SESSION, None)
    if session is None or not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.sync_session.info.get(_WROTE):
        return
    await session.commit()


@event.listens_for(SyncSession, "after_flush")
def _mark_written(session: SyncSession, flush_context: object) -> None:
    session.info[_WROTE] = True


@event.listens_for(SyncSession, "after_transaction_end")
def _forget_written(session: SyncSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the session's own transaction, not a savepoint
        session.info.pop(_WROTE, None)


# scope="function": the exit code (the commit) runs before the response is sent.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def ping(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


# --- models and migrations ------------------------------------------------------------------

# Shipped inside the package, so that an installed wheel migrates its database too.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def load_models(modules: Iterable[str]) -> None:
    """Import the modules that define ORM models (the fronts' `models`), so that `Base.metadata`
    sees every table (Alembic's autogenerate and `alembic check`)."""
    for path in modules:
        importlib.import_module(path)


def alembic_config(url: str) -> AlembicConfig:
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise RuntimeError(f"migrations not found in {MIGRATIONS_DIR}")
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an option: ConfigParser would choke on `%` in passwords.
    config.attributes["sqlalchemy_url"] = url
    config.attributes["configure_logging"] = False
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking: Alembic runs synchronously)."""
    alembic_command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = create_sync_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
