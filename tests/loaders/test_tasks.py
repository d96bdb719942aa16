"""The document fetch job against a real local HTTP server, and its SSRF guards."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue, services
from guichet.core.config import LoadersSettings
from guichet.core.storage import LocalBlobStore, get_bytes
from guichet.partners import fetch, tasks
from tests.conftest import free_port, replace_services
from tests.loader import factories as f
from tests.loaders.helpers import loader_file, post

PDF = b"%PDF-1.4 test document\n" * 100
LIMIT = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/doc.pdf": (200, {"Content-Type": "application/pdf"}, PDF),
            "/redirect": (302, {"Location": "/doc.pdf"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-ftp": (302, {"Location": "ftp://files.example.org/x"}, b""),
            "/to-other-host": (302, {"Location": f"http://127.0.0.2:{port}/doc.pdf"}, b""),
            "/big": (200, {}, b"x" * (LIMIT + 1)),
            "/big-unannounced": (200, {"Content-Length": ""}, b"x" * (LIMIT + 1)),
            "/down": (503, {}, b""),
            "/gone": (404, {}, b""),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for name, value in headers.items():
            if value:  # an empty Content-Length: none sent, the body ends with the connection
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(app: FastAPI) -> Iterator[None]:
    with_loaders(LoadersSettings(fetch_allow_private_addresses=True, document_max_bytes=LIMIT))
    yield


def with_loaders(loaders: LoadersSettings) -> None:
    settings = services.current().settings
    replace_services(settings=settings.model_copy(update={"loaders": loaders}))


CONTEXT = SimpleNamespace(job=SimpleNamespace(attempts=0))


async def document_for(client: httpx.AsyncClient, session: AsyncSession, key: str, url: str) -> int:
    doc = loader_file("acme-gestion", key, properties=[
        f.property_("P1", documents=[f.document("DOC1", fileLink=url)])])  # fmt: skip
    assert (await post(client, doc)).json()["status"] == "SUCCESS"
    record_id = await session.scalar(text("SELECT record_id FROM loader_document"))
    assert record_id is not None
    return int(record_id)


async def state(session: AsyncSession, record_id: int) -> Any:
    result = await session.execute(
        text("SELECT * FROM loader_document WHERE record_id = :id"), {"id": record_id}
    )
    return result.one()


class TestFetchDocument:
    async def test_fetched_into_blob_store_once(
        self, client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, acme_key: str,
        http_server: str, allow_private: None,
    ) -> None:  # fmt: skip
        record_id = await document_for(client, session, acme_key, f"{http_server}/redirect")
        await tasks.fetch_document(CONTEXT, record_id=record_id)
        row = await state(session, record_id)
        assert (row.status, row.size, row.content_type) == ("fetched", len(PDF), "application/pdf")
        assert await get_bytes(app.state.blob_store, row.blob_key) == PDF
        await tasks.fetch_document(CONTEXT, record_id=record_id)  # idempotent: no-op
        assert (await state(session, record_id)).fetched_at == row.fetched_at

    async def test_private_address_refused_without_the_setting(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, http_server: str,
        app: FastAPI,
    ) -> None:  # fmt: skip
        with_loaders(LoadersSettings())  # production default
        record_id = await document_for(client, session, acme_key, f"{http_server}/doc.pdf")
        await tasks.fetch_document(CONTEXT, record_id=record_id)
        row = await state(session, record_id)
        assert row.status == "failed" and "non-public" in row.error and row.blob_key is None

    @pytest.mark.parametrize(
        ("path", "reason"),
        [
            ("/loop", "redirects"),
            ("/to-ftp", "scheme"),
            ("/big", "limit"),
            ("/big-unannounced", "larger than"),
            ("/gone", "404"),
        ],
    )
    async def test_permanent_refusals_mark_the_document_failed(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, http_server: str,
        allow_private: None, path: str, reason: str,
    ) -> None:  # fmt: skip
        record_id = await document_for(client, session, acme_key, http_server + path)
        await tasks.fetch_document(CONTEXT, record_id=record_id)
        row = await state(session, record_id)
        assert row.status == "failed" and reason in row.error

    async def test_server_error_is_retried_then_failed(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, http_server: str,
        allow_private: None,
    ) -> None:  # fmt: skip
        record_id = await document_for(client, session, acme_key, f"{http_server}/down")
        with pytest.raises(fetch.FetchFailed):
            await tasks.fetch_document(CONTEXT, record_id=record_id)
        assert (await state(session, record_id)).status == "pending"
        last = SimpleNamespace(job=SimpleNamespace(attempts=tasks.FETCH_ATTEMPTS - 1))
        with pytest.raises(fetch.FetchFailed):
            await tasks.fetch_document(last, record_id=record_id)
        assert (await state(session, record_id)).status == "failed"

    async def test_one_waiting_job_per_document(
        self, client: httpx.AsyncClient, session: AsyncSession, acme_key: str, http_server: str
    ) -> None:
        record_id = await document_for(client, session, acme_key, f"{http_server}/doc.pdf")
        with pytest.raises(AlreadyEnqueued):
            await queue.defer(
                session, tasks.fetch_document, queueing_lock=tasks.fetch_lock(record_id),
                record_id=record_id,
            )  # fmt: skip

    async def test_blob_of_a_document_removed_meanwhile_is_deleted(
        self, client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, acme_key: str,
        http_server: str, allow_private: None, monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        record_id = await document_for(client, session, acme_key, f"{http_server}/doc.pdf")
        real_fetch = fetch.fetch

        async def fetch_then_remove(*args: Any, **kwargs: Any) -> fetch.Fetched:
            fetched = await real_fetch(*args, **kwargs)
            await session.execute(text("DELETE FROM loader_record WHERE model = 'properties'"))
            await session.commit()
            return fetched

        monkeypatch.setattr(fetch, "fetch", fetch_then_remove)
        await tasks.fetch_document(CONTEXT, record_id=record_id)
        store = app.state.blob_store
        assert isinstance(store, LocalBlobStore)
        assert not await store.exists(tasks.document_key(record_id))


class TestGuards:
    async def test_redirect_target_is_checked_again(self, http_server: str, tmp_path: Any) -> None:
        only_first = ipaddress.ip_address("127.0.0.1")
        policy = fetch.FetchPolicy(LIMIT, 2, 2, 5, is_allowed=lambda ip: ip == only_first)
        store = LocalBlobStore(tmp_path)
        async with fetch.new_client(policy) as http:
            fetched = await fetch.fetch(f"{http_server}/redirect", store, "a", policy, client=http)
            assert fetched.blob.size == len(PDF)
            with pytest.raises(fetch.FetchRefused, match=r"127\.0\.0\.2"):
                await fetch.fetch(f"{http_server}/to-other-host", store, "b", policy, client=http)
        assert not await store.exists("b")

    @pytest.mark.parametrize(
        "address",
        ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "100.64.0.1", "::1",
         "fe80::1", "fc00::1", "0.0.0.0", "224.0.0.1"],
    )  # fmt: skip
    def test_non_public_addresses(self, address: str) -> None:
        assert not fetch.is_public(ipaddress.ip_address(address))

    def test_public_address(self) -> None:
        assert fetch.is_public(ipaddress.ip_address("93.184.215.14"))

    async def test_localhost_name_is_refused_after_resolution(self) -> None:
        policy = fetch.FetchPolicy(LIMIT, 2, 2, 5)
        with pytest.raises(fetch.FetchRefused, match="non-public"):
            await fetch.resolve("localhost", 80, policy)
