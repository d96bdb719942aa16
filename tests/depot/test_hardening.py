"""Hardening of the publication API (issue #11), at the app level:

- no database connection is held while a request body is awaited (a real pool of one
  connection, committed data): a client sending its body slowly does not starve the others;
- the report link and the current-revision cache never depend on the request's Host;
- bad input in a revision's `context` (nesting 1,000 deep, `\\u0000`, a lone surrogate, `NaN`,
  `Infinity`, `1e999`) is a 400 in the contract's format, in French, and nothing is stored.

The server-level limits (header size and count, read timeouts) are in tests/server/
test_http_limits.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from guichet.core import services
from guichet.core.config import Settings
from guichet.depot.cache import ResponseCache
from guichet.depot.models import ChefDeFile, Mandataire
from guichet.runtime.app import create_app
from tests.conftest import make_settings
from tests.depot import factories
from tests.depot.conftest import ADMIN_TOKEN
from tests.depot.factories import Parties

PUBLIC_URL = "https://adresse.example.fr/depot"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # A public URL unlike the test client's base URL and unlike any Host sent below.
    return make_settings(
        database_url, tmp_path / "home", admin_token=ADMIN_TOKEN, public_url=PUBLIC_URL
    )


# --- no connection held while a body is awaited ----------------------------------------------


@pytest.fixture
async def committed(database_url: str) -> AsyncIterator[tuple[Parties, str]]:
    """Parties and a ready revision of 31591, committed (the app below has its own pool);
    all deleted at the end."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            parties = await factories.parties(session)
            ready = await factories.revision(
                session, parties.chef.client, ready=True, with_file=b"data"
            )
            await session.commit()
        yield parties, ready.id
    finally:
        async with AsyncSession(engine) as session:  # cascades to clients, revisions, files
            await session.execute(delete(Mandataire).where(Mandataire.id == parties.mandataire.id))
            await session.execute(
                delete(ChefDeFile).where(ChefDeFile.id == parties.chef_de_file.id)
            )
            await session.commit()
        await engine.dispose()


@pytest.fixture
async def one_connection_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app on the real database with a pool of exactly one connection: whoever holds it
    blocks everyone else (for 2 s, then 503/500)."""
    settings = make_settings(
        database_url,
        tmp_path / "pool",
        admin_token=ADMIN_TOKEN,
        db={"pool_size": 1, "max_overflow": 0, "pool_timeout": 2},
        dropzone={"enabled": False},
    )
    app = create_app(settings)
    try:
        yield app
    finally:
        await app.state.engine.dispose()
        services.install(None)


class SlowBody:
    """A request body sent in two parts; the second one only when `finish()` is called.
    `waiting` is set once the server has asked for the second part, i.e. while it waits."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        self.first, self.rest = first, rest
        self.waiting = asyncio.Event()
        self._finish = asyncio.Event()

    def finish(self) -> None:
        self._finish.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.first
        self.waiting.set()
        await self._finish.wait()
        yield self.rest


async def _while_body_pending(
    app: FastAPI, path: str, headers: dict[str, str], body: SlowBody
) -> httpx.Response:
    """Send `path` with the slow body; while the server waits for it, check that the pool is
    entirely free and that another request gets its connection; then finish the body."""
    engine: AsyncEngine = app.state.engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        slow = asyncio.create_task(
            http.post(path, content=body.chunks(), headers={**headers, **_JSON})
        )
        try:
            await asyncio.wait_for(body.waiting.wait(), 10)
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            health = await http.get("/health")  # needs the pool's one connection
            assert health.status_code == 200, health.text
        finally:
            body.finish()
        return await slow


_JSON = {"Content-Type": "application/json"}


class TestNoConnectionWhileReadingTheBody:
    async def test_create_revision(
        self, one_connection_app: FastAPI, committed: tuple[Parties, str]
    ) -> None:
        parties, _ = committed
        body = SlowBody(b'{"context": ', b'{"nomComplet": "Lente"}}')
        response = await _while_body_pending(
            one_connection_app, "/communes/31591/revisions", parties.chef.headers, body
        )
        assert response.status_code == 201, response.text
        assert response.json()["context"] == {"nomComplet": "Lente"}

    async def test_publish(
        self, one_connection_app: FastAPI, committed: tuple[Parties, str]
    ) -> None:
        """The revision and the client are loaded (path, token, ownership) before the body."""
        parties, ready = committed
        body = SlowBody(b"{", b"}")
        response = await _while_body_pending(
            one_connection_app, f"/revisions/{ready}/publish", parties.chef.headers, body
        )
        assert response.status_code == 200, response.text
        assert response.json()["isCurrent"] is True


# --- links and cache keys from configured values, never from the request ------------------


