"""Migrations: reversible, and in step with the models (`alembic check`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import make_url

from guichet import db


@pytest.fixture
def scratch_url(postgres_server: str) -> Iterator[str]:
    admin = db.libpq_url(postgres_server)
    database = f"guichet_migrations_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    name = sql.Identifier(database)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    yield make_url(postgres_server).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def head_revision() -> str:
    """The newest revision of migrations/, whatever domains have added since."""
    head = ScriptDirectory.from_config(
        db.alembic_config("postgresql+psycopg:///unused")
    ).get_current_head()
    assert head is not None
    return head


def procrastinate_objects(url: str) -> int:
    with psycopg.connect(db.libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%%')"
            " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%%')"
            " + (SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%%')"
        ).fetchone()
    assert row is not None
    return int(row[0])


class TestMigrations:
    def test_upgrade_downgrade_upgrade(self, scratch_url: str) -> None:
        db.migrate(scratch_url)
        assert db.current_revision(scratch_url) == head_revision()
        assert procrastinate_objects(scratch_url) > 20
        command.downgrade(db.alembic_config(scratch_url), "base")
        assert db.current_revision(scratch_url) is None
        assert procrastinate_objects(scratch_url) == 0
        db.migrate(scratch_url)
        assert db.current_revision(scratch_url) == head_revision()

    def test_models_match_migrations(self, database_url: str) -> None:
        command.check(db.alembic_config(database_url))  # raises if autogenerate finds a diff

    def test_migrating_twice_is_a_no_op(self, database_url: str) -> None:
        db.migrate(database_url)
        assert db.current_revision(database_url) == head_revision()
