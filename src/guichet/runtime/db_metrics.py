"""Metrics of the partner side and the job queue, read from PostgreSQL when `/metrics` is
scraped: loader runs by channel and status, drop-zone files by state and the age of the oldest
pending one, jobs by task and status (queue depth, failures, retries), drop-zone e-mails.

Why read them rather than count them: the work happens in several processes (the API's
in-process worker, the `guichet worker` children, other machines) while only API processes
answer `/metrics`; the database sees all of it, and every API process reports the same values.

Bounded: a few grouped counts over indexed or small tables, under a statement timeout, at most
once per `REFRESH_SECONDS` per process (a scrape in between gets the last values). Labels are
code lists only (channel, status, state, task name): never a partner, a bucket, a key or an
address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guichet.core.logging import get_logger

log = get_logger(__name__)

REFRESH_SECONDS = 5.0
STATEMENT_TIMEOUT_MS = 2000

_LOADER_RUNS = text("SELECT channel, status, count(*) FROM loader_run GROUP BY 1, 2")
_DROPZONE_OBJECTS = text("SELECT status, count(*) FROM dropzone_object GROUP BY 1")
# The partial index ix_dropzone_object_pending serves this one.
_OLDEST_PENDING = text(
    "SELECT extract(epoch FROM now() - min(seen_at)) FROM dropzone_object WHERE status = 'pending'"
)
_DROPZONE_MAILS = text(
    "SELECT mail_status, count(*) FROM dropzone_object WHERE status = 'done' GROUP BY 1"
)
_JOBS = text(
    "SELECT task_name, status::text, count(*), count(*) FILTER (WHERE attempts > 0) "
    "FROM procrastinate_jobs GROUP BY 1, 2"
)


@dataclass
class Snapshot:
    loader_runs: dict[tuple[str, str], int] = field(default_factory=dict)
    dropzone_objects: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float = 0.0
    dropzone_mails: dict[str, int] = field(default_factory=dict)
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    retrying: dict[str, int] = field(default_factory=dict)
    database_ok: bool = False


class DatabaseCollector(Collector):
    """Exposes the last snapshot; `refresh` (from the `/metrics` route) renews it."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        self._taken_at = float("-inf")

    async def refresh(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        # No lock: two scrapes in the same instant both read, which is harmless.
        if time.monotonic() - self._taken_at < REFRESH_SECONDS:
            return
        self._taken_at = time.monotonic()
        try:
            self.snapshot = await read_snapshot(sessionmaker)
        except Exception as exc:  # the metrics must answer even when the database does not
            log.warning("metrics.database_unavailable", error=type(exc).__name__)
            self.snapshot.database_ok = False

    def expire(self) -> None:
        """The next scrape reads the database again (tests)."""
        self._taken_at = float("-inf")

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        up = GaugeMetricFamily(
            "guichet_metrics_database_up",
            "1 if the last read of the database metrics below succeeded.",
        )
        up.add_metric([], 1.0 if snapshot.database_ok else 0.0)
        yield up

        yield _labelled(
            CounterMetricFamily(
                "guichet_loader_runs",
                "Loader files received and answered, by channel (rest, s3) and status.",
                labels=["channel", "status"],
            ),
            snapshot.loader_runs,
        )
        yield _labelled(
            GaugeMetricFamily(
                "guichet_dropzone_objects",
                "Files seen in the partners' buckets, by state (pending, done, gone).",
                labels=["state"],
            ),
            snapshot.dropzone_objects,
        )
        oldest = GaugeMetricFamily(
            "guichet_dropzone_oldest_pending_age_seconds",
            "Age of the oldest drop-zone file not processed yet (0 when none waits).",
        )
        oldest.add_metric([], snapshot.oldest_pending_seconds)
        yield oldest
        yield _labelled(
            GaugeMetricFamily(
                "guichet_dropzone_mails",
                "E-mails of processed drop-zone files, by status (sent, pending, no_recipient).",
                labels=["status"],
            ),
            snapshot.dropzone_mails,
        )
        yield _labelled(
            GaugeMetricFamily(
                "guichet_jobs",
                "Jobs in the queue by task and status: todo + doing is the depth, failed the "
                "jobs given up (e-mails that could not be sent: mail_objects, mail_takeover).",
                labels=["task", "status"],
            ),
            snapshot.jobs,
        )
        yield _labelled(
            GaugeMetricFamily(
                "guichet_jobs_retrying",
                "Jobs waiting for another attempt after a failure, by task.",
                labels=["task"],
            ),
            snapshot.retrying,
        )


def _labelled(
    family: CounterMetricFamily | GaugeMetricFamily, counts: Mapping[Any, float]
) -> Metric:
    """`family` with one sample per key of `counts` (a label value, or a tuple of them)."""
    for key, count in sorted(counts.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], count)
    return family


async def read_snapshot(sessionmaker: async_sessionmaker[AsyncSession]) -> Snapshot:
    snapshot = Snapshot()
    async with sessionmaker() as session, session.begin():
        await session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        for channel, status, count in await session.execute(_LOADER_RUNS):
            snapshot.loader_runs[channel, status] = count
        for state, count in await session.execute(_DROPZONE_OBJECTS):
            snapshot.dropzone_objects[state] = count
        oldest = (await session.execute(_OLDEST_PENDING)).scalar()
        snapshot.oldest_pending_seconds = max(float(oldest or 0.0), 0.0)
        for status, count in await session.execute(_DROPZONE_MAILS):
            snapshot.dropzone_mails[status] = count
        for task, status, count, attempted in await session.execute(_JOBS):
            task_name = task or "unknown"
            key = (task_name, status)
            snapshot.jobs[key] = snapshot.jobs.get(key, 0) + count
            if status == "todo" and attempted:
                snapshot.retrying[task_name] = snapshot.retrying.get(task_name, 0) + attempted
    snapshot.database_ok = True
    return snapshot


COLLECTOR = DatabaseCollector()
REGISTRY.register(COLLECTOR)  # once, at import: several apps in one process share it
