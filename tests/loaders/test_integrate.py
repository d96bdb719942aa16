"""The integration store: identity and update rules, removal, per-entry isolation, references."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.loader import Item, Model
from guichet.partners.integrate import Integrator
from tests.conftest import JobList
from tests.loader import factories as f
from tests.loaders.helpers import loader_file, new_partner, post, records

P = "acme-gestion"


def portfolio(key: str, **extra: Any) -> dict[str, Any]:
    """D1 with P1 (one document) and P2; three transactions on P1, one on P2."""
    return loader_file(
        P, key,
        declarants=[f.declarant("D1", associates=[f.associate("A1")], properties=[
            f.property_("P1", documents=[f.document("DOC1")]), f.property_("P2"),
        ])],
        transactions=[f.transaction(f"T{n}", "P1") for n in range(3)] + [f.transaction("T9", "P2")],
        **extra,
    )  # fmt: skip


async def last_run(session: AsyncSession) -> Any:
    result = await session.execute(
        text("SELECT status, tally, report FROM loader_run ORDER BY received_at DESC LIMIT 1")
    )
    return result.one()


class TestIdentity:
    async def test_same_file_twice_integrates_once(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, jobs: JobList
    ) -> None:
        doc = portfolio(acme_key)
        first = (await post(client, doc)).json()
        stored = await records(session)
        second = (await post(client, doc)).json()
        assert first["status"] == second["status"] == "SUCCESS"
        assert first["combined_result"] == second["combined_result"]
        assert await records(session) == stored and len(stored) == 9
        run = await last_run(session)
        assert run.tally["transactions"] == {"already_known": 4}
        fetches = [j for j in await jobs() if j["task_name"] == "loaders:fetch_document"]
        assert len(fetches) == 1  # the known document is not fetched again

    async def test_a_repost_counts_everything_known_and_nothing_created(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        """Issue #13: the second post of a `clients[]` file reported `clients: {created: 1}`
        again. The account exists by then: known, like every item (SPEC §2.2, §3.6)."""
        entry = f.client(
            "claire@example.org",
            declarants=[f.declarant("D1", properties=[f.property_("P1")])],
            transactions=[f.transaction("T1", "P1")],
        )
        doc = loader_file(P, acme_key, clients=[entry])
        first = (await post(client, doc)).json()
        assert (await last_run(session)).tally == {
            "clients": {"created": 1},
            "declarants": {"created": 1},
            "properties": {"created": 1},
            "transactions": {"created": 1},
        }
        second = (await post(client, doc)).json()
        assert (await last_run(session)).tally == {
            "clients": {"already_known": 1},
            "declarants": {"already_known": 1},
            "properties": {"already_known": 1},
            "transactions": {"already_known": 1},
        }
        # The contract's report has no such bucket: known items are successes, as before.
        assert second["combined_result"] == first["combined_result"]
        assert second["status"] == "SUCCESS" and second["success_count"] == 4
        # A new entry for the same person under another spelling of the e-mail: known too.
        again = f.client("Claire@Example.org", properties=[f.property_("P2")])
        await post(client, loader_file(P, acme_key, clients=[again]))
        assert (await last_run(session)).tally == {
            "clients": {"already_known": 1},
            "properties": {"created": 1},
        }

    async def test_known_id_is_not_modified(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        first = [f.transaction("T1", "P1", amt=10.0)]
        await post(
            client, loader_file(P, acme_key, properties=[f.property_("P1")], transactions=first)
        )
        doc = loader_file(P, acme_key, transactions=[f.transaction("T1", "P1", amt=99.0)])
        body = (await post(client, doc)).json()
        assert body["status"] == "SUCCESS"
        amount = await session.scalar(
            text("SELECT data->>'amt' FROM loader_record WHERE external_id = 'T1'")
        )
        assert amount == "10.0"

    async def test_ids_are_per_partner(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        other_key = await new_partner(session, "other")
        await post(client, loader_file(P, acme_key, properties=[f.property_("P1")]))
        body = (
            await post(client, loader_file("other", other_key, properties=[f.property_("P1")]))
        ).json()
        assert body["status"] == "SUCCESS"
        assert await records(session) == [("properties", "P1")] * 2

    async def test_stored_data_leaves_nested_arrays_out(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        await post(client, portfolio(acme_key))
        data = await session.scalar(text("SELECT data FROM loader_record WHERE external_id = 'D1'"))
        assert data["corporateName"] == "MARTIN Claire"
        assert "properties" not in data and "associates" not in data


class TestReferences:
    async def test_later_file_links_to_stored_property(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        await post(client, portfolio(acme_key))
        body = (await post(client, loader_file(P, acme_key, transactions=[
            f.transaction("T100", "P2"), f.transaction("T101", "NOPE"),
        ]))).json()  # fmt: skip
        assert body["status"] == "PARTIAL_SUCCESS"
        (error,) = body["errors"]
        assert (error["id"], error["type"]) == ("T101", "ValidationError")
        assert "'id-prty'" in error["error"] and "'NOPE' inconnue" in error["error"]
        parent = await session.scalar(text(
            "SELECT p.external_id FROM loader_record t JOIN loader_record p"
            " ON p.id = t.property_record_id WHERE t.external_id = 'T100'"
        ))  # fmt: skip
        assert parent == "P2"

    async def test_other_clients_property_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        claire = f.client("claire@example.org", properties=[f.property_("P1")])
        assert (await post(client, loader_file(P, acme_key, clients=[claire]))).json()[
            "status"
        ] == "SUCCESS"
        paul = f.client(
            "paul@example.org",
            properties=[f.property_("P1")],
            transactions=[f.transaction("T1", "P1")],
        )
        body = (await post(client, loader_file(P, acme_key, clients=[paul]))).json()
        failed = {(e["model"], e["id"]) for e in body["errors"]}
        assert failed == {("properties", "P1"), ("transactions", "T1")}
        assert "appartient à un autre client" in body["errors"][0]["error"]
        assert await records(session) == [("properties", "P1")]

    async def test_existing_account_is_reused_by_email(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        for n, email in enumerate(["Claire@Example.org", " claire@example.org"]):
            entry = f.client(email, properties=[f.property_(f"P{n}")])
            await post(client, loader_file(P, acme_key, clients=[entry]))
        accounts = await session.scalar(
            text("SELECT count(DISTINCT account_id) FROM loader_record")
        )
        assert accounts == 1


class TestRemoval:
    async def test_remove_deletes_property_and_everything_under_it(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, jobs: JobList
    ) -> None:
        await post(client, portfolio(acme_key))
        await session.execute(text(
            "UPDATE loader_document SET blob_key = 'loaders/documents/x', status = 'fetched'"
        ))  # fmt: skip
        await session.commit()
        body = (await post(client, loader_file(P, acme_key, properties=[
            {"id": "P1", "remove": "R"},
        ]))).json()  # fmt: skip
        assert body["status"] == "SUCCESS"
        assert await records(session) == [
            ("associates", "A1"), ("declarants", "D1"), ("properties", "P2"),
            ("transactions", "T9"),
        ]  # fmt: skip
        assert await session.scalar(text("SELECT count(*) FROM loader_document")) == 0
        deletes = [j for j in await jobs() if j["task_name"] == "loaders:delete_blobs"]
        assert [j["args"] for j in deletes] == [{"keys": ["loaders/documents/x"]}]
        again = (await post(client, loader_file(P, acme_key, properties=[
            {"id": "P1", "remove": "R"},
        ]))).json()  # fmt: skip
        assert again["status"] == "SUCCESS"  # idempotent

    async def test_other_clients_property_is_not_removed(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        claire = f.client("claire@example.org", properties=[f.property_("P1")])
        await post(client, loader_file(P, acme_key, clients=[claire]))
        paul = f.client("paul@example.org", properties=[{"id": "P1", "remove": "R"}])
        body = (await post(client, loader_file(P, acme_key, clients=[paul]))).json()
        assert body["status"] == "PARTIAL_SUCCESS"  # the client entry itself succeeded
        assert await records(session) == [("properties", "P1")]


class TestClientEntryIsolation:
    async def test_failing_entry_is_rolled_back_alone(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        acme_key: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        real_store = Integrator._store

        async def store_then_fail(
            self: Integrator, model: Model, items: list[Item], account_id: int
        ) -> None:
            await real_store(self, model, items, account_id)
            entry = items[0].entry
            if (
                model is Model.TRANSACTIONS
                and entry.client
                and entry.client.email.startswith("bad")
            ):
                raise DBAPIError("INSERT …", {}, Exception("simulated"))

        monkeypatch.setattr(Integrator, "_store", store_then_fail)
        entries = [
            f.client("good@example.org", properties=[f.property_("P1")],
                     transactions=[f.transaction("T1", "P1")]),
            f.client("bad@example.org", properties=[f.property_("P2")],
                     transactions=[f.transaction("T2", "P2")]),
        ]  # fmt: skip
        body = (await post(client, loader_file(P, acme_key, clients=entries))).json()
        assert body["status"] == "PARTIAL_SUCCESS"
        assert await records(session) == [("properties", "P1"), ("transactions", "T1")]
        failed = {(e["model"], e["id"]) for e in body["errors"]}
        assert failed == {
            ("clients", "bad@example.org"), ("properties", "P2"), ("transactions", "T2"),
        }  # fmt: skip
        assert {"model": "clients", "item": {"success": 1, "error": 1}} in body["combined_result"]

    async def test_invalid_entry_fails_alone(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        entries = [
            f.client("good@example.org", properties=[f.property_("P1")]),
            {"client": {"email": "not-an-email"}, "properties": [f.property_("P2")]},
        ]
        body = (await post(client, loader_file(P, acme_key, clients=entries))).json()
        assert body["status"] == "PARTIAL_SUCCESS"
        assert await records(session) == [("properties", "P1")]
