"""The publication front's diff job (issue #15): a revision's default diff, stored once."""

from __future__ import annotations

import asyncio

from procrastinate import Blueprint, RetryStrategy
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue, services
from guichet.core.logging import get_logger
from guichet.depot import diff_compute, diffs

log = get_logger(__name__)

blueprint = Blueprint()


async def _in_thread(old: bytes | None, new: bytes) -> diff_compute.StoredDiff:
    # A worker runs few jobs at once: a thread is enough (the API uses its process pool).
    return await asyncio.to_thread(diff_compute.compute, old, new)


@blueprint.task(name="diff_revision", retry=RetryStrategy(max_attempts=5, exponential_wait=2))
async def diff_revision(revision_id: str, against_id: str | None) -> None:
    """Store `revision_id`'s default diff against `against_id` (None: against nothing).
    Idempotent: an existing diff of the pair is only marked as the default."""
    built = services.current()
    async with built.transaction() as session:
        try:
            stored = await diffs.compute_and_store(
                session, built.blob_store, _in_thread,
                revision_id=revision_id, against_id=against_id, default=True,
            )  # fmt: skip
        except diffs.DiffImpossible:
            log.info("depot.diff_impossible", revision_id=revision_id, against_id=against_id)
            return
    log.info("depot.diff_stored", revision_id=revision_id, total=stored.total)


async def defer_default_diff(
    session: AsyncSession, revision_id: str, against_id: str | None
) -> None:
    """Defer the job in the caller's transaction (it runs only if the caller commits)."""
    await queue.defer(session, diff_revision, revision_id=revision_id, against_id=against_id)
