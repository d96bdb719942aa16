"""Jobs of the drop zone: drain a bucket (process its new objects in batches: `batch`), e-mail
their reports and archive them (`delivery`), and sweep the buckets.

The pending rows of the ledger are the work queue. A new row wakes `drain_bucket` for its bucket
(one waiting job per bucket: queueing lock `dropzone:drain:<bucket>`), deferred in the
transaction that records the row. A drain claims batches of pending rows (`ledger.claim`),
downloads each batch concurrently, processes its files in one transaction (one savepoint per
file: a failing file never undoes the others), and defers in that same transaction the e-mail
job (high priority) and the archive job (low priority: archives never delay a result). It then
sends the batch's e-mails itself right away; the e-mail job it deferred only finds them sent
(it is the guarantee if the worker dies in between).

Every job is idempotent: each step locks its rows and checks their status first, so a job that
runs twice, or a row seen by two jobs, is e-mailed, integrated and archived once. A job lost with
its worker (SIGKILL) leaves its rows pending; the sweep (periodic, and at listener start) defers
the work again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import Sequence
from typing import Any

from procrastinate import Blueprint, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task
from procrastinate.types import JSONValue, TimeDeltaParams
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue, services
from guichet.core.config import Settings
from guichet.core.logging import get_logger
from guichet.partners.dropzone import backends, batch, delivery, ledger
from guichet.partners.dropzone.ledger import Sighting
from guichet.partners.dropzone.models import DropzoneObject, ObjectStatus, Source

log = get_logger(__name__)

blueprint = Blueprint()


def current_settings() -> Settings:
    return services.current().settings


MAIL_PRIORITY = 10  # a processed file's e-mail goes out before more files are processed
DRAIN_PRIORITY = 0
ARCHIVE_PRIORITY = -10  # archive copies wait for a quiet moment
# Recovery jobs carry at most this many rows each.
CHUNK = 200


def _json_ids(ids: Sequence[int]) -> JSONValue:
    as_json: list[JSONValue] = list(ids)
    return as_json


def drain_lock(bucket: str) -> str:
    return f"dropzone:drain:{bucket}"


async def _defer(
    session: AsyncSession,
    task: Task[..., Any, ...],
    *,
    queueing_lock: str | None = None,
    priority: int | None = None,
    schedule_in: TimeDeltaParams | None = None,
    **kwargs: JSONValue,
) -> bool:
    """Defer a job in the caller's transaction; False if one waits already under its lock."""
    with contextlib.suppress(AlreadyEnqueued):
        await queue.defer(
            session,
            task,
            queueing_lock=queueing_lock,
            priority=priority,
            schedule_in=schedule_in,
            **kwargs,  # type: ignore[arg-type]  # task arguments, never defer's own options
        )
        return True
    return False


async def wake(session: AsyncSession, buckets: Sequence[str]) -> int:
    """Make sure a drain job waits for each bucket (the caller added pending rows to them)."""
    await ledger.announce(session, buckets)
    woken = 0
    for bucket in sorted(set(buckets)):
        woken += await _defer(
            session,
            drain_bucket,
            queueing_lock=drain_lock(bucket),
            priority=DRAIN_PRIORITY,
            bucket=bucket,
        )
    return woken


async def record_sightings(
    session: AsyncSession, sightings: Sequence[Sighting], source: Source
) -> list[int]:
    """Record sightings in the ledger; wake the drain of each bucket with new rows (same
    transaction). Returns the ids of the rows created."""
    created = await ledger.insert(session, sightings, source)
    if created:
        await wake(session, [row.bucket for row in created])
        log.info("dropzone.objects_registered", source=str(source), count=len(created))
    return [row.id for row in created]


# --- processing -----------------------------------------------------------------------------------


