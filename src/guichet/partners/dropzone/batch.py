"""One batch of a drain, inside the caller's transaction: lock the claimed rows still pending,
download them concurrently, process them, and record how each ended with one statement for the
whole batch.

Processing is optimistic: the whole batch runs under one savepoint, its runs inserted by one
statement and its sources stored together, which is the common case. If any file meets an
error there (a database error in a client entry, a bug), that savepoint is rolled back and the
batch is redone file by file, each file in its own savepoint and each client entry in its own:
a failing entry fails alone (as on the REST endpoint), a failing file is left pending for a
later retry, and neither undoes the others. A redone file keeps its run id, so its stored
source is overwritten, not left behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import storage
from guichet.core.config import Settings
from guichet.core.logging import get_logger
from guichet.partners import intake
from guichet.partners import registry as loader_partners
from guichet.partners.dropzone import backends, processing
from guichet.partners.dropzone.models import DropzoneObject, ObjectStatus, dropzone_object_table
from guichet.partners.models import Partner

log = get_logger(__name__)

# Downloads of one batch in flight at once; bodies up to PREFETCH_BYTES are read ahead.
DOWNLOADS = 8
PREFETCH_BYTES = 1024 * 1024


@dataclass
class Batch:
    """What became of a batch's rows."""

    ended: list[Result] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # rolled back, still pending

    @property
    def processed(self) -> list[int]:
        """Rows DONE: to e-mail and archive (GONE rows are only recorded)."""
        return [r.object_id for r in self.ended if r.status is ObjectStatus.DONE]


async def process(session: AsyncSession, ids: list[int], settings: Settings) -> Batch:
    """Process the claimed rows `ids` still pending (all of one bucket, so of one partner)."""
    batch = Batch()
    rows = await _lock_pending(session, ids)
    if not rows:
        return batch
    partner = await _partner(session, rows[0].partner_id)
    context = await loader_partners.depositor(session, partner)
    run_ids = {obj.id: uuid.uuid4() for obj in rows}
    prefetched = _prefetch(rows, settings)
    try:
        try:
            results = await _all_at_once(session, rows, context, prefetched, settings, run_ids)
        except Exception:
            log.warning("dropzone.batch_redone", files=len(rows), exc_info=True)
            results = [
                await _one_by_one(session, obj, context, prefetched, settings, run_ids[obj.id])
                for obj in rows
            ]
    finally:
        for task in prefetched.values():
            task.cancel()
    for obj, result in zip(rows, results, strict=True):
        if result is None:
            batch.failed.append(obj.id)
        else:
            batch.ended.append(result)
    if batch.ended:
        await session.execute(_RECORD_RESULT, [result.params() for result in batch.ended])
    return batch


@dataclass(frozen=True, slots=True)
class Result:
    """How one row ends (recorded for the whole batch with one statement)."""

    object_id: int
    status: ObjectStatus
    outcome: processing.Processed | None = None

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


_RECORD_RESULT = (
    update(dropzone_object_table)
    .where(dropzone_object_table.c.id == bindparam("object_id"))
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


def _prefetch(rows: Sequence[DropzoneObject], settings: Settings) -> Prefetch:
    """Start downloading the batch's small objects (at most DOWNLOADS at once); larger or
    unknown-size ones are read when their turn comes, so memory stays bounded."""
    backend, dropzone = backends.current(), settings.dropzone
    gate = asyncio.Semaphore(DOWNLOADS)

    async def fetch(obj: DropzoneObject) -> processing.Download:
        async with gate:
            return await processing.download(backend, dropzone, obj)

    started: Prefetch = {}
    for obj in rows:
        if obj.size is not None and obj.size <= PREFETCH_BYTES:
            task = asyncio.ensure_future(fetch(obj))
            # A download left unawaited (its batch failed first) must not log "never retrieved".
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            started[obj.id] = task
    return started


async def _downloaded(
    obj: DropzoneObject, prefetched: Prefetch, settings: Settings
) -> processing.Download | Result | None:
    """The row's download, or how it ends without one: GONE, or None (S3 trouble: left
    pending)."""
    task = prefetched.get(obj.id)
    try:
        if task is not None:
            return await task
        return await processing.download(backends.current(), settings.dropzone, obj)
    except processing.ObjectGone:
        log.info("dropzone.object_gone", object_id=obj.id, key=obj.key)
        return Result(obj.id, ObjectStatus.GONE)
    except Exception:
        log.exception("dropzone.object_failed", object_id=obj.id, attempts=obj.attempts)
        return None


async def _all_at_once(
    session: AsyncSession,
    rows: Sequence[DropzoneObject],
    context: intake.Depositor,
    prefetched: Prefetch,
    settings: Settings,
    run_ids: dict[int, uuid.UUID],
) -> list[Result | None]:
    """Every row under one savepoint, runs and small sources written together; raises (rolled
    back) if any file's processing does."""
    recorder = intake.Recorder(session, storage.current(), batched=True)
    results: list[Result | None] = []
    async with session.begin_nested():
        for obj in rows:
            download = await _downloaded(obj, prefetched, settings)
            if not isinstance(download, processing.Download):
                results.append(download)
                continue
            outcome = await processing.process(
                recorder, settings.dropzone, obj, context, download, run_ids[obj.id]
            )
            results.append(Result(obj.id, ObjectStatus.DONE, outcome))
        await recorder.flush()
    return results


async def _one_by_one(
    session: AsyncSession,
    obj: DropzoneObject,
    context: intake.Depositor,
    prefetched: Prefetch,
    settings: Settings,
    run_id: uuid.UUID,
) -> Result | None:
    """One row in its own savepoint: how it ends, or None if it failed (rolled back, left
    pending)."""
    download = await _downloaded(obj, prefetched, settings)
    if not isinstance(download, processing.Download):
        return download
    try:
        async with session.begin_nested():
            recorder = intake.Recorder(session, storage.current())
            outcome = await processing.process(
                recorder, settings.dropzone, obj, context, download, run_id
            )
    except Exception:
        log.exception("dropzone.object_failed", object_id=obj.id, attempts=obj.attempts)
        return None
    return Result(obj.id, ObjectStatus.DONE, outcome)
