"""`guichet worker` started alone (as on a worker machine), configured only through its
environment, runs the loaders' document fetches with those settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text

from guichet.core import db, services
from guichet.runtime.app import create_app
from tests.conftest import make_settings, migrated_database
from tests.loader import factories as f
from tests.loaders.helpers import loader_file, new_partner, post
from tests.loaders.test_tasks import PDF, http_server  # noqa: F401 (the fixture)

# Under the default 50 MiB, over the PDF: the worker must use this value, not the default.
SMALL_LIMIT = len(PDF) - 1


@pytest.fixture
def committed_database(postgres_server: str) -> Iterator[str]:
    """A migrated database of its own: the worker process sees only what is committed."""
    with migrated_database(postgres_server, f"guichet_worker_{os.getpid()}") as url:
        yield url


@pytest.fixture
async def api(committed_database: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API on that database, committing for real (no worker in it)."""
    settings = make_settings(committed_database, tmp_path / "api", dropzone={"enabled": False})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.engine.dispose()
    services.install(None)


def start_worker(database_url: str, home: Path) -> subprocess.Popen[bytes]:
    """`guichet worker` with nothing but GUICHET_* variables (no .env, no embedded service)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GUICHET_DATABASE_URL": database_url,
        "GUICHET_HOME": str(home),
        "GUICHET_DROPZONE__ENABLED": "false",
        "GUICHET_LOADERS__FETCH_ALLOW_PRIVATE_ADDRESSES": "true",
        "GUICHET_LOADERS__DOCUMENT_MAX_BYTES": str(SMALL_LIMIT),
        "GUICHET_LOG__LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "guichet", "worker", "--concurrency", "2"]
    return subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL)


async def document_states(database_url: str) -> list[tuple[str, str | None]]:
    conn = await psycopg.AsyncConnection.connect(db.libpq_url(database_url))
    async with conn:
        cursor = await conn.execute("SELECT status, error FROM loader_document ORDER BY record_id")
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def test_a_standalone_worker_fetches_with_its_environment_settings(
    api: httpx.AsyncClient,
    committed_database: str,
    tmp_path: Path,
    http_server: str,  # noqa: F811
) -> None:
    async with services.transaction() as session:
        key = await new_partner(session, "acme-gestion")
    link = f"{http_server}/doc.pdf"
    doc = loader_file(
        "acme-gestion",
        key,
        properties=[f.property_("P1", documents=[f.document("D", fileLink=link)])],
    )
    assert (await post(api, doc)).json()["status"] == "SUCCESS"
    async with services.transaction() as session:
        jobs = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'loaders:fetch_document'"
            )
        )
    assert jobs == 1

    home = tmp_path / "worker"
    home.mkdir()
    worker = start_worker(committed_database, home)
    try:
        deadline = time.monotonic() + 60
        while (states := await document_states(committed_database)) == [("pending", None)]:
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the document was never fetched"
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    # The private address was allowed (an environment setting) and the size cap is the
    # environment's, not the 50 MiB default: the 2,300-byte PDF is refused as too large.
    [(status, error)] = states
    assert status == "failed", states
    assert error is not None and str(SMALL_LIMIT) in error, error