# Drains running at once in one process. Batches are CPU-bound Python: beyond two, they only
# interleave and each file waits longer for its batch (measured with `make bench`: 2 gave the
# best throughput and latency, 4 and 8 lower). Other jobs keep the worker's other slots.
DRAINS_PER_PROCESS = 2
_drain_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _drain_slot() -> asyncio.Semaphore:
    """This event loop's drain semaphore (tests run several loops in one process)."""
    loop = asyncio.get_running_loop()
    slots = _drain_slots.get(loop)
    if slots is None:
        slots = _drain_slots[loop] = asyncio.Semaphore(DRAINS_PER_PROCESS)
    return slots


@blueprint.task(name="drain_bucket", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
async def drain_bucket(bucket: str) -> None:
    """Process the bucket's pending objects, a batch at a time, until none is left. A full
    batch wakes one more drain: a backlog spreads over every idle worker (and process)."""
    async with _drain_slot():  # nothing is claimed while waiting for a slot
        await _drain(bucket)


async def _drain(bucket: str) -> None:
    size = current_settings().dropzone.batch_size
    tried: list[int] = []  # a file that failed here waits for its retry, not for this loop
    failed: list[int] = []
    while True:
        async with services.transaction() as session:
            ids = await ledger.claim(session, bucket, limit=size, exclude=tried)
            if len(ids) == size:  # more may be waiting: let an idle worker drain them too
                await wake(session, [bucket])
        if not ids:
            break
        tried += ids
        done, errors = await _process_batch(ids)
        failed += errors
        if done:
            await _send_now(done)
    if failed:
        await _retry_later(bucket, failed)


async def _process_batch(ids: list[int]) -> tuple[list[int], list[int]]:
    """Process claimed rows in one transaction, with their e-mail and archive jobs; returns
    (rows that ended, rows that failed)."""
    async with services.transaction() as session:
        done = await batch.process(session, ids, current_settings())
        if done.processed:
            payload = _json_ids(done.processed)
            await _defer(session, mail_objects, priority=MAIL_PRIORITY, object_ids=payload)
            await _defer(session, archive_objects, priority=ARCHIVE_PRIORITY, object_ids=payload)
    return [result.object_id for result in done.ended], done.failed


async def _retry_later(bucket: str, failed: list[int]) -> None:
    """Files that failed (S3 or database trouble) are claimed again by a later drain; its own
    queueing lock, so that new files are not held back until then."""
    async with services.transaction() as session:
        attempts = await session.scalar(
            select(func.max(DropzoneObject.attempts)).where(DropzoneObject.id.in_(failed))
        )
        delay = min(2 ** int(attempts or 1), 300)
        await _defer(
            session,
            drain_bucket,
            queueing_lock=f"dropzone:retry:{bucket}",
            schedule_in={"seconds": delay},
            bucket=bucket,
        )
    log.warning("dropzone.files_failed", bucket=bucket, count=len(failed), retry_in_s=delay)


# --- e-mail ---------------------------------------------------------------------------------------


@blueprint.task(name="mail_objects", retry=RetryStrategy(max_attempts=12, exponential_wait=3))
async def mail_objects(object_ids: list[int]) -> None:
    """E-mail the report of each processed row once."""
    await delivery.send_reports(object_ids, current_settings())


async def _send_now(object_ids: list[int]) -> None:
    """The drain sends its batch's e-mails at once; a failure is left to the e-mail job."""
    try:
        await delivery.send_reports(object_ids, current_settings())
    except Exception as exc:
        log.warning("dropzone.mail_deferred", count=len(object_ids), error=str(exc)[:200])


# --- archive --------------------------------------------------------------------------------------


# While files wait to be processed, archive copies wait too (they would take S3 and CPU time
# from the results partners wait for), by steps of ARCHIVE_PAUSE, at most ARCHIVE_POSTPONES times.
ARCHIVE_PAUSE = 2
ARCHIVE_POSTPONES = 30


@blueprint.task(name="archive_objects", retry=RetryStrategy(max_attempts=10, exponential_wait=2))
async def archive_objects(object_ids: list[int], postponed: int = 0) -> None:
    """Copy each processed source to `success/` or `failure/` (dated) and its report to
    `reports/`, once; the copies that succeeded are recorded even if another one failed."""
    if postponed < ARCHIVE_POSTPONES and await _postpone_archive(object_ids, postponed):
        return
    async with services.transaction() as session:
        rows = list(
            await session.scalars(
                select(DropzoneObject)
                .where(
                    DropzoneObject.id.in_(object_ids),
                    DropzoneObject.status == ObjectStatus.DONE,
                    DropzoneObject.archived_at.is_(None),
                    DropzoneObject.archive_key.is_not(None),
                )
                .order_by(DropzoneObject.id)
                .with_for_update()
            )
        )
        sources = await delivery.stored_sources(session, rows)
        gate = asyncio.Semaphore(batch.DOWNLOADS)

        async def archive(obj: DropzoneObject) -> None:
            async with gate:
                await delivery.archive(obj, sources.get(obj.run_id) if obj.run_id else None)
            obj.archived_at = func.now()

        outcomes = await asyncio.gather(*(archive(obj) for obj in rows), return_exceptions=True)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise errors[0]


async def _postpone_archive(object_ids: list[int], postponed: int) -> bool:
    """Defer the archive job again if files are waiting to be processed."""
    async with services.transaction() as session:
        if not await ledger.has_pending(session):
            return False
        await _defer(
            session,
            archive_objects,
            priority=ARCHIVE_PRIORITY,
            schedule_in={"seconds": ARCHIVE_PAUSE},
            object_ids=_json_ids(object_ids),
            postponed=postponed + 1,
        )
    return True


# --- sweep ----------------------------------------------------------------------------------------

RECOVERY_AGE = dt.timedelta(seconds=30)


async def sweep(*, recovery_age: dt.timedelta = RECOVERY_AGE) -> dict[str, int]:
    """List every partner bucket into the ledger, and defer again the work of rows whose job
    was lost (older than `recovery_age`)."""
    backend = backends.current_or_none()
    counts = {"listed": 0, "registered": 0, "requeued": 0}
    if backend is None:
        return counts
    async with services.transaction() as session:
        names = await ledger.buckets(session)
    for bucket in names:
        try:
            objects = await backend.list_objects(bucket)
        except Exception as exc:  # one broken bucket must not stop the others
            log.warning("dropzone.sweep_failed", bucket=bucket, error=str(exc)[:200])
            continue
        counts["listed"] += len(objects)
        sightings = [Sighting(bucket, o.key, o.etag, o.size, o.last_modified) for o in objects]
        for start in range(0, len(sightings), 500):
            async with services.transaction() as session:
                new = await record_sightings(session, sightings[start : start + 500], Source.SWEEP)
                counts["registered"] += len(new)
    async with services.transaction() as session:
        counts["requeued"] += await _requeue(session, recovery_age)
    if counts["registered"] or counts["requeued"]:
        log.info("dropzone.sweep", **counts)
    return counts


async def _requeue(session: AsyncSession, recovery_age: dt.timedelta) -> int:
    """Defer again the work of rows left behind: drains for buckets with old pending rows, one
    waiting recovery job for old unsent e-mails and one for old missing archives."""
    requeued = await wake(session, await ledger.stuck_buckets(session, older_than=recovery_age))
    age = recovery_age
    recoveries: list[tuple[Task[..., Any, ...], str, int, list[int]]] = [
        (mail_objects, "mail", MAIL_PRIORITY, await ledger.stuck_mail(session, older_than=age)),
        (archive_objects, "archive", ARCHIVE_PRIORITY,
         await ledger.stuck_archive(session, older_than=age)),
    ]  # fmt: skip
    for task, name, priority, ids in recoveries:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            requeued += len(chunk) * await _defer(
                session,
                task,
                queueing_lock=f"dropzone:recover-{name}:{chunk[0]}",
                priority=priority,
                object_ids=_json_ids(chunk),
            )
    return requeued


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="sweep_buckets", queueing_lock="dropzone:sweep")
async def sweep_buckets(timestamp: int) -> None:
    """Every minute: the completeness net under the (at-least-once, sometimes lost) events."""
    await sweep()
