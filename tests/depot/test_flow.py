"""The four publication calls end to end, then the public reads (guide 04_Publication_BAL)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.depot.factories import Parties


async def publish_flow(client: httpx.AsyncClient, parties: Parties, data: bytes) -> dict[str, Any]:
    headers = parties.chef.headers
    context = {
        "nomComplet": "Alice Bob",
        "organisation": "Mairie",
        "extras": {"internal_id": "9990"},
    }
    response = await client.post(
        "/communes/31591/revisions", json={"context": context}, headers=headers
    )
    assert response.status_code == 201, response.text
    revision = response.json()
    assert revision["context"] == context
    rid = revision["id"]
    md5 = hashlib.md5(data).hexdigest()
    response = await client.put(
        f"/revisions/{rid}/files/bal",
        content=data,
        headers={**headers, "Content-Type": "text/csv", "Content-MD5": md5},
    )
    assert response.status_code == 200, response.text
    assert response.json()["hash"] == hashlib.sha256(data).hexdigest()
    response = await client.post(f"/revisions/{rid}/compute", headers=headers)
    assert response.status_code == 200, response.text
    computed = response.json()
    assert computed["validation"]["valid"] is True, computed
    assert computed["isReady"] is True
    response = await client.post(f"/revisions/{rid}/publish", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestFlow:
    async def test_create_upload_compute_publish_then_read(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        published = await publish_flow(client, parties, bal_31591)
        assert published["status"] == "published"
        assert published["isCurrent"] is True
        assert published["isReady"] is None
        assert published["publishedAt"] is not None
        current = (await client.get("/communes/31591/current-revision")).json()
        assert current["id"] == published["id"]
        assert current["publishedAt"] == published["publishedAt"]
        download = await client.get("/communes/31591/current-revision/files/bal/download")
        assert download.status_code == 200
        assert download.content == bal_31591
        assert download.headers["content-type"] == "text/csv"
        assert download.headers["content-disposition"] == 'attachment; filename="bal-31591.csv"'


async def test_openapi_documents_the_bodies(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    create = spec["paths"]["/communes/{code_commune}/revisions"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert "context" in schema["properties"]
    upload = spec["paths"]["/revisions/{revision_id}/files/bal"]["put"]
    assert "text/csv" in upload["requestBody"]["content"]
    assert "requestBody" in spec["paths"]["/clients"]["post"]
