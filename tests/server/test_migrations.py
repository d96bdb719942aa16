"""Migrations: reversible, and in step with the models (`alembic check`)."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import make_url

from guichet.core import db

ROOT = Path(__file__).resolve().parents[2]


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
    """The newest revision of the migrations, whatever domains have added since."""
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


class TestPackaging:
    def test_the_migrations_ship_inside_the_package(self) -> None:
        """An installed wheel migrates its database: the migrations live in the package, and
        every file they need that is not a Python module is declared as package data."""
        package = Path(db.__file__).resolve().parent.parent  # guichet/, above core/
        assert db.MIGRATIONS_DIR.is_relative_to(package)
        declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-data"
        ]["guichet"]
        files = [p for p in db.MIGRATIONS_DIR.rglob("*") if p.is_file()]
        assert any(p.suffix == ".sql" for p in files) and any(p.suffix == ".mako" for p in files)
        for path in files:
            if path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared), relative
