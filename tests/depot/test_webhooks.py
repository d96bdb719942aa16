"""Signed webhooks (issue #12, beyond the reference): subscriptions through the API, the
Standard Webhooks signature checked by the independent `standardwebhooks` package, retries on
5xx / timeouts / connection errors only, the delivery log, the secret never shown again; and
must-show 4: a receiver down for 10 minutes (accelerated) gets every event once per id."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from guichet.core.config import Settings, WebhookSettings
from guichet.depot import tasks, webhooks
from tests.conftest import JobList, make_settings
from tests.depot import factories
from tests.depot.conftest import ADMIN, ADMIN_TOKEN
from tests.depot.factories import Parties, Party
from tests.depot.helpers import published
from tests.depot.test_after_publish import (  # noqa: F401 (fixtures)
    Endpoint,
    committed_database,
    endpoint_server,
    live_app,
    scalar,
)

ENCRYPTION_KEY = "an-encryption-key-for-the-webhook-tests-0123456789"


def webhook_settings(database_url: str, home: Path, **hooks: Any) -> Settings:
    return make_settings(
        database_url,
        home,
        admin_token=ADMIN_TOKEN,
        dropzone={"enabled": False},
        notifications={
            "webhooks": {
                "encryption_key": ENCRYPTION_KEY,
                "allow_private_addresses": True,
                "timeout": 2,
                **hooks,
            }
        },
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return webhook_settings(database_url, tmp_path / "home")


@pytest.fixture
def receiver() -> Any:
    with endpoint_server() as server:
        yield server.endpoint


async def subscribe(
    client: httpx.AsyncClient, party: Party, url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post("/webhooks", json={"url": url, **body}, headers=party.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verify(secret: str, call: Any) -> Any:
    """The independent Standard Webhooks implementation's verdict on a received request."""
    return Webhook(secret).verify(call.body, call.headers)


# --- delivery, signature ----------------------------------------------------------------------


async def test_a_publish_is_delivered_signed_to_its_subscriber(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList,
) -> None:  # fmt: skip
    created = await subscribe(client, parties.chef, receiver.url + "/hook")
    assert created["secret"].startswith("whsec_")
    revision = await published(client, parties.chef, bal_31591)
    [job] = [job for job in await jobs() if job["task_name"] == "depot:deliver_webhook"]
    assert list(job["args"]) == ["delivery_id"]  # an id, nothing else

    await webhooks.deliver(job["args"]["delivery_id"], previous_attempts=0)
    [call] = receiver.received
    payload = verify(created["secret"], call)
    assert call.headers["webhook-id"] == job["args"]["delivery_id"]
    assert payload["type"] == "revision.published"
    assert payload["data"]["revisionId"] == revision["id"]
    assert payload["data"]["codeCommune"] == "31591"
    assert payload["data"]["clientId"] == parties.chef.client.id
    with pytest.raises(WebhookVerificationError):
        verify(webhooks.new_secret(), call)  # another secret does not verify

    # a job that runs again sends nothing: the delivery succeeded
    await webhooks.deliver(job["args"]["delivery_id"], previous_attempts=1)
    assert len(receiver.received) == 1
    log = await client.get(f"/webhooks/{created['id']}/deliveries", headers=parties.chef.headers)
    [entry] = log.json()
    assert entry["status"] == "succeeded"
    assert entry["attemptsCount"] == 1
    assert entry["attempts"][0]["statusCode"] == 200
    assert entry["payload"] == payload


async def test_replaced_goes_to_the_previous_clients_subscriptions(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList,
) -> None:  # fmt: skip
    other = await subscribe(client, parties.other, receiver.url, events=["revision.replaced"])
    first = await published(client, parties.other, bal_31591)
    second = await published(client, parties.chef, bal_31591)
    ids = [j["args"]["delivery_id"] for j in await jobs() if j["task_name"].endswith("webhook")]
    assert len(ids) == 1  # `other` asked for revision.replaced only; `chef` has none
    await webhooks.deliver(ids[0], previous_attempts=0)
    payload = verify(other["secret"], receiver.received[0])
    assert payload["type"] == "revision.replaced"
    assert payload["data"]["revisionId"] == first["id"]
    assert payload["data"]["replacedBy"]["revisionId"] == second["id"]
    assert payload["data"]["replacedBy"]["clientId"] == parties.chef.client.id


