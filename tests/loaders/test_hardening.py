"""Partner-loader hardening (issue #11): authentication before a large body is parsed, item
errors capped in answers, stored reports and admin pages, no apiKey in stored sources, and no
IPv6 disguise of a loopback address past the document-fetch policy."""

from __future__ import annotations

import ipaddress
import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.storage import get_bytes
from guichet.partners import fetch, intake
from tests.loader import factories as f
from tests.loaders.helpers import loader_file, post

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
