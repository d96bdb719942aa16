"""Jobs of the drop zone: drain a bucket (process its new objects in batches), e-mail their
reports, archive them, and sweep the buckets.

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
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from procrastinate import Blueprint, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task
from procrastinate.types import JSONValue, TimeDeltaParams
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import db, mail, queue, storage
from guichet.config import Settings
from guichet.dropzone import backends, ledger, processing, report_mail
from guichet.dropzone.ledger import Sighting
from guichet.dropzone.models import DropzoneObject, MailStatus, ObjectStatus, Source
from guichet.loaders import partners as loader_partners
from guichet.loaders.models import Partner
from guichet.logging import get_logger

log = get_logger(__name__)

blueprint = Blueprint()

_settings: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Set the process's settings and drop-zone backend (the app and `guichet worker` do)."""
    global _settings
    _settings = settings
    backends.configure(backends.create_backend(settings.dropzone) if settings else None)


def current_settings() -> Settings:
    return _settings if _settings is not None else Settings()


MAIL_PRIORITY = 10  # a processed file's e-mail goes out before more files are processed
DRAIN_PRIORITY = 0
ARCHIVE_PRIORITY = -10  # archive copies wait for a quiet moment
# Downloads of one batch in flight at once; bodies up to PREFETCH_BYTES are read ahead.
DOWNLOADS = 8
PREFETCH_BYTES = 1024 * 1024
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


async def intake(session: AsyncSession, sightings: Sequence[Sighting], source: Source) -> list[int]:
    """Record sightings in the ledger; wake the drain of each bucket with new rows (same
    transaction). Returns the ids of the rows created."""
    created = await ledger.insert(session, sightings, source)
    if created:
        await wake(session, [row.bucket for row in created])
        log.info("dropzone.objects_registered", source=str(source), count=len(created))
    return [row.id for row in created]


# --- processing -----------------------------------------------------------------------------------


