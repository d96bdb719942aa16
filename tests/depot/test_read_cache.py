"""The cache of `GET /communes/{code}/current-revision` (guichet.depot.cache).

- the same bytes and headers with the cache on or off, 404 included, whatever the Host;
- a publish (or a client rename) through the API invalidates it at once in the same process;
- with committed data: a second API *process* (`guichet serve` on the same database) sees the
  change through LISTEN/NOTIFY, well before the entries' max age;
- the listener losing its connection disables the cache until it is back.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from guichet.core import db, services
from guichet.core.config import Settings
from guichet.depot import views
from guichet.depot.cache import ResponseCache
from guichet.depot.models import ChefDeFile, File, Mandataire
from guichet.runtime.app import create_app
from tests.conftest import free_port, make_settings, wait_until_healthy
from tests.depot import factories
from tests.depot.conftest import ADMIN, ADMIN_TOKEN

URL = "/communes/31591/current-revision"


def _cache(app: FastAPI) -> ResponseCache:
    cache: ResponseCache = app.state.depot_cache
    return cache


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, v) for k, v in response.headers.items() if k not in ("date", "x-request-id")]
    return response.status_code, response.content, sorted(headers)


class TestSameResponse:
    async def test_bytes_and_headers_with_and_without_cache(
        self, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes
    ) -> None:
        parties = await factories.parties(session)
        revision = await factories.revision(
            session,
            parties.chef.client,
            published=True,
            current=True,
            rows_count=6,
            with_file=bal_31591,
            report_key="reports/x.json",
            context={"organisation": "Mairie d’Escoulis", "n": 1.5, "list": [None, True]},
        )
        await session.commit()
        cache = _cache(app)
        assert not cache.enabled  # no lifespan, no listener: every request reads the database
        uncached = await client.get(URL)
        assert uncached.status_code == 200
        # What the ORM-based view renders (the route's shape before the cache), byte for byte.
        bal_file = await session.get(File, uncached.json()["files"][0]["id"])
        assert bal_file is not None
        expected = views.revision_with_client(
            revision,
            parties.chef.client,
            bal_file,
            report_url=f"{app.state.settings.base_url}/revisions/{revision.id}/validation-report",
        )
        assert uncached.content == _render(expected)

        cache.enable()
        miss, hit = await client.get(URL), await client.get(URL)
        assert len(cache) == 1
        assert _comparable(miss) == _comparable(hit) == _comparable(uncached)

        # The report link is on the configured base URL: another Host, the same entry and bytes.
        other = await client.get(URL, headers={"Host": "guichet.example.fr"})
        assert other.content == uncached.content
        assert len(cache) == 1

    async def test_404_with_and_without_cache(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        uncached = await client.get(URL)
        _cache(app).enable()
        miss, hit = await client.get(URL), await client.get(URL)
        assert uncached.status_code == 404
        assert _comparable(miss) == _comparable(hit) == _comparable(uncached)
        unknown = await client.get("/communes/99999/current-revision")  # checked before
        assert unknown.status_code == 404
        assert unknown.json()["message"] != uncached.json()["message"]


def _render(content: views.JSON) -> bytes:
    return bytes(JSONResponse(content).body)


class TestSameProcess:
    async def test_publish_and_rename_invalidate_at_once(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        bal_31591: bytes,
    ) -> None:
        parties = await factories.parties(session)
        first = await factories.revision(
            session, parties.chef.client, published=True, current=True, with_file=bal_31591
        )
        second = await factories.revision(
            session, parties.chef.client, ready=True, with_file=bal_31591
        )
        await session.commit()
        _cache(app).enable()
        assert (await client.get(URL)).json()["id"] == first.id
        assert (await client.get(URL)).json()["id"] == first.id  # cached

        published = await client.post(
            f"/revisions/{second.id}/publish", headers=parties.chef.headers
        )
        assert published.status_code == 200, published.text
        # No wait: the committing process evicts right after the commit.
        assert (await client.get(URL)).json()["id"] == second.id

        renamed = await client.put(
            f"/clients/{parties.chef.client.id}", json={"nom": "Renommé"}, headers=ADMIN
        )
        assert renamed.status_code == 200
        assert (await client.get(URL)).json()["client"]["nom"] == "Renommé"

    async def test_read_overlapping_an_invalidation_is_not_stored(self) -> None:
        cache = ResponseCache(max_age=30)
        cache.enable()
        started = asyncio.Event()
        release = asyncio.Event()

        async def slow_read() -> bytes | None:
            started.set()
            await release.wait()
            return b"old"

        reader = asyncio.create_task(cache.get_or_load("31591", slow_read))
        await started.wait()
        cache.evict("31591")  # a publish committed while the read was running
        release.set()
        assert await reader == b"old"  # that request may see it (it started before)...
        assert cache.get("31591") is None  # ...but it is not kept for the next ones

    async def test_one_read_for_concurrent_misses(self) -> None:
        cache = ResponseCache(max_age=30)
        cache.enable()
        reads = 0

        async def read() -> bytes | None:
            nonlocal reads
            reads += 1
            await asyncio.sleep(0.01)
            return b"body"

        bodies = await asyncio.gather(*(cache.get_or_load("1", read) for _ in range(20)))
        assert bodies == [b"body"] * 20 and reads == 1

    async def test_max_age(self) -> None:
        cache = ResponseCache(max_age=0.05)
        cache.enable()
        cache.put("1", b"body", cache.generation)
        assert cache.get("1") is not None
        await asyncio.sleep(0.06)
        assert cache.get("1") is None


# --- committed data: the listener, a second process -----------------------------------------


@pytest.fixture
async def running_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app on the real database (its own commits), lifespan running (listener started)."""
    app = create_app(_settings(database_url, tmp_path / "a"))
    try:
        async with app.router.lifespan_context(app):
            await _until(lambda: _cache(app).enabled, "listener connected")
            yield app
    finally:
        services.install(None)


