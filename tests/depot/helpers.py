"""Request helpers shared by the publication API tests."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.depot.factories import Party


async def create(
    client: httpx.AsyncClient, party: Party, code: str = "31591", **context: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/communes/{code}/revisions", json={"context": context}, headers=party.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(
    client: httpx.AsyncClient, party: Party, revision_id: str, data: bytes
) -> httpx.Response:
    headers = {
        **party.headers,
        "Content-Type": "text/csv",
        "Content-MD5": hashlib.md5(data).hexdigest(),
    }
    return await client.put(f"/revisions/{revision_id}/files/bal", content=data, headers=headers)


async def computed(
    client: httpx.AsyncClient, party: Party, data: bytes, code: str = "31591"
) -> dict[str, Any]:
    """A revision created, uploaded and computed; returns the compute answer."""
    revision = await create(client, party, code)
    assert (await upload(client, party, revision["id"], data)).status_code == 200
    response = await client.post(f"/revisions/{revision['id']}/compute", headers=party.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def published(
    client: httpx.AsyncClient, party: Party, data: bytes, code: str = "31591"
) -> dict[str, Any]:
    revision = await computed(client, party, data, code)
    assert revision["isReady"] is True, revision["validation"]
    response = await client.post(f"/revisions/{revision['id']}/publish", headers=party.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
