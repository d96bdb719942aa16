"""Jobs of the drop zone: process an object, archive it, e-mail its report, sweep the buckets.

Each is keyed by the ledger row id (queueing lock `dropzone:<job>:<id>`) and idempotent: the row's
status says what is already done, and the row is locked while a job works on it. A job lost with
its worker (SIGKILL) leaves its row pending; the sweep (periodic, and at listener start) defers it
again. Deferring always happens in the transaction that makes the work necessary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from procrastinate import Blueprint, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import db, mail, queue, storage
from guichet.config import Settings
from guichet.dropzone import backends, ledger, processing, report_mail
from guichet.dropzone.ledger import Sighting
from guichet.dropzone.models import DropzoneObject, MailStatus, ObjectStatus, Source
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


def lock(job: str, object_id: int) -> str:
    return f"dropzone:{job}:{object_id}"


async def _defer_each(
    session: AsyncSession, task: Task[..., Any, ...], job: str, ids: Sequence[int]
) -> int:
    deferred = 0
    for object_id in ids:
        with contextlib.suppress(AlreadyEnqueued):  # one job waiting per row is enough
            await queue.defer(
                session, task, queueing_lock=lock(job, object_id), object_id=object_id
            )
            deferred += 1
    return deferred


async def intake(session: AsyncSession, sightings: Sequence[Sighting], source: Source) -> list[int]:
    """Record sightings in the ledger; defer the processing of each new row (same transaction)."""
    new_ids = await ledger.insert(session, sightings, source)
    await _defer_each(session, process_object, "process", new_ids)
    if new_ids:
        log.info("dropzone.objects_registered", source=str(source), count=len(new_ids))
    return new_ids


# --- processing ---------------------------------------------------------------------------------


@blueprint.task(name="process_object", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
async def process_object(object_id: int) -> None:
    """Process one ledger row (a no-op once done, or while another job holds it)."""
    async with db.transaction() as session:
        obj = await _claim(session, object_id)
        if obj is None:
            return
        obj.attempts += 1
        obj.started_at = func.now()
    async with db.transaction() as session:
        obj = await _claim(session, object_id)
        if obj is None:
            return
        await _process_claimed(session, obj)


async def _claim(session: AsyncSession, object_id: int) -> DropzoneObject | None:
    """The pending row, locked for this transaction; None if done or held by another job."""
    obj = await session.scalar(
        select(DropzoneObject)
        .where(DropzoneObject.id == object_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if obj is None or obj.status != ObjectStatus.PENDING:
        return None
    return obj


async def _process_claimed(session: AsyncSession, obj: DropzoneObject) -> None:
    settings = current_settings()
    partner = await session.get_one(Partner, obj.partner_id)
    try:
        outcome = await processing.process(
            session, backends.current(), storage.current(), settings.dropzone, obj, partner
        )
    except processing.ObjectGone:
        obj.status = ObjectStatus.GONE
        obj.processed_at = func.now()
        log.info("dropzone.object_gone", object_id=obj.id, key=obj.key)
        return
    obj.status = ObjectStatus.DONE
    obj.processed_at = func.now()
    obj.run_id, obj.result, obj.report = outcome.run_id, str(outcome.status), outcome.report
    obj.archive_key = outcome.archive_key
    await session.flush()
    await _defer_each(session, archive_object, "archive", [obj.id])
    await _defer_each(session, send_report, "mail", [obj.id])


# --- archive and e-mail ---------------------------------------------------------------------------


@blueprint.task(name="archive_object", retry=RetryStrategy(max_attempts=10, exponential_wait=2))
async def archive_object(object_id: int) -> None:
    """Copy the source to `success/` or `failure/` (dated) and its report to `reports/`."""
    async with db.transaction() as session:
        obj = await session.scalar(
            select(DropzoneObject).where(DropzoneObject.id == object_id).with_for_update()
        )
        if obj is None or obj.archived_at is not None or obj.archive_key is None:
            return
        backend = backends.current()
        if await backend.head(obj.bucket, obj.key) is not None:
            await backend.copy(obj.bucket, obj.key, obj.archive_key)
        report_key = "reports/" + obj.archive_key.partition("/")[2] + ".report.json"
        body = json.dumps(obj.report, ensure_ascii=False).encode()
        await backend.put(obj.bucket, report_key, body, "application/json")
        obj.archived_at = func.now()


@blueprint.task(name="send_report", retry=RetryStrategy(max_attempts=12, exponential_wait=3))
async def send_report(object_id: int) -> None:
    """Send the row's result e-mail once (the row stays locked while sending; SMTP errors
    roll back and the job is retried)."""
    settings = current_settings()
    async with db.transaction() as session:
        obj = await session.scalar(
            select(DropzoneObject).where(DropzoneObject.id == object_id).with_for_update()
        )
        if obj is None or obj.status != ObjectStatus.DONE or obj.mail_status != MailStatus.PENDING:
            return
        partner = await session.get_one(Partner, obj.partner_id)
        if not partner.contact_emails:
            obj.mail_status = MailStatus.NO_RECIPIENT
            log.warning("dropzone.no_recipient", object_id=obj.id, partner_id=partner.partner_id)
            return
        message = report_mail.build(
            settings.mail, obj, env=settings.dropzone.env, recipients=partner.contact_emails
        )
        await mail.current().send(message)
        obj.mail_status = MailStatus.SENT
        obj.mail_sent_at = func.now()
        obj.mail_message_id = report_mail.message_id(obj)
    log.info("dropzone.report_sent", object_id=object_id)


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
        for job, task, find in (
            ("process", process_object, ledger.stuck_processing),
            ("archive", archive_object, ledger.stuck_archive),
            ("mail", send_report, ledger.stuck_mail),
        ):
            ids = await find(session, older_than=recovery_age)
            counts["requeued"] += await _defer_each(session, task, job, ids)
    if counts["registered"] or counts["requeued"]:
        log.info("dropzone.sweep", **counts)
    return counts


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="sweep_buckets", queueing_lock="dropzone:sweep")
async def sweep_buckets(timestamp: int) -> None:
    """Every minute: the completeness net under the (at-least-once, sometimes lost) events."""
    await sweep()
