"""Wire details of the reference's server that its clients meet (issue #12): unknown routes,
HEAD, CORS preflights, the query validation shape, and `publishedSince` polling."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.depot import factories
from tests.depot.factories import Parties
from tests.depot.helpers import published


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/x"),
        ("POST", "/nope/deeper"),
        ("DELETE", "/revisions/0123456789abcdef01234567"),  # a path of another method
        ("PATCH", "/communes/31591/current-revision"),
    ],
)
async def test_unknown_routes_answer_as_nestjs(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "message": f"Cannot {method} {path}",
        "error": "Not Found",
    }


async def test_head_answers_wherever_get_does_without_a_body(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    for path in (
        "/communes/31591/current-revision",
        f"/revisions/{revision['id']}",
        "/communes/31591/current-revision/files/bal/download",
        "/health",
    ):
        get = await client.get(path)
        head = await client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    missing = await client.head("/communes/91534/current-revision")
    assert missing.status_code == 404 and missing.content == b""


async def test_a_cors_preflight_answers_204_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/communes/31591/revisions",
        headers={
            "Origin": "https://mes-adresses.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] in ("*", "https://mes-adresses.example")
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_an_unknown_status_filter_answers_a_list_of_messages(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/communes/31591/revisions?status=coucou")
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": ["status must be one of the following values: published, pending, all"],
        "error": "Bad Request",
    }


async def test_polling_with_the_last_published_at_never_returns_a_revision_twice(
    client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes
) -> None:
    owner = await factories.mandataire(session)
    codes = ["31591", "35047", "44109"]
    chef = await factories.chef_de_file(session, [("commune", code) for code in codes])
    party = await factories.client(session, owner, chef, nom="poller")
    await session.commit()
    since: str | None = None
    seen: list[str] = []
    for round_ in range(2):
        for code in codes:
            data = bal_31591.decode().replace("31591", code)
            data = data.replace("43.11", f"43.{12 + round_}")
            await published(client, party, data.encode(), code)
            params = {} if since is None else {"publishedSince": since}
            answer = (await client.get("/current-revisions", params=params)).json()
            seen += [item["id"] for item in answer]
            if answer:
                since = max(item["publishedAt"] for item in answer)
            # polling again at once: nothing new, never the last one again
            again = await client.get("/current-revisions", params={"publishedSince": since})
            assert again.json() == []
    assert len(seen) == len(set(seen)) == 6