async def _current_with_report(session: AsyncSession, parties: Parties) -> str:
    revision = await factories.revision(
        session,
        parties.chef.client,
        published=True,
        current=True,
        rows_count=6,
        report_key="reports/x.json",
    )
    await session.commit()
    return revision.id


class TestHostIsNotTrusted:
    async def test_report_url_is_on_the_public_url(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        revision_id = await _current_with_report(session, parties)
        expected = f"{PUBLIC_URL}/revisions/{revision_id}/validation-report"
        evil = {"Host": "evil.example"}
        for path in (
            "/communes/31591/current-revision",
            f"/revisions/{revision_id}",
        ):
            response = await client.get(path, headers=evil)
            assert response.status_code == 200, response.text
            assert response.json()["validation"]["reportUrl"] == expected, path
        listed = await client.get("/communes/31591/revisions", headers=evil)
        assert [r["validation"]["reportUrl"] for r in listed.json()] == [expected]

    async def test_invented_hosts_do_not_grow_the_cache(
        self, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await _current_with_report(session, parties)
        cache: ResponseCache = app.state.depot_cache
        cache.enable()  # as the listener does once connected
        bodies = set()
        for n in range(50):
            host = f"{'x' * 1000}{n}.example"  # unauthenticated, made up, large
            response = await client.get("/communes/31591/current-revision", headers={"Host": host})
            assert response.status_code == 200
            bodies.add(response.content)
        assert len(bodies) == 1
        assert len(cache) == 1


# --- bad input in a revision's context ---------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_CONTEXTS = {
    "nested 1,000 deep": (
        '{"context": {"extras": {"a": ' + _nested(1000) + "}}}",
        "Le corps de la requête est trop profondément imbriqué (64 niveaux au plus)",
    ),
    "NUL in a value": (
        '{"context": {"nomComplet": "Alice\\u0000Bob"}}',
        "context.nomComplet ne doit pas contenir le caractère nul (\\u0000)",
    ),
    "NUL in a key": (
        '{"context": {"extras": {"a\\u0000b": 1}}}',
        "context.extras.a\\u0000b ne doit pas contenir le caractère nul (\\u0000)",
    ),
    "lone surrogate": (
        '{"context": {"organisation": "Mairie \\ud800"}}',
        "context.organisation contient un caractère Unicode invalide"
        " (moitié isolée d’une paire de substitution UTF-16)",
    ),
    "NaN": (
        '{"context": {"extras": {"x": NaN}}}',
        "context.extras.x doit être un nombre fini (NaN, Infinity et 1e999 sont refusés)",
    ),
    "-Infinity": (
        '{"context": {"extras": {"x": [1, -Infinity]}}}',
        "context.extras.x.1 doit être un nombre fini (NaN, Infinity et 1e999 sont refusés)",
    ),
    "1e999": (
        '{"context": {"n": 1e999}}',
        "context.n doit être un nombre fini (NaN, Infinity et 1e999 sont refusés)",
    ),
}


class TestBadContext:
    @pytest.mark.parametrize("name", list(BAD_CONTEXTS))
    async def test_400_in_french_and_nothing_stored(
        self, client: httpx.AsyncClient, parties: Parties, name: str
    ) -> None:
        body, message = BAD_CONTEXTS[name]
        response = await client.post(
            "/communes/31591/revisions",
            content=body.encode(),
            headers={**parties.chef.headers, **_JSON},
        )
        assert response.status_code == 400, response.text
        assert response.json() == {"statusCode": 400, "message": [message], "error": "Bad Request"}
        pending = await client.get("/communes/31591/revisions", params={"status": "all"})
        assert pending.json() == []

    async def test_raw_utf8_surrogate_bytes(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        """The encoded surrogate itself (not the escape) is refused too."""
        body = b'{"context": {"nomComplet": "\xed\xa0\x80"}}'
        response = await client.post(
            "/communes/31591/revisions", content=body, headers={**parties.chef.headers, **_JSON}
        )
        assert response.status_code == 400, response.text
        assert response.json()["message"] == [BAD_CONTEXTS["lone surrogate"][1].replace(
            "context.organisation", "context.nomComplet"
        )]  # fmt: skip

    async def test_what_jsonb_can_store_still_passes(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        """Up to the bound of nesting, astral characters (a surrogate *pair*), big numbers."""
        context: dict[str, Any] = {
            "nomComplet": "Zoé 😀",
            "extras": {"deep": json.loads(_nested(60)), "n": -12.5, "i": 10**100},
        }
        response = await client.post(
            "/communes/31591/revisions",
            content=json.dumps({"context": context}, ensure_ascii=True).encode(),
            headers={**parties.chef.headers, **_JSON},
        )
        assert response.status_code == 201, response.text
        assert response.json()["context"] == context
