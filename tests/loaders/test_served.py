"""End to end on a real `guichet serve` (subprocess, embedded PostgreSQL, in-process worker):
the same file posted twice at once integrates once; a document link is fetched by the worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_until_healthy
from tests.loader import factories as f
from tests.loaders.helpers import ADMIN, ENDPOINT, admin_headers
from tests.loaders.test_tasks import PDF, http_server  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("served") / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(
        GUICHET_HOME=str(home),
        GUICHET_LOG__FORMAT="json",
        GUICHET_LOADERS__FETCH_ALLOW_PRIVATE_ADDRESSES="true",
    )
    log = (home.parent / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "guichet", "serve", "--port", str(port)],
        env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, (home.parent / "serve.log").read_text, timeout=60)
        yield url, admin_headers((home / "admin_token").read_text().strip())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def create_partner(url: str, headers: dict[str, str], partner_id: str) -> str:
    response = httpx.post(
        f"{url}{ADMIN}/partners", json={"partner_id": partner_id}, headers=headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def record_total(url: str, headers: dict[str, str], partner_id: str, model: str) -> Any:
    path = f"{url}{ADMIN}/partners/{partner_id}/records/{model}"
    return httpx.get(path, headers=headers).json()


async def test_same_file_posted_concurrently_integrates_once(
    served: tuple[str, dict[str, str]],
) -> None:
    url, headers = served
    key = create_partner(url, headers, "concurrent")
    document = json.loads(f.big_file(transactions=5_000, properties=100))
    document.update(inigPtynm="concurrent", apiKey=key)
    body = json.dumps(document).encode()

    async def post_once() -> httpx.Response:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:  # its own connection
            return await http.post(ENDPOINT, content=body)

    responses = await asyncio.gather(post_once(), post_once(), post_once())
    reports = [response.json() for response in responses]
    assert [r.status_code for r in responses] == [200, 200, 200], reports
    assert all(r["status"] == "SUCCESS" and r["total_count"] == 5_110 for r in reports)
    assert record_total(url, headers, "concurrent", "transactions")["total"] == 5_000
    assert record_total(url, headers, "concurrent", "properties")["total"] == 100
    runs = httpx.get(f"{url}{ADMIN}/partners/concurrent/runs", headers=headers).json()
    tallies = [run["tally"]["transactions"] for run in runs["items"]]
    assert len(tallies) == 3 and all(sum(t.values()) == 5_000 for t in tallies)
    assert sum(t.get("created", 0) for t in tallies) == 5_000  # each created exactly once


def test_document_link_is_fetched_by_the_worker(
    served: tuple[str, dict[str, str]],
    http_server: str,  # noqa: F811
) -> None:
    url, headers = served
    key = create_partner(url, headers, "with-docs")
    link = f"{http_server}/doc.pdf"
    document = f.header(inigPtynm="with-docs", apiKey=key, properties=[
        f.property_("P1", documents=[f.document("DOC1", fileLink=link)])])  # fmt: skip
    assert httpx.post(f"{url}{ENDPOINT}", json=document).json()["status"] == "SUCCESS"
    deadline = time.monotonic() + 30
    while True:
        (item,) = record_total(url, headers, "with-docs", "documents")["items"]
        if item["document"]["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert item["document"]["status"] == "fetched", item
    assert item["document"]["size"] == len(PDF)
