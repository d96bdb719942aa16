"""Alembic environment: URL from guichet's settings, one advisory lock around every run,
procrastinate's objects left out of autogenerate (its schema is applied by our revisions)."""

from __future__ import annotations

import logging.config
from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from guichet.core import db
from guichet.core.config import Settings
from guichet.runtime.fronts import FRONTS

config = context.config

# Any constant will do: it only has to be the same for every process running migrations.
_MIGRATION_LOCK = 7_004_871_334


def _url() -> str:
    url = config.attributes.get("sqlalchemy_url")
    if url:
        return str(url)
    settings = Settings()
    if settings.database_url is None:
        raise SystemExit(
            "GUICHET_DATABASE_URL is not set: run `guichet migrate`, which also manages the "
            "embedded PostgreSQL"
        )
    return settings.database_url


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith("procrastinate_")


def _configure(**kwargs: Any) -> None:
    db.load_models(module for front in FRONTS for module in front.models)
    context.configure(
        target_metadata=db.Base.metadata,
        compare_type=True,
        compare_server_default=True,
        include_object=_include_object,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Several API processes may start together: the first migrates, the others wait, then
    # find nothing left to do.
    connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
    connection.commit()
    try:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
        connection.commit()


def run_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
