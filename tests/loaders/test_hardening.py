"""Partner-loader hardening (issue #11): authentication before a large body is parsed, item
errors capped in answers, stored reports and admin pages, no apiKey in stored sources, and no
IPv6 disguise of a loopback address past the document-fetch policy."""

from __future__ import annotations

import ipaddress
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.storage import get_bytes
from guichet.loader._report import MAX_REPORTED_ERRORS
from guichet.partners import fetch, intake, registry
from tests.loader import factories as f
from tests.loaders.conftest import ADMIN_TOKEN
from tests.loaders.helpers import ADMIN, admin_headers, loader_file, post

ADMIN_H = admin_headers(ADMIN_TOKEN)

LIMIT = 1024 * 1024


class TestFetchPolicy:
    @pytest.mark.parametrize(
        "address",
        [
            "::127.0.0.1",  # IPv4-compatible
            "64:ff9b::7f00:1",  # NAT64 well-known prefix
            "64:ff9b:1::7f00:1",  # NAT64 local-use prefix
            "::ffff:127.0.0.1",  # IPv4-mapped
            "2002:7f00:1::",  # 6to4
            "2002:a00:1::",  # 6to4 of 10.0.0.1
            "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        ],
    )
    async def test_ipv6_forms_of_a_non_public_ipv4_are_refused(self, address: str) -> None:
        assert not fetch.is_public(ipaddress.ip_address(address))
        policy = fetch.FetchPolicy(LIMIT, 2, 2, 5)
        with pytest.raises(fetch.FetchRefused, match="non-public"):
            await fetch.resolve(address, 80, policy)

    @pytest.mark.parametrize("address", ["2002:808:808::", "64:ff9b::808:808", "2a00:1450::1"])
    def test_ipv6_forms_of_a_public_ipv4_stay_allowed(self, address: str) -> None:
        assert fetch.is_public(ipaddress.ip_address(address))


class TestApiKeyNotStored:
    async def test_rest_source_is_stored_without_the_key(
        self, client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, acme_key: str
    ) -> None:
        # Indented: the key's value is replaced, the rest of the bytes kept as they came.
        document = loader_file("acme-gestion", acme_key, properties=[f.property_("P1")])
        raw = json.dumps(document, indent=2).encode()
        assert (await post(client, raw)).status_code == 200
        source_key = await session.scalar(text("SELECT source_key FROM loader_run"))
        stored = await get_bytes(app.state.blob_store, str(source_key))
        assert acme_key.encode() not in stored
        assert stored == raw.replace(acme_key.encode(), intake.REDACTED_API_KEY.encode())

    async def test_a_key_written_with_escapes_is_stripped_too(
        self, client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, acme_key: str
    ) -> None:
        document = loader_file("acme-gestion", acme_key, properties=[f.property_("P1")])
        raw = json.dumps(document).replace('"apiKey"', '"api\\u004bey"').encode()
        assert (await post(client, raw)).status_code == 200
        source_key = await session.scalar(text("SELECT source_key FROM loader_run"))
        stored = await get_bytes(app.state.blob_store, str(source_key))
        assert acme_key.encode() not in stored
        assert json.loads(stored) == {**document, "apiKey": intake.REDACTED_API_KEY}

    def test_strip_api_key_of_broken_files(self) -> None:
        # A file the drop zone rejects unread as JSON is still stored: the key goes anyway.
        broken = b'{"inigPtynm": "x", "apiKey": "S3cr3tS3cr3tS3cr3t", "declarants": [,]'
        assert b"S3cr3t" not in intake.strip_api_key(broken, None)
        escaped = b'{"apiKey": "S3cr\\"et\\u0041"}'
        assert intake.strip_api_key(escaped, None) == b'{"apiKey": "[redacted]"}'


def _large(document: dict[str, Any]) -> bytes:
    """`document` padded past the size below which a body is parsed before authentication."""
    filler = [f.property_(f"PAD{n}") for n in range(registry.PARSE_BEFORE_AUTH_BYTES // 200)]
    body = json.dumps({**document, "properties": filler}).encode()
    assert registry.PARSE_BEFORE_AUTH_BYTES < len(body) < 4 * 1024 * 1024  # the test's limit
    return body


class TestAuthenticationBeforeParsing:
    async def test_a_large_body_with_a_wrong_key_is_refused_unparsed(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        # Not even JSON: parsed first, it would answer 400 WrongFormat; refused first, 401.
        broken = _large(loader_file("acme-gestion", "not-the-key"))[:-2]
        response = await post(client, broken)
        assert response.status_code == 401, response.text
        assert response.json()["type"] == "ValueError"

    async def test_a_large_body_naming_nobody_is_refused_unparsed(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await post(client, _large({"creDtTm": "2026-01-01"})[:-2])
        assert response.status_code == 401, response.text

    async def test_a_large_body_of_a_partner_is_parsed_and_checked_as_before(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        good = _large(loader_file("acme-gestion", acme_key))
        assert (await post(client, good[:-2])).json()["type"] == "WrongFormat"
        response = await post(client, good)
        assert response.status_code == 200 and response.json()["status"] == "SUCCESS"

    async def test_the_parsed_header_still_decides(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        # The right key somewhere in the body, but not in the header: still 401.
        document = loader_file("acme-gestion", "not-the-key")
        document["transactions"] = [{"apiKey": acme_key}]
        assert (await post(client, _large(document))).status_code == 401


class TestErrorsCapped:
    async def test_response_stored_run_and_admin_pages_are_bounded(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str
    ) -> None:
        invalid = [f.transaction(f"T{n}", "P1", amt="abc") for n in range(1500)]
        invalid += [f.transaction(f"U{n}", "P1", ccy=7) for n in range(300)]
        document = loader_file("acme-gestion", acme_key, properties=[f.property_("P1")])
        response = await post(client, {**document, "transactions": invalid})
        body = response.json()
        assert (body["total_count"], body["failed_count"]) == (1801, 1800)
        # The first errors in the contract's shape, the others counted per code and field.
        assert len(body["errors"]) == MAX_REPORTED_ERRORS
        assert set(body["errors"][0]) == {"model", "type", "error", "created_at", "id"}
        assert body["errors"][0]["id"] == "T0"
        assert body["omitted_errors_count"] == 800
        assert body["omitted_errors"] == [
            {"model": "transactions", "type": "ValidationError", "code": "type",
             "field": "amt", "count": 500},
            {"model": "transactions", "type": "ValidationError", "code": "enum",
             "field": "ccy", "count": 300},
        ]  # fmt: skip
        assert len(response.content) < 400_000
        run_id, stored = (await session.execute(text("SELECT id, report FROM loader_run"))).one()
        assert stored == body
        runs = await client.get(ADMIN + "/partners/acme-gestion/runs", headers=ADMIN_H)
        (summary,) = runs.json()["items"]
        assert "report" not in summary and summary["failed_count"] == 1800
        errors = ADMIN + f"/partners/acme-gestion/runs/{run_id}/errors"
        page = await client.get(errors, params={"page": 3, "per_page": 400}, headers=ADMIN_H)
        assert page.status_code == 200, page.text
        assert page.json()["total"] == MAX_REPORTED_ERRORS
        assert [e["id"] for e in page.json()["items"]] == [f"T{n}" for n in range(800, 1000)]
        other = ADMIN + f"/partners/acme-gestion/runs/{uuid.uuid4()}/errors"
        assert (await client.get(other, headers=ADMIN_H)).status_code == 404