async def test_a_rotated_secret_signs_beside_the_previous_one(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList,
) -> None:  # fmt: skip
    created = await subscribe(client, parties.chef, receiver.url)
    rotated = await client.post(
        f"/webhooks/{created['id']}/rotate-secret", headers=parties.chef.headers
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    await published(client, parties.chef, bal_31591)
    [job] = [job for job in await jobs() if job["task_name"] == "depot:deliver_webhook"]
    await webhooks.deliver(job["args"]["delivery_id"], previous_attempts=0)
    [call] = receiver.received
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    verify(new_secret, call)  # receivers on the new secret…
    verify(created["secret"], call)  # …and those not switched yet


async def test_4xx_is_final_5xx_and_timeouts_are_retried(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList, session: AsyncSession,
) -> None:  # fmt: skip
    created = await subscribe(client, parties.chef, receiver.url)
    await published(client, parties.chef, bal_31591)
    await published(client, parties.chef, bal_31591)
    first, second = [j["args"]["delivery_id"] for j in await jobs() if "webhook" in j["task_name"]]
    receiver.plan = [410]
    await webhooks.deliver(first, previous_attempts=0)  # no exception: not retried
    receiver.plan = [503]
    with pytest.raises(webhooks.DeliveryFailed):
        await webhooks.deliver(second, previous_attempts=0)
    receiver.slow = {2: 3.0}  # longer than the 2-second timeout
    with pytest.raises(webhooks.DeliveryFailed):
        await webhooks.deliver(second, previous_attempts=1)
    log = await client.get(f"/webhooks/{created['id']}/deliveries", headers=parties.chef.headers)
    by_id = {entry["id"]: entry for entry in log.json()}
    assert by_id[first]["status"] == "failed"
    assert [a["statusCode"] for a in by_id[first]["attempts"]] == [410]
    assert by_id[second]["status"] == "pending"
    assert [(a["statusCode"], a["error"]) for a in by_id[second]["attempts"]] == [
        (503, "HTTP 503"), (None, "délai dépassé"),
    ]  # fmt: skip
    # the schedule: growing delays, then given up
    failure = webhooks.DeliveryFailed("HTTP 503")
    decisions = [
        tasks.WEBHOOK_RETRY.get_retry_decision(exception=failure, job=_job(n)) for n in range(10)
    ]
    assert [d is not None for d in decisions] == [True] * 9 + [False]
    # the last attempt records the delivery failed
    receiver.plan = [500]
    with pytest.raises(webhooks.DeliveryFailed):
        await webhooks.deliver(second, previous_attempts=9)
    status = await session.scalar(
        text("SELECT status FROM depot_webhook_delivery WHERE id = :id"), {"id": second}
    )
    assert status == "failed"


def _job(attempts: int) -> Any:
    from procrastinate.jobs import Job

    return Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t",
               task_kwargs={}, attempts=attempts)  # fmt: skip


async def test_private_addresses_are_refused_unless_allowed(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList,
) -> None:  # fmt: skip
    from guichet.core import services
    from tests.conftest import replace_services

    created = await subscribe(client, parties.chef, receiver.url)
    await published(client, parties.chef, bal_31591)
    [delivery_id] = [j["args"]["delivery_id"] for j in await jobs() if "webhook" in j["task_name"]]
    current = services.current().settings
    strict = current.model_copy(update={"notifications": current.notifications.model_copy(
        update={"webhooks": WebhookSettings(encryption_key=ENCRYPTION_KEY)})})  # fmt: skip
    replace_services(settings=strict)
    await webhooks.deliver(delivery_id, previous_attempts=0)  # final, not retried
    assert receiver.received == []
    log = await client.get(f"/webhooks/{created['id']}/deliveries", headers=parties.chef.headers)
    [entry] = log.json()
    assert (entry["status"], entry["attempts"][0]["error"]) == (
        "failed", "adresse non publique refusée"
    )  # fmt: skip