@blueprint.task(name="drain_bucket", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
async def drain_bucket(bucket: str) -> None:
    """Process the bucket's pending objects, a batch at a time, until none is left. A full
    batch wakes one more drain: a backlog spreads over every idle worker (and process)."""
    size = current_settings().dropzone.batch_size
    tried: list[int] = []  # a file that failed here waits for its retry, not for this loop
    failed: list[int] = []
    while True:
        async with db.transaction() as session:
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
    """Process claimed rows in one transaction; returns (rows processed, rows that failed)."""
    async with db.transaction() as session:
        rows = await _lock_pending(session, ids)
        if not rows:
            return [], []
        partner = await _partner(session, rows[0].partner_id)
        context = processing.PartnerContext(
            partner, await loader_partners.own_account_id(session, partner)
        )
        prefetched = _prefetch(rows)
        results: list[_Result] = []
        failed: list[int] = []
        try:
            for obj in rows:
                result = await _process_one(session, obj, context, prefetched.get(obj.id))
                if result is None:
                    failed.append(obj.id)
                else:
                    results.append(result)
        finally:
            for task in prefetched.values():
                task.cancel()
        if results:
            await session.execute(_RECORD_RESULT, [result.params() for result in results])
        processed = _json_ids([r.object_id for r in results if r.status is ObjectStatus.DONE])
        if processed:  # GONE rows are only recorded
            await _defer(session, mail_objects, priority=MAIL_PRIORITY, object_ids=processed)
            await _defer(session, archive_objects, priority=ARCHIVE_PRIORITY, object_ids=processed)
    return [result.object_id for result in results], failed


@dataclass(frozen=True, slots=True)
class _Result:
    """How one row ends (recorded for the whole batch with one statement)."""

    object_id: int
    status: ObjectStatus
    outcome: processing.Outcome | None = None

    def params(self) -> dict[str, Any]:
        outcome = self.outcome
        return {
            "object_id": self.object_id,
            "new_status": str(self.status),
            "new_run_id": outcome.run_id if outcome else None,
            "new_result": str(outcome.status) if outcome else None,
            "new_report": outcome.report if outcome else None,
            "new_archive_key": outcome.archive_key if outcome else None,
        }


_objects = cast(Table, DropzoneObject.__table__)  # Core statements: one for a whole batch
_RECORD_RESULT = (
    update(_objects)
    .where(_objects.c.id == bindparam("object_id"))
    .values(
        status=bindparam("new_status"),
        processed_at=func.now(),
        run_id=bindparam("new_run_id"),
        result=bindparam("new_result"),
        report=bindparam("new_report"),
        archive_key=bindparam("new_archive_key"),
    )
)


async def _lock_pending(session: AsyncSession, ids: list[int]) -> list[DropzoneObject]:
    """The rows still pending, locked for this transaction (one held elsewhere is skipped)."""
    result = await session.scalars(
        select(DropzoneObject)
        .where(DropzoneObject.id.in_(ids), DropzoneObject.status == ObjectStatus.PENDING)
        .order_by(DropzoneObject.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(result)


async def _partner(session: AsyncSession, partner_id: int) -> Partner:
    partner = await session.get(Partner, partner_id)
    assert partner is not None  # the ledger row's foreign key
    return partner


Prefetch = dict[int, "asyncio.Task[processing.Download]"]


def _prefetch(rows: Sequence[DropzoneObject]) -> Prefetch:
    """Start downloading the batch's small objects (at most DOWNLOADS at once); larger or
    unknown-size ones are read when their turn comes, so memory stays bounded."""
    backend, settings = backends.current(), current_settings().dropzone
    gate = asyncio.Semaphore(DOWNLOADS)

    async def fetch(obj: DropzoneObject) -> processing.Download:
        async with gate:
            return await processing.download(backend, settings, obj)

    started: Prefetch = {}
    for obj in rows:
        if obj.size is not None and obj.size <= PREFETCH_BYTES:
            task = asyncio.ensure_future(fetch(obj))
            # A download left unawaited (its batch failed first) must not log "never retrieved".
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            started[obj.id] = task
    return started


async def _process_one(
    session: AsyncSession,
    obj: DropzoneObject,
    context: processing.PartnerContext,
    prefetched: asyncio.Task[processing.Download] | None,
) -> _Result | None:
    """Process one row in a savepoint: how it ends, or None if it failed (rolled back, left
    pending)."""
    settings = current_settings()
    object_id, key, attempts = obj.id, obj.key, obj.attempts
    try:
        async with session.begin_nested():
            if prefetched is not None:
                download = await prefetched
            else:
                download = await processing.download(backends.current(), settings.dropzone, obj)
            outcome = await processing.process(
                session, storage.current(), settings.dropzone, obj, context, download
            )
    except processing.ObjectGone:
        log.info("dropzone.object_gone", object_id=object_id, key=key)
        return _Result(object_id, ObjectStatus.GONE)
    except Exception:
        log.exception("dropzone.object_failed", object_id=object_id, attempts=attempts)
        return None
    return _Result(object_id, ObjectStatus.DONE, outcome)


async def _retry_later(bucket: str, failed: list[int]) -> None:
    """Files that failed (S3 or database trouble) are claimed again by a later drain; its own
    queueing lock, so that new files are not held back until then."""
    async with db.transaction() as session:
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
    await _mail_step(object_ids)


async def _send_now(object_ids: list[int]) -> None:
    """The drain sends its batch's e-mails at once; a failure is left to the e-mail job."""
    try:
        await _mail_step(object_ids)
    except Exception as exc:
        log.warning("dropzone.mail_deferred", count=len(object_ids), error=str(exc)[:200])


async def _mail_step(object_ids: Sequence[int]) -> None:
    """Send each row's e-mail once: the rows stay locked while sending, and are recorded as
    sent in the same transaction. On an SMTP error, the e-mails already sent are recorded and
    committed, then the error is raised (the job retries the others). A crash between sending
    and committing resends, with the same Message-ID."""
    settings = current_settings()
    failure: Exception | None = None
    async with db.transaction() as session:
        found = await session.execute(
            select(DropzoneObject, Partner)
            .join(Partner, Partner.id == DropzoneObject.partner_id)
            .where(
                DropzoneObject.id.in_(object_ids),
                DropzoneObject.status == ObjectStatus.DONE,
                DropzoneObject.mail_status == MailStatus.PENDING,
            )
            .order_by(DropzoneObject.id)
            .with_for_update(of=DropzoneObject)
            .execution_options(populate_existing=True)
        )
        outcomes: list[dict[str, Any]] = []
        for obj, partner in found:
            try:
                outcomes.append(await _send_report(settings, obj, partner))
            except Exception as exc:
                failure = exc
                break
        if outcomes:
            await session.execute(_RECORD_MAIL, outcomes)
    if failure is not None:
        raise failure


_RECORD_MAIL = (
    update(_objects)
    .where(_objects.c.id == bindparam("object_id"))
    .values(
        mail_status=bindparam("new_mail_status"),
        mail_sent_at=func.now(),
        mail_message_id=bindparam("new_message_id"),
    )
)


async def _send_report(settings: Settings, obj: DropzoneObject, partner: Partner) -> dict[str, Any]:
    """Send one row's e-mail; returns what to record."""
    if not partner.contact_emails:
        log.warning("dropzone.no_recipient", object_id=obj.id, partner_id=partner.partner_id)
        return {
            "object_id": obj.id,
            "new_mail_status": str(MailStatus.NO_RECIPIENT),
            "new_message_id": None,
        }
    message = report_mail.build(
        settings.mail, obj, env=settings.dropzone.env, recipients=partner.contact_emails
    )
    await mail.current().send(message)
    log.info("dropzone.report_sent", object_id=obj.id)
    return {
        "object_id": obj.id,
        "new_mail_status": str(MailStatus.SENT),
        "new_message_id": report_mail.message_id(obj),
    }


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
    async with db.transaction() as session:
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
        gate = asyncio.Semaphore(DOWNLOADS)

        async def archive(obj: DropzoneObject) -> None:
            async with gate:
                await _archive(obj)
            obj.archived_at = func.now()

        outcomes = await asyncio.gather(*(archive(obj) for obj in rows), return_exceptions=True)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise errors[0]


async def _postpone_archive(object_ids: list[int], postponed: int) -> bool:
    """Defer the archive job again if files are waiting to be processed."""
    async with db.transaction() as session:
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


async def _archive(obj: DropzoneObject) -> None:
    assert obj.archive_key is not None
    backend = backends.current()
    await backend.copy(obj.bucket, obj.key, obj.archive_key)  # False: the source is gone
    report_key = "reports/" + obj.archive_key.partition("/")[2] + ".report.json"
    body = json.dumps(obj.report, ensure_ascii=False).encode()
    await backend.put(obj.bucket, report_key, body, "application/json")


# Jobs of earlier layouts, possibly still queued after an upgrade: the same work.
@blueprint.task(name="process_object", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
async def process_object(object_id: int) -> None:
    async with db.transaction() as session:
        bucket = await session.scalar(
            select(DropzoneObject.bucket).where(DropzoneObject.id == object_id)
        )
    if bucket is not None:
        await drain_bucket(bucket)


@blueprint.task(name="finish_object", retry=RetryStrategy(max_attempts=12, exponential_wait=3))
async def finish_object(object_id: int) -> None:
    await _mail_step([object_id])
    await archive_objects([object_id])


@blueprint.task(name="archive_object", retry=RetryStrategy(max_attempts=10, exponential_wait=2))
async def archive_object(object_id: int) -> None:
    await finish_object(object_id)


@blueprint.task(name="send_report", retry=RetryStrategy(max_attempts=12, exponential_wait=3))
async def send_report(object_id: int) -> None:
    await finish_object(object_id)


# --- sweep ----------------------------------------------------------------------------------------

RECOVERY_AGE = dt.timedelta(seconds=30)


async def sweep(*, recovery_age: dt.timedelta = RECOVERY_AGE) -> dict[str, int]:
    """List every partner bucket into the ledger, and defer again the work of rows whose job
    was lost (older than `recovery_age`)."""
    backend = backends.current_or_none()
    counts = {"listed": 0, "registered": 0, "requeued": 0}
    if backend is None:
        return counts
    async with db.transaction() as session:
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
            async with db.transaction() as session:
                new = await intake(session, sightings[start : start + 500], Source.SWEEP)
                counts["registered"] += len(new)
    async with db.transaction() as session:
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
