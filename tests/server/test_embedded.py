"""Embedded PostgreSQL supervision (in-process; `test_serve.py` covers the CLI end to end)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from guichet.core.db import libpq_url
from guichet.runtime.postgres import EmbeddedPostgres


def query(url: str, statement: str) -> Any:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(sql.SQL(statement)).fetchone()
        return row[0] if row else None


class TestEmbeddedPostgres:
    def test_start_attach_and_stop(self, tmp_path: Path) -> None:
        owner = EmbeddedPostgres(tmp_path / "home")
        url = owner.start()
        try:
            assert owner.owner
            assert query(url, "SELECT current_database()") == "guichet"
            assert query(url, "SHOW server_version_num").startswith("18")
            assert query(url, "SHOW listen_addresses") == ""  # Unix socket only

            # A second process on the same home (e.g. `guichet migrate` during `serve`)
            # attaches; stopping it leaves the server running.
            guest = EmbeddedPostgres(tmp_path / "home")
            assert guest.start() == url
            assert not guest.owner
            guest.stop()
            assert query(url, "SELECT 1") == 1
            pid = owner.pid
        finally:
            owner.stop()
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        # Restart on the existing cluster: no initdb, data kept.
        with EmbeddedPostgres(tmp_path / "home") as again:
            assert (
                query(again.url(), "SELECT count(*) FROM pg_database WHERE datname='guichet'") == 1
            )

    def test_homes_are_independent(self, tmp_path: Path) -> None:
        with EmbeddedPostgres(tmp_path / "a") as a, EmbeddedPostgres(tmp_path / "b") as b:
            assert a.url() != b.url()
            assert a.pid != b.pid
            with psycopg.connect(libpq_url(a.url()), autocommit=True) as conn:
                conn.execute("CREATE DATABASE only_a")
            assert query(b.url(), "SELECT count(*) FROM pg_database WHERE datname='only_a'") == 0

    def test_long_home_gets_a_short_socket_dir(self, tmp_path: Path) -> None:
        deep = tmp_path / ("x" * 60) / ("y" * 60)
        postgres = EmbeddedPostgres(deep)
        assert len(str(postgres.socket_dir)) < 60
        assert postgres.socket_dir != EmbeddedPostgres(tmp_path / ("z" * 130)).socket_dir
        assert "host=" in postgres.url()