# --- secrets: shown once, nowhere else ----------------------------------------------------


async def test_the_secret_appears_only_in_the_creation_and_rotation_answers(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, receiver: Endpoint,
    jobs: JobList, session: AsyncSession, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    created = await subscribe(client, parties.chef, receiver.url)
    rotated = await client.post(f"/webhooks/{created['id']}/rotate-secret", headers=ADMIN)
    secrets_ = [created["secret"], rotated.json()["secret"]]
    await published(client, parties.chef, bal_31591)
    for job in await jobs():
        if job["task_name"] == "depot:deliver_webhook":
            await webhooks.deliver(job["args"]["delivery_id"], previous_attempts=0)
    answers = [
        await client.get("/webhooks", headers=parties.chef.headers),
        await client.get("/webhooks", headers=ADMIN),
        await client.get(f"/webhooks/{created['id']}", headers=parties.chef.headers),
        await client.get(f"/webhooks/{created['id']}/deliveries", headers=ADMIN),
    ]
    assert all(answer.status_code == 200 for answer in answers)
    assert "secret" not in answers[2].json()
    raw_secrets = [s.removeprefix("whsec_") for s in secrets_]
    stored = await session.execute(
        text("SELECT secret, previous_secret FROM depot_webhook_subscription")
    )
    dumped = repr(stored.all())
    captured = capfd.readouterr()
    places = {
        "answers": " ".join(answer.text for answer in answers),
        "job arguments": json.dumps([job["args"] for job in await jobs()]),
        "logs": captured.out + captured.err + caplog.text,
        "database": dumped,
    }
    for where, found in places.items():
        for secret in raw_secrets:
            assert secret not in found, where
    metrics = await client.get("/metrics")
    for secret in raw_secrets:
        assert secret not in metrics.text


# --- authorization matrix -------------------------------------------------------------------


async def test_authorization_matrix(
    client: httpx.AsyncClient, parties: Parties, session: AsyncSession
) -> None:
    owner = parties.chef
    inactive = await factories.client(session, parties.mandataire, nom="inactive",
                                      is_active=False)  # fmt: skip
    await session.commit()
    created = await subscribe(client, owner, "https://example.com/hook")
    sid = created["id"]
    callers = {
        "no token": {},
        "unknown token": {"Authorization": "Token " + "0" * 32},
        "deactivated client": inactive.headers,
        "other client": parties.other.headers,
        "owning client": owner.headers,
        "admin": ADMIN,
    }
    routes = [
        ("GET", "/webhooks", None),
        ("GET", f"/webhooks/{sid}", None),
        ("GET", f"/webhooks/{sid}/deliveries", None),
        ("POST", f"/webhooks/{sid}/rotate-secret", None),
        ("POST", "/webhooks", {"url": "https://example.com/other"}),
        ("DELETE", f"/webhooks/{sid}", None),  # last: it removes the subscription
    ]
    expected = {
        "no token": 401, "unknown token": 401, "deactivated client": 403,
    }  # fmt: skip
    seen: dict[tuple[str, str], int] = {}
    for method, path, body in routes:
        for who, headers in callers.items():
            if method == "DELETE" and who in {"owning client", "admin"}:
                continue
            response = await client.request(method, path, json=body, headers=headers)
            seen[(f"{method} {path}", who)] = response.status_code
    for (route, who), status in seen.items():
        if who in expected:
            assert status == expected[who], (route, who, status)
        elif who == "other client":
            ok = {"GET /webhooks": 200, "POST /webhooks": 201}
            assert status == ok.get(route, 404), (route, who, status)
        elif who == "owning client":
            assert status == (201 if route == "POST /webhooks" else 200), (route, who, status)
        else:  # admin: creating needs the client named
            assert status == (400 if route == "POST /webhooks" else 200), (route, who, status)
    # the other client's list holds only its own; the admin's everything
    listed = await client.get("/webhooks", headers=parties.other.headers)
    assert sid not in {item["id"] for item in listed.json()}
    everything = await client.get("/webhooks", headers=ADMIN)
    assert sid in {item["id"] for item in everything.json()}
    admin_made = await client.post(
        "/webhooks", json={"url": "https://example.com/x", "clientId": owner.client.id},
        headers=ADMIN,
    )  # fmt: skip
    assert admin_made.status_code == 201
    assert admin_made.json()["clientId"] == owner.client.id
    # deleting: the owner and the admin may
    assert (await client.delete(f"/webhooks/{sid}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"/webhooks/{sid}", headers=ADMIN)).status_code == 404
    other_sid = admin_made.json()["id"]
    assert (await client.delete(f"/webhooks/{other_sid}", headers=ADMIN)).status_code == 204


async def test_bad_subscriptions_are_refused(client: httpx.AsyncClient, parties: Parties) -> None:
    for body in ({"url": "ftp://example.com"}, {"url": "https://x", "events": ["nope"]},
                 {"url": "https://x", "events": []}, {}):  # fmt: skip
        response = await client.post("/webhooks", json=body, headers=parties.chef.headers)
        assert response.status_code == 400, body
        assert isinstance(response.json()["message"], list)


# --- must-show 4: ten minutes down, every event once ------------------------------------------

# Accelerated 600 times: ten minutes of outage last one second; the default schedule, scaled.
SPEED_UP = 600
OUTAGE = 600 / SPEED_UP


async def test_a_receiver_down_ten_minutes_gets_every_event_once_signed(
    committed_database: str,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    bal_31591: bytes,
) -> None:
    defaults = WebhookSettings().retry_delays
    # With the production schedule, the attempts outlast a ten-minute outage.
    assert sum(defaults[:4]) > 600
    settings = webhook_settings(
        committed_database, tmp_path / "home",
        retry_delays=[delay / SPEED_UP for delay in defaults], timeout=0.3,
    )  # fmt: skip
    with endpoint_server(started=False) as server:
        receiver = server.endpoint
        async with live_app(settings) as live:
            parties = await live.parties()
            created = await subscribe(live.api, parties.chef, receiver.url + "/hook")
            replaced = await subscribe(live.api, parties.other, receiver.url + "/replaced")
            await published(live.api, parties.other, bal_31591)
            for _ in range(3):  # three publishes while the receiver is down
                await published(live.api, parties.chef, bal_31591)
            expected = await scalar("SELECT count(*) FROM depot_webhook_delivery")
            assert expected == 5  # 1 + 3 published, 1 replaced (the partner's, once)

            began: list[float] = []  # the outage starts with the worker
            opened: list[float] = []

            async def all_delivered() -> bool:
                now = time.monotonic()
                began[:] = began or [now]
                tried = await scalar("SELECT min(attempts_count) FROM depot_webhook_delivery")
                # Down (connection refused) for the first half, and until every event met it.
                if not opened and now - began[0] >= OUTAGE / 2 and tried >= 1:
                    receiver.plan = [503, 503]  # back up, still failing for the second half
                    receiver.slow = {0: 0.5}  # and one attempt times out
                    server.start()
                    opened.append(now)
                if opened and now - opened[0] < OUTAGE / 2:
                    receiver.plan.extend([503] * max(0, 2 - len(receiver.plan)))
                done = await scalar(
                    "SELECT count(*) FROM depot_webhook_delivery WHERE status <> 'pending'"
                )
                return bool(done == expected)

            await live.work_until(all_delivered)
            states = await scalar(
                "SELECT string_agg(DISTINCT status, ',') FROM depot_webhook_delivery"
            )
            retried = await scalar(
                "SELECT count(*) FROM depot_webhook_delivery WHERE attempts_count > 1"
            )
    assert states == "succeeded"
    assert retried == expected  # every event was refused first, then retried
    secrets_ = {"/hook": created["secret"], "/replaced": replaced["secret"]}
    accepted = [receiver.received[i] for i, status in receiver.answered.items() if status == 200]
    counts = Counter(call.headers["webhook-id"] for call in accepted)
    assert len(counts) == expected and set(counts.values()) == {1}  # every event, once per id
    kinds: Counter[str] = Counter()
    for call in accepted:
        payload = verify(secrets_[call.path], call)  # the independent verifier
        kinds[payload["type"]] += 1
    assert kinds == {"revision.published": 4, "revision.replaced": 1}
