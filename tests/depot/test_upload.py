"""Uploads are streamed: the limit is enforced while reading, nothing half-written remains,
and bad input gets the contract's error (never a 500)."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.depot.models import File
from guichet.depot.upload import MAX_BYTES
from tests.depot.factories import Parties
from tests.depot.helpers import create

CHUNK = 256 * 1024


class Body:
    """A streamed request body of `size` bytes that counts what the server pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b"x" * CHUNK
        while self.sent < self.size:
            chunk = block[: min(CHUNK, self.size - self.sent)]
            self.sent += len(chunk)
            yield chunk


def leftovers(settings: Settings) -> list[Path]:
    return (
        [p for p in settings.blobs_dir.rglob("*") if p.is_file()]
        if settings.blobs_dir.exists()
        else []
    )


async def files(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(File)) or 0)


class TestSizeLimit:
    async def test_declared_length_over_the_limit_is_refused_unread(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        revision = await create(client, parties.chef)
        body = Body(MAX_BYTES + 1)
        response = await client.put(
            f"/revisions/{revision['id']}/files/bal",
            content=body,
            headers={**parties.chef.headers, "Content-Length": str(MAX_BYTES + 1)},
        )
        assert response.status_code == 413
        assert response.json() == {"statusCode": 413, "message": "request entity too large"}
        assert body.sent <= CHUNK  # at most what the transport sends before the answer

    async def test_streamed_body_over_the_limit_stops_at_the_limit(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, settings: Settings
    ) -> None:
        revision = await create(client, parties.chef)
        body = Body(MAX_BYTES + 1)  # no Content-Length: chunked
        tracemalloc.start()
        try:
            response = await client.put(
                f"/revisions/{revision['id']}/files/bal", content=body, headers=parties.chef.headers
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.json() == {"statusCode": 413, "message": "request entity too large"}
        assert peak < 16 * 1024 * 1024  # constant memory, far from 50 MB
        assert leftovers(settings) == []
        assert await files(session) == 0

    async def test_exactly_the_limit_is_accepted(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        revision = await create(client, parties.chef)
        response = await client.put(
            f"/revisions/{revision['id']}/files/bal",
            content=Body(MAX_BYTES),
            headers=parties.chef.headers,
        )
        assert response.status_code == 200
        assert response.json()["size"] == MAX_BYTES


class TestInterruptedUpload:
    async def test_failing_body_leaves_nothing(
        self,
        app: object,
        client: httpx.AsyncClient,
        session: AsyncSession,
        parties: Parties,
        settings: Settings,
    ) -> None:
        revision = await create(client, parties.chef)

        async def broken() -> AsyncIterator[bytes]:
            yield b"x" * CHUNK
            raise ConnectionResetError("client went away")

        # Through ASGITransport the transport error surfaces inside the app (503); a real
        # disconnect is covered by tests/depot/test_serve.py.
        response = await client.put(
            f"/revisions/{revision['id']}/files/bal", content=broken(), headers=parties.chef.headers
        )
        assert response.status_code == 503
        assert leftovers(settings) == []
        assert await files(session) == 0


class TestBadInput:
    async def test_length_mismatch(self, client: httpx.AsyncClient, parties: Parties) -> None:
        revision = await create(client, parties.chef)
        response = await client.put(
            f"/revisions/{revision['id']}/files/bal",
            content=Body(10),
            headers={**parties.chef.headers, "Content-Length": "x"},
        )
        assert response.status_code == 400

    @pytest.mark.parametrize(
        "path",
        [
            "/revisions/{id}/publish",
            "/communes/31591/revisions",
            "/clients",
        ],
    )
    async def test_invalid_json_everywhere(
        self, client: httpx.AsyncClient, parties: Parties, path: str
    ) -> None:
        revision = await create(client, parties.chef)
        headers = {**parties.chef.headers, "Content-Type": "application/json"}
        if path == "/clients":
            headers["Authorization"] = "Token admin-token-for-the-depot-tests-0123456789"
        response = await client.post(
            path.format(id=revision["id"]), content=b"{oops", headers=headers
        )
        assert response.status_code == 400
        assert response.json()["statusCode"] == 400

    async def test_oversized_json(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/communes/31591/revisions",
            content=b"[" + b"1," * 60_000 + b"1]",
            headers={**parties.chef.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413

    @pytest.mark.parametrize(
        "path",
        [
            "/revisions/zz/files/bal/download",
            "/revisions/123/validation-report",
            "/chefs-de-file/x",
            "/mandataires/" + "g" * 24,
            "/communes/99999/current-revision",
            "/communes/x/revisions",
            "/current-revisions?publishedSince=2024-13-45",
            "/current-revisions?limit=abc",
            "/current-revisions?offset=99999999999999999999",
            "/communes/31591/revisions?offset=99999999999999999999",
            "/last-revisions?offset=99999999999999999999",
        ],
    )
    async def test_malformed_parameters_never_500(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code in (400, 404), response.text
        assert "statusCode" in response.json()
