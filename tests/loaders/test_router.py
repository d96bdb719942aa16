"""`POST /api/third_party/loader`: the contract's answers, authentication, size limit, examples."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.storage import get_bytes
from guichet.loader import Validation, validate_file
from guichet.partners import intake
from guichet.partners import registry as partners
from tests.conftest import JobList
from tests.loader import factories as f
from tests.loaders.conftest import ADMIN_TOKEN
from tests.loaders.helpers import ENDPOINT, loader_file, new_partner, post, records

EXAMPLES = sorted((Path(__file__).parents[1] / "loader" / "examples").glob("*.json"))
KO_KEYS = {"status", "type", "message", "errors"}


def assert_ko(response: httpx.Response, status: int, wire_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == KO_KEYS and body["status"] == "KO" and body["type"] == wire_type, body
    assert isinstance(body["message"], str) and isinstance(body["errors"], str)
    return body


class TestExamples:
    @pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
    async def test_every_complete_example_is_accepted_and_integrated(
        self,
        path: Path,
        client: httpx.AsyncClient,
        session: AsyncSession,
        acme_key: str,
        jobs: JobList,
    ) -> None:
        expected = validate_file(path)
        # An example may point at objects loaded earlier (docs_2_2_models' document names a
        # property that is not in the file): load those first, as a partner would have.
        earlier = await _load_referenced(client, acme_key, expected)
        document = json.loads(path.read_text())
        document.update(inigPtynm="acme-gestion", apiKey=acme_key)
        response = await post(client, document)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "SUCCESS" and body["failed_count"] == 0 and body["errors"] == []
        items = sorted([*earlier, *((i.model.value, i.id) for i in expected.items)])
        assert await records(session) == items
        documents = [i for i in expected.items if i.model.value == "documents"]
        fetches = [j for j in await jobs() if j["task_name"] == "loaders:fetch_document"]
        assert len(fetches) == len(documents)
        if expected.layout.value == "clients":
            emails = {e.client.key for e in expected.clients if e.client is not None}
            found = await session.scalars(text("SELECT email FROM loader_account"))
            assert emails <= set(found)


async def _load_referenced(
    client: httpx.AsyncClient, key: str, validation: Validation
) -> list[tuple[str, str | None]]:
    refs = {(ref.model, ref.id) for _, ref in validation.external_references()}
    sections: dict[str, list[dict[str, Any]]] = {"declarants": [], "properties": []}
    for model, ref_id in sorted(refs):
        factory = f.declarant if model.value == "declarants" else f.property_
        sections[model.value].append(factory(ref_id))
    if refs:
        response = await post(client, loader_file("acme-gestion", key, **sections))
        assert response.json()["status"] == "SUCCESS"
    return [(model.value, ref_id) for model, ref_id in refs]


class TestReport:
    async def test_partial_success_names_item_and_field(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        doc = loader_file(
            "acme-gestion", acme_key,
            properties=[f.property_("P1")],
            transactions=[f.transaction("T1", "P1"), f.transaction("T2", "P1", amt="abc")],
        )  # fmt: skip
        body = (await post(client, doc)).json()
        assert body["status"] == "PARTIAL_SUCCESS"
        assert (body["total_count"], body["success_count"], body["failed_count"]) == (3, 2, 1)
        (error,) = body["errors"]
        assert error["model"] == "transactions" and error["id"] == "T2"
        assert "'amt'" in error["error"] and error["type"] == "ValidationError"
        assert set(error) == {"model", "type", "error", "created_at", "id"}
        assert body["combined_result"] == [
            {"model": "properties", "item": {"success": 1, "error": 0}},
            {"model": "transactions", "item": {"success": 1, "error": 1}},
        ]

    async def test_run_is_stored_with_report_and_source(
        self, client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, acme_key: str
    ) -> None:
        raw = json.dumps(loader_file("acme-gestion", acme_key, properties=[f.property_()]))
        body = (await post(client, raw.encode())).json()
        run = (await session.execute(text("SELECT * FROM loader_run"))).one()
        assert (run.channel, run.status, run.total_count) == ("rest", "SUCCESS", 1)
        assert run.report == body and run.tally == {"properties": {"created": 1}}
        # The source as received, but for its key (only the key's SHA-256 is ever kept).
        stored = raw.replace(acme_key, intake.REDACTED_API_KEY).encode()
        assert run.source_sha256 == hashlib.sha256(stored).hexdigest()
        assert await get_bytes(app.state.blob_store, run.source_key) == stored


class TestFileRejected:
    async def test_not_json_is_wrong_format(self, client: httpx.AsyncClient) -> None:
        assert_ko(await post(client, b"{not json"), 400, "WrongFormat")

    async def test_invalid_utf8_is_wrong_format(self, client: httpx.AsyncClient) -> None:
        assert_ko(await post(client, b'{"inigPtynm": "\xff"}'), 400, "WrongFormat")

    async def test_missing_header_key_is_key_error(self, client: httpx.AsyncClient) -> None:
        body = assert_ko(await post(client, {"inigPtynm": "acme-gestion"}), 400, "KeyError")
        assert "apiKey" in body["errors"]

    async def test_unsupported_version_is_value_error_and_recorded(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        doc = loader_file("acme-gestion", acme_key, versionId="1.0")
        body = assert_ko(await post(client, doc), 400, "ValueError")
        run = (await session.execute(text("SELECT status, report FROM loader_run"))).one()
        assert (run.status, run.report) == ("REJECTED", body)

    async def test_sections_of_wrong_shape_are_validation_error(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        doc = loader_file("acme-gestion", acme_key, transactions={"not": "a list"})
        assert_ko(await post(client, doc), 400, "ValidationError")

    async def test_declared_oversize_body_is_413_unread(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        big = b" " * (4 * 1024 * 1024 + 1)
        assert_ko(await post(client, big), 413, "WrongFormat")

    async def test_streamed_oversize_body_is_413(self, client: httpx.AsyncClient) -> None:
        sent = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal sent
            for _ in range(64):  # 64 × 128 KiB = 8 MiB, twice the limit, no Content-Length
                sent += 1
                yield b" " * 128 * 1024

        response = await client.post(ENDPOINT, content=chunks())
        assert_ko(response, 413, "WrongFormat")
        assert sent < 64  # refused while streaming, not after reading everything


class TestAuthentication:
    async def test_wrong_key_is_401_ko(self, client: httpx.AsyncClient, acme_key: str) -> None:
        doc = loader_file("acme-gestion", "X" * 32, properties=[f.property_()])
        body = assert_ko(await post(client, doc), 401, "ValueError")
        assert "apiKey" in body["errors"]

    async def test_unknown_partner_answers_like_wrong_key(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        wrong = (await post(client, loader_file("acme-gestion", "X" * 32))).json()
        unknown = (await post(client, loader_file("nobody", acme_key))).json()
        assert wrong == unknown

    async def test_other_partners_key_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        other_key = await new_partner(session, "other")
        assert_ko(await post(client, loader_file("acme-gestion", other_key)), 401, "ValueError")
        assert (await post(client, loader_file("other", other_key))).status_code == 200

    async def test_deactivated_partner_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        partner = await partners.get(session, "acme-gestion")
        await partners.update(session, partner, is_active=False)
        await session.commit()
        assert_ko(await post(client, loader_file("acme-gestion", acme_key)), 401, "ValueError")

    async def test_admin_token_is_not_a_partner_key(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        doc = loader_file("acme-gestion", ADMIN_TOKEN)
        response = await client.post(
            ENDPOINT, json=doc, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert_ko(response, 401, "ValueError")

    async def test_anonymous_without_credentials_is_400_key_error(
        self, client: httpx.AsyncClient
    ) -> None:
        doc = f.header()
        del doc["apiKey"]
        assert_ko(await post(client, doc), 400, "KeyError")

    async def test_nothing_is_stored_for_a_refused_caller(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        await post(client, loader_file("acme-gestion", "bad", properties=[f.property_()]))
        assert await records(session) == []
        assert (await session.execute(text("SELECT count(*) FROM loader_run"))).scalar() == 0


class TestInternalError:
    async def test_unexpected_error_is_500_ko(
        self, app: FastAPI, acme_key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def boom(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("secret detail")

        monkeypatch.setattr(intake.Integrator, "integrate", boom)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await post(http, loader_file("acme-gestion", acme_key))
        assert response.status_code == 500
        body = response.json()
        assert set(body) == {"status", "type", "message", "error"}
        assert (body["status"], body["type"]) == ("KO", "InternalServerError")
        assert "secret detail" not in response.text
