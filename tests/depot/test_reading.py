"""Public reading routes (§2.4 #6–13): scenarios #22–#25, pagination, date and code checks."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.depot import factories
from tests.depot.factories import Parties
from tests.depot.helpers import published

OBJECT_ID = "5f0c8f9e1c9d440000a1b2c3"
NOW = dt.datetime.now(dt.UTC)


async def _feed(session: AsyncSession, parties: Parties) -> dict[str, str]:
    owner = parties.chef.client
    ids = {}
    for code, context in (("91534", {"extras": {"balId": "b1"}}), ("43089", {"extras": None})):
        revision = await factories.revision(
            session,
            owner,
            code,
            published=True,
            current=True,
            context=context,
            published_at=NOW - dt.timedelta(days=1),
        )
        ids[code] = revision.id
    old = await factories.revision(
        session,
        owner,
        "31591",
        published=True,
        current=True,
        published_at=NOW - dt.timedelta(days=365),
        context={"extras": {"sourceId": "s"}},
    )
    ids["31591"] = old.id
    await factories.revision(session, owner, "91534", published=True)  # no longer current
    await factories.revision(session, owner, "91534")  # pending
    return ids


class TestCurrentRevisions:
    async def test_one_item_per_current_revision(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        ids = await _feed(session, parties)
        items = (await client.get("/current-revisions")).json()
        assert sorted(i["id"] for i in items) == sorted(ids.values())
        item = next(i for i in items if i["codeCommune"] == "91534")
        assert set(item) == {"id", "codeCommune", "publishedAt", "clientId", "context", "client"}
        assert item["context"] == {"extras": {"balId": "b1"}}
        assert next(i for i in items if i["codeCommune"] == "43089")["context"] == {"extras": None}

    async def test_published_since(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        ids = await _feed(session, parties)
        since = (NOW - dt.timedelta(days=30)).isoformat()
        items = (await client.get("/current-revisions", params={"publishedSince": since})).json()
        assert ids["31591"] not in {i["id"] for i in items}
        assert len(items) == 2

    async def test_codes_communes(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await _feed(session, parties)
        for query in ("codesCommunes=91534&codesCommunes=43089", "codesCommunes=91534,43089"):
            items = (await client.get(f"/current-revisions?{query}")).json()
            assert sorted(i["codeCommune"] for i in items) == ["43089", "91534"]

    async def test_pagination(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await _feed(session, parties)
        everything = (await client.get("/current-revisions")).json()
        page = (await client.get("/current-revisions?limit=2&offset=1")).json()
        assert page == everything[1:3]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("publishedSince=hier", "Invalid date"),
            ("codesCommunes=coucou", "Code commune coucou invalide"),
        ],
    )
    async def test_bad_query(self, client: httpx.AsyncClient, query: str, message: str) -> None:
        response = await client.get(f"/current-revisions?{query}")
        assert response.json() == {"statusCode": 400, "message": message, "error": "Bad Request"}

    async def test_bad_pagination(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/current-revisions?limit=0")
        assert response.status_code == 400


class TestCommuneRevisions:
    async def test_status_filter(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        owner = parties.chef.client
        first = await factories.revision(session, owner, "91534", published=True)
        second = await factories.revision(session, owner, "91534", published=True, current=True)
        pending = await factories.revision(session, owner, "91534")
        path = "/communes/91534/revisions"
        assert [r["id"] for r in (await client.get(path)).json()] == [first.id, second.id]
        assert [r["id"] for r in (await client.get(path + "?status=pending")).json()] == [
            pending.id
        ]
        everything = (await client.get(path + "?status=all")).json()
        assert [r["id"] for r in everything] == [first.id, second.id, pending.id]
        assert "files" not in everything[0] and everything[0]["client"]["nom"] == "chef"
        assert (await client.get(path + "?status=coucou")).status_code == 400
        assert (await client.get("/communes/coucou/revisions")).status_code == 404


class TestDownloads:
    async def test_current_revision_without_file_then_with(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await factories.revision(
            session, parties.other.client, published=True, current=True, rows_count=6
        )
        path = "/communes/31591/current-revision/files/bal/download"
        response = await client.get(path)
        assert response.json() == {
            "statusCode": 404,
            "message": f"Aucun fichier de type 'bal' associé à la révision {revision.id}",
        }
        await published(client, parties.chef, bal_31591)
        assert (await client.get(path)).content == bal_31591

    async def test_no_current_revision(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/communes/91534/current-revision")
        assert response.json() == {
            "statusCode": 404,
            "message": "Aucune revision trouvé pour la commune 91534",
        }
        response = await client.get("/communes/91534/current-revision/files/bal/download")
        assert response.status_code == 404

    async def test_file_lost_in_blob_store(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        revision = await factories.revision(session, parties.chef.client, with_file=b"x")
        response = await client.get(f"/revisions/{revision.id}/files/bal/download")
        assert response.json() == {"statusCode": 404, "message": "Fichier non trouvé sur S3"}


class TestRevision:
    async def test_malformed_and_unknown(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/revisions/coucou")).json() == {
            "statusCode": 400,
            "message": "Revision Id coucou is not ObjectId",
        }
        assert (await client.get(f"/revisions/{OBJECT_ID}")).json() == {
            "statusCode": 404,
            "message": f"Revision {OBJECT_ID} not found",
        }


class TestClientRevisions:
    async def test_latest_per_commune_of_that_client(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        owner = parties.chef.client
        await factories.revision(session, owner, "91534", published=True)
        latest_91534 = await factories.revision(session, owner, "91534")
        latest_31591 = await factories.revision(
            session, owner, "31591", published=True, current=True
        )
        await factories.revision(session, parties.other.client, "43089")
        items = (await client.get(f"/revisions/client/{owner.id}")).json()
        assert [i["id"] for i in items] == [latest_31591.id, latest_91534.id]
        assert all(
            set(i) == {"id", "codeCommune", "status", "isCurrent", "publishedAt", "validation"}
            for i in items
        )
        assert (await client.get("/revisions/client/coucou")).json() == {
            "statusCode": 400,
            "message": "Client Id coucou is not ObjectId",
        }
        assert (await client.get(f"/revisions/client/{OBJECT_ID}")).status_code == 404


class TestLastRevisions:
    async def test_is_valid_is_a_string(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await factories.revision(session, parties.chef.client, "91534", rows_count=3)
        await factories.revision(session, parties.chef.client, "31591")
        items = {i["codeCommune"]: i for i in (await client.get("/last-revisions")).json()}
        assert items["91534"]["isValid"] == "true"
        assert items["31591"]["isValid"] is None
        assert set(items["91534"]) == {"codeCommune", "id", "isReady", "status", "isValid"}
        assert len((await client.get("/last-revisions?limit=1")).json()) == 1
