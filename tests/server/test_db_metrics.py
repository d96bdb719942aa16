"""`/metrics` reports the partner side and the job queue, read from PostgreSQL at scrape time:
loader runs by channel and status, drop-zone files by state and the oldest pending one's age,
jobs by task and status, drop-zone e-mails — with no partner, bucket or key in any label."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.runtime import db_metrics

PARTNER = "acme-metrics-secret-name"
BUCKET = "ql-loader-stg-acme-metrics"


@pytest.fixture(autouse=True)
def fresh_snapshot() -> Iterator[None]:
    db_metrics.COLLECTOR.expire()
    yield
    db_metrics.COLLECTOR.expire()


async def seed(session: AsyncSession) -> None:
    partner_id = (
        await session.execute(
            text(
                "INSERT INTO loader_partner (partner_id, name, key_hash, key_hint) "
                "VALUES (:p, 'ACME', '\\x00', 'abcd') RETURNING id"
            ),
            {"p": PARTNER},
        )
    ).scalar_one()
    for channel, status in [("rest", "SUCCESS"), ("rest", "SUCCESS"), ("s3", "REJECTED")]:
        await session.execute(
            text(
                "INSERT INTO loader_run (id, partner_id, channel, received_at, finished_at, "
                "status, total_count, success_count, failed_count, tally, report, source_key, "
                "source_size, source_sha256) VALUES (:id, :partner, :channel, now(), now(), "
                ":status, 1, 1, 0, '{}', '{}', 'k', 1, 'x')"
            ),
            {"id": uuid.uuid4(), "partner": partner_id, "channel": channel, "status": status},
        )
    objects = [
        ("a.json", "pending", "pending", "now() - interval '1 hour'"),
        ("b.json", "pending", "pending", "now() - interval '1 minute'"),
        ("c.json", "done", "sent", "now()"),
        ("d.json", "done", "no_recipient", "now()"),
    ]
    for key, status, mail_status, seen in objects:
        await session.execute(
            text(
                "INSERT INTO dropzone_object (partner_id, bucket, key, etag, source, status, "
                "mail_status, seen_at) VALUES (:partner, :bucket, :key, 'e', 'event', :status, "
                f":mail, {seen})"  # `seen`: a literal of the list above
            ),
            {
                "partner": partner_id,
                "bucket": BUCKET,
                "key": key,
                "status": status,
                "mail": mail_status,
            },
        )
    jobs = [
        ("dropzone:drain_bucket", "todo", 0),
        ("dropzone:drain_bucket", "todo", 0),
        ("dropzone:mail_objects", "todo", 3),
        ("dropzone:mail_objects", "failed", 12),
        ("depot:mail_takeover", "succeeded", 1),
    ]
    for task, status, attempts in jobs:
        await session.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts) "
                "VALUES ('default', :task, '{}', :status, :attempts)"
            ),
            {"task": task, "status": status, "attempts": attempts},
        )
    await session.flush()


def value(body: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{val}"' for key, val in sorted(labels.items()))
    pattern = re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" (\S+)"
    for line in body.splitlines():
        match = re.fullmatch(pattern, line)
        if match:
            return float(match.group(1))
    raise AssertionError(f"{name}{labels} not in /metrics")


async def test_partner_side_and_queue_metrics_read_at_scrape_time(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed(session)
    body = (await client.get("/metrics")).text

    assert value(body, "guichet_metrics_database_up") == 1
    assert value(body, "guichet_loader_runs_total", channel="rest", status="SUCCESS") == 2
    assert value(body, "guichet_loader_runs_total", channel="s3", status="REJECTED") == 1
    assert value(body, "guichet_dropzone_objects", state="pending") == 2
    assert value(body, "guichet_dropzone_objects", state="done") == 2
    oldest = value(body, "guichet_dropzone_oldest_pending_age_seconds")
    assert 3600 <= oldest < 3600 + 600
    assert value(body, "guichet_dropzone_mails", status="sent") == 1
    assert value(body, "guichet_dropzone_mails", status="no_recipient") == 1
    assert value(body, "guichet_jobs", task="dropzone:drain_bucket", status="todo") == 2
    assert value(body, "guichet_jobs", task="dropzone:mail_objects", status="failed") == 1
    assert value(body, "guichet_jobs", task="depot:mail_takeover", status="succeeded") == 1
    assert value(body, "guichet_jobs_retrying", task="dropzone:mail_objects") == 1

    # Labels hold code lists only: no partner, bucket or object key.
    for private in (PARTNER, BUCKET, "a.json", "ACME"):
        assert private not in body


async def test_values_are_cached_between_close_scrapes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = (await client.get("/metrics")).text
    assert value(first, "guichet_dropzone_oldest_pending_age_seconds") == 0
    await seed(session)
    cached = (await client.get("/metrics")).text  # within REFRESH_SECONDS: no new query
    assert value(cached, "guichet_dropzone_oldest_pending_age_seconds") == 0
    db_metrics.COLLECTOR.expire()
    fresh = (await client.get("/metrics")).text
    assert value(fresh, "guichet_dropzone_oldest_pending_age_seconds") >= 3600
