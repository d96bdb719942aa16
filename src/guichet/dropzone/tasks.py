"""Jobs of the drop zone: process an object, then finish it (archive + e-mail its report), and
sweep the buckets.

Each is keyed by the ledger row id (queueing lock `dropzone:<job>:<id>`) and idempotent: the row's
status says what is already done, and the row is locked while a job works on it. Two jobs per
file: `process_object`, then `finish_object` (deferred at a higher priority, so that the e-mail
of a processed file does not wait behind a backlog of files still to process). A job lost with
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
from procrastinate.types import JSONValue
from sqlalchemy import Select, func, select, text
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


FINISH_PRIORITY = 10  # above process_object (0): a processed file's e-mail goes out first


async def _defer_each(
    session: AsyncSession,
    task: Task[..., Any, ...],
    job: str,
    ids: Sequence[int],
    *,
    priority: int | None = None,
) -> int:
    """Defer one job per row (one INSERT for all of them); a row whose job is already waiting
    is skipped (then each is deferred on its own)."""
    if not ids:
        return 0
    with contextlib.suppress(AlreadyEnqueued):
        batch: list[tuple[str | None, dict[str, JSONValue]]] = [
            (lock(job, object_id), {"object_id": object_id}) for object_id in ids
        ]
        return len(await queue.defer_batch(session, task, batch, priority=priority))
    deferred = 0
    for object_id in ids:
        with contextlib.suppress(AlreadyEnqueued):  # one job waiting per row is enough
            await queue.defer(
                session,
                task,
                queueing_lock=lock(job, object_id),
                priority=priority,
                object_id=object_id,
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


_START = text(
    """
    UPDATE dropzone_object SET attempts = attempts + 1, started_at = now()
     WHERE id = (SELECT id FROM dropzone_object
                  WHERE id = :id AND status = 'pending' FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)


@blueprint.task(name="process_object", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
async def process_object(object_id: int) -> None:
    """Process one ledger row (a no-op once done, or while another job holds it)."""
    async with db.transaction() as session:  # the attempt counts even if the worker dies
        if (await session.execute(_START, {"id": object_id})).first() is None:
            return
    async with db.transaction() as session:
        claimed = await _claim(session, object_id)
        if claimed is None:
            return
        await _process_claimed(session, *claimed)


def _with_partner(object_id: int) -> Select[DropzoneObject, Partner]:
    """The ledger row and its partner in one query, the row (only) locked."""
    return (
        select(DropzoneObject, Partner)
        .join(Partner, Partner.id == DropzoneObject.partner_id)
        .where(DropzoneObject.id == object_id)
        .execution_options(populate_existing=True)
    )


async def _claim(session: AsyncSession, object_id: int) -> tuple[DropzoneObject, Partner] | None:
    """The pending row (and its partner), locked for this transaction; None if done or held by
    another job."""
    found = (
        await session.execute(
            _with_partner(object_id).with_for_update(of=DropzoneObject, skip_locked=True)
        )
    ).first()
    if found is None or found[0].status != ObjectStatus.PENDING:
        return None
    return found[0], found[1]


async def _process_claimed(session: AsyncSession, obj: DropzoneObject, partner: Partner) -> None:
    settings = current_settings()
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
    await _defer_each(session, finish_object, "finish", [obj.id], priority=FINISH_PRIORITY)


# --- archive and e-mail ---------------------------------------------------------------------------


@blueprint.task(name="finish_object", retry=RetryStrategy(max_attempts=12, exponential_wait=3))
async def finish_object(object_id: int) -> None:
    """E-mail the row's report, then archive its object: two steps, each in its own transaction
    holding the row lock and each a no-op once recorded, so that neither blocks the other (a
    failing step is retried with the job, the other one is not redone)."""
    failure: Exception | None = None
    try:
        await _mail_step(object_id)  # first: the partner is waiting for it
    except Exception as exc:
        failure = exc
    await _archive_step(object_id)
    if failure is not None:
        raise failure


def _locked(object_id: int) -> Select[DropzoneObject, Partner]:
    return _with_partner(object_id).with_for_update(of=DropzoneObject)


async def _mail_step(object_id: int) -> None:
    """Send the result e-mail once: the row stays locked while sending, an SMTP error rolls back
    (a crash between sending and committing resends it, with the same Message-ID)."""
    settings = current_settings()
    async with db.transaction() as session:
        found = (await session.execute(_locked(object_id))).first()
        if found is None:
            return
        obj, partner = found[0], found[1]
        if obj.status == ObjectStatus.DONE and obj.mail_status == MailStatus.PENDING:
            await _send_report(settings, obj, partner)


async def _archive_step(object_id: int) -> None:
    async with db.transaction() as session:
        obj = await session.scalar(
            select(DropzoneObject).where(DropzoneObject.id == object_id).with_for_update()
        )
        if obj is None:
            return
        if obj.status == ObjectStatus.DONE and obj.archived_at is None and obj.archive_key:
            await _archive(obj)
            obj.archived_at = func.now()


async def _archive(obj: DropzoneObject) -> None:
    """Copy the source to `success/` or `failure/` (dated) and its report to `reports/`."""
    assert obj.archive_key is not None
    backend = backends.current()
    await backend.copy(obj.bucket, obj.key, obj.archive_key)  # False: the source is gone
    report_key = "reports/" + obj.archive_key.partition("/")[2] + ".report.json"
    body = json.dumps(obj.report, ensure_ascii=False).encode()
    await backend.put(obj.bucket, report_key, body, "application/json")


async def _send_report(settings: Settings, obj: DropzoneObject, partner: Partner) -> None:
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
    log.info("dropzone.report_sent", object_id=obj.id)


# Jobs of the previous three-job layout, possibly still queued after an upgrade: same work.
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
        ids = await ledger.stuck_processing(session, older_than=recovery_age)
        counts["requeued"] += await _defer_each(session, process_object, "process", ids)
        unfinished = set(await ledger.stuck_archive(session, older_than=recovery_age))
        unfinished |= set(await ledger.stuck_mail(session, older_than=recovery_age))
        counts["requeued"] += await _defer_each(
            session, finish_object, "finish", sorted(unfinished), priority=FINISH_PRIORITY
        )
    if counts["registered"] or counts["requeued"]:
        log.info("dropzone.sweep", **counts)
    return counts


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="sweep_buckets", queueing_lock="dropzone:sweep")
async def sweep_buckets(timestamp: int) -> None:
    """Every minute: the completeness net under the (at-least-once, sometimes lost) events."""
    await sweep()