def _settings(database_url: str, home: Path) -> Settings:
    return make_settings(database_url, home, admin_token=ADMIN_TOKEN, dropzone={"enabled": False})


async def _until(condition: object, what: str, timeout: float = 5.0) -> float:
    """Seconds until `condition()` is true."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            pytest.fail(f"not {what} after {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
async def committed(database_url: str, bal_31591: bytes) -> AsyncIterator[factories.Parties]:
    """Parties and a ready revision of 91534, committed; all deleted at the end."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            parties = await factories.parties(session)
            await session.commit()
        yield parties
    finally:
        async with AsyncSession(engine) as session:  # cascades to clients, revisions, files
            await session.execute(delete(Mandataire).where(Mandataire.id == parties.mandataire.id))
            await session.execute(
                delete(ChefDeFile).where(ChefDeFile.id == parties.chef_de_file.id)
            )
            await session.commit()
        await engine.dispose()


async def _ready_revision(database_url: str, parties: factories.Parties, data: bytes) -> str:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            revision = await factories.revision(
                session, parties.chef.client, "91534", ready=True, with_file=data
            )
            await session.commit()
            return revision.id
    finally:
        await engine.dispose()


@pytest.fixture
def second_process(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`guichet serve` on the same database (no worker, no drop zone): its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(
        GUICHET_HOME=str(tmp_path / "b"),
        GUICHET_DATABASE_URL=database_url,
        GUICHET_WORKER__IN_PROCESS="false",
        GUICHET_DROPZONE__ENABLED="false",
        GUICHET_LOG__FORMAT="json",
        GUICHET_LOG__LEVEL="WARNING",
    )
    log = (tmp_path / "b.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "guichet", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        log_text = (tmp_path / "b.log").read_text
        wait_until_healthy(url, process, log_text, timeout=60, what="the second process")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestAcrossProcesses:
    async def test_publish_and_rename_reach_the_other_process(
        self,
        running_app: FastAPI,
        committed: factories.Parties,
        second_process: str,
        database_url: str,
        bal_31591: bytes,
    ) -> None:
        url = "/communes/91534/current-revision"
        first = await _ready_revision(database_url, committed, bal_31591)
        transport = httpx.ASGITransport(app=running_app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://a") as a,
            httpx.AsyncClient(base_url=second_process) as b,
        ):
            auth = committed.chef.headers
            assert (await a.post(f"/revisions/{first}/publish", headers=auth)).status_code == 200

            async def b_hits() -> float:
                return _metric((await b.get("/metrics")).text, "guichet_depot_cache_lookups_total"
                               '{result="hit"}')  # fmt: skip

            # B's listener may still be connecting: until B serves from its cache.
            deadline = time.monotonic() + 10
            while await b_hits() == 0:
                assert (await b.get(url)).json()["id"] == first
                assert time.monotonic() < deadline, "the second process never cached"
                await asyncio.sleep(0.05)
            assert (await a.get(url)).json()["id"] == first
            assert (await a.get(url)).json()["id"] == first  # cached in A too
            hits = await b_hits()
            assert (await b.get(url)).json()["id"] == first
            assert await b_hits() == hits + 1  # B answered from its cache

            second = await _ready_revision(database_url, committed, bal_31591)
            assert (await a.post(f"/revisions/{second}/publish", headers=auth)).status_code == 200
            assert (await a.get(url)).json()["id"] == second  # same process: at once
            start = time.monotonic()
            while (await b.get(url)).json()["id"] != second:
                assert time.monotonic() - start < 2, "the other process kept the old revision"
                await asyncio.sleep(0.01)

            client_id = committed.chef.client.id
            renamed = await a.put(f"/clients/{client_id}", json={"nom": "Nouveau"}, headers=ADMIN)
            assert renamed.status_code == 200
            assert (await a.get(url)).json()["client"]["nom"] == "Nouveau"
            start = time.monotonic()
            while (await b.get(url)).json()["client"]["nom"] != "Nouveau":
                assert time.monotonic() - start < 2, "the other process kept the old name"
                await asyncio.sleep(0.01)

    async def test_listener_connection_lost_disables_the_cache(
        self, running_app: FastAPI, postgres_server: str
    ) -> None:
        cache = _cache(running_app)
        listener = running_app.state.depot_cache_listener
        cache.put("31591", b"body", cache.generation)
        assert cache.get("31591") is not None
        pid = listener.backend_pid
        assert pid is not None
        async with await psycopg.AsyncConnection.connect(
            db.libpq_url(postgres_server), autocommit=True
        ) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        await _until(lambda: not cache.enabled, "disabled")
        assert len(cache) == 0
        cache.put("31591", b"body", cache.generation)  # ignored while disabled
        assert cache.get("31591") is None
        # Back after its retry delay: enabled again, empty, on a new connection.
        await _until(lambda: cache.enabled, "re-enabled")
        assert listener.backend_pid not in (None, pid)
        assert len(cache) == 0
