"""What changed between revisions (issue #15): stored diffs and the current-revision changes feed.

A revision's *default* diff compares it with the commune's current revision at the time it was
computed (for a published revision: the one it replaced); compute defers a job that stores it
(`diff_tasks`), so that `GET /revisions/{id}/diff` is a read. Any other pair (`?against=`) is
computed on first request, in the compute pool, and stored too. A revision's file is attached
once and never replaced: a stored diff never goes stale.

The feed: every publish inserts one `CurrentChange` row under a transaction-level advisory lock
held until commit, so rows become visible in `seq` order and a consumer that keeps the last
`seq` it read as its cursor never misses a change and never gets one twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.bal import BalDiff, UnreadableBalError
from guichet.core.errors import BadRequest, Conflict
from guichet.core.storage import BlobNotFound, BlobStore, get_bytes, put_bytes
from guichet.depot import compute, diff_compute, errors, service
from guichet.depot.diff_compute import StoredDiff
from guichet.depot.diff_models import CurrentChange, RevisionDiff
from guichet.depot.models import Revision, RevisionStatus, new_id

# pg_advisory_xact_lock key of the feed ("guichet feed" as an int64): held from the insert of a
# change to the commit of its publish, it makes commit order the `seq` order.
FEED_LOCK = 0x6775696368657446

Compute = Callable[[bytes | None, bytes], Awaitable[StoredDiff]]

# The mass-deletion rules of compute (`publication.DELETE_*`), whose report names the removed
# addresses.
MASS_DELETION = frozenset({"rows.delete_too_many_addresses", "rows.delete_many_addresses"})


class DiffAgainstInvalid(BadRequest):
    def __init__(self, against_id: str, code_commune: str) -> None:
        super().__init__(
            f"La révision {against_id} n’est pas une autre révision de la commune {code_commune}"
        )


class CursorInvalid(BadRequest):
    default_message = "Le curseur est invalide"


class DiffImpossible(Conflict):
    default_message = "Les fichiers de ces révisions ne peuvent pas être comparés"


async def in_pool(old: bytes | None, new: bytes) -> StoredDiff:
    """The diff computed in the compute pool: never on an API process's event loop (a big
    pair takes seconds of CPU)."""
    return await compute.pool.run(diff_compute.compute, old, new)


# --- the feed -------------------------------------------------------------------------------


async def record_change(session: AsyncSession, revision: Revision, previous_id: str | None) -> None:
    """The commune's current revision became `revision` (in the publish's transaction)."""
    await session.execute(select(func.pg_advisory_xact_lock(FEED_LOCK)))
    assert revision.published_at is not None
    session.add(
        CurrentChange(
            code_commune=revision.code_commune,
            revision_id=revision.id,
            previous_id=previous_id,
            published_at=revision.published_at,
        )
    )
    await session.flush()


async def changes_since(
    session: AsyncSession, since: int, limit: int
) -> list[tuple[CurrentChange, dict[str, Any] | None]]:
    """Changes after `since` in commit order, each with its default diff's summary (None while
    the diff job has not run)."""
    rows = await session.execute(
        select(CurrentChange, RevisionDiff.summary)
        .outerjoin(
            RevisionDiff,
            (RevisionDiff.revision_id == CurrentChange.revision_id) & RevisionDiff.is_default,
        )
        .where(CurrentChange.seq > since)
        .order_by(CurrentChange.seq)
        .limit(limit)
    )
    return [(change, summary) for change, summary in rows]


async def last_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(CurrentChange.seq), 0))) or 0)


# --- stored diffs ---------------------------------------------------------------------------


async def default_against(session: AsyncSession, revision: Revision) -> str | None:
    """What the default diff compares `revision` with: the revision it replaced (published),
    else the commune's current revision (None: nothing)."""
    if revision.status == RevisionStatus.PUBLISHED:
        change = await session.scalar(
            select(CurrentChange).where(CurrentChange.revision_id == revision.id)
        )
        return change.previous_id if change is not None else None
    current = await service.current_revision(session, revision.code_commune)
    return current.id if current is not None and current.id != revision.id else None


async def find(
    session: AsyncSession, revision_id: str, against_id: str | None
) -> RevisionDiff | None:
    found: RevisionDiff | None = await session.scalar(
        select(RevisionDiff).where(
            RevisionDiff.revision_id == revision_id,
            RevisionDiff.against_id.is_not_distinct_from(against_id),
        )
    )
    return found


async def file_bytes(session: AsyncSession, store: BlobStore, revision_id: str) -> bytes:
    file = await service.get_file(session, revision_id)
    if file is None:
        raise errors.NoBalFile(revision_id)
    try:
        return await get_bytes(store, file.blob_key)
    except BlobNotFound:
        raise errors.BlobMissing() from None


async def compute_and_store(
    session: AsyncSession,
    store: BlobStore,
    run: Compute,
    *,
    revision_id: str,
    against_id: str | None,
    default: bool,
) -> RevisionDiff:
    """The stored diff of the pair, computed and stored if missing (idempotent: a concurrent
    computation of the same pair stores one row). With `default`, it becomes the revision's
    default diff (replacing another one: the revision was computed again after a publish)."""
    existing = await find(session, revision_id, against_id)
    if existing is None:
        new = await file_bytes(session, store, revision_id)
        old = None if against_id is None else await file_bytes(session, store, against_id)
        try:
            stored = await run(old, new)
        except UnreadableBalError as exc:
            raise DiffImpossible() from exc
        key = f"diffs/{revision_id}/{against_id or 'none'}.json.gz"
        await put_bytes(store, key, stored.details, content_type="application/gzip")
        await session.execute(
            insert(RevisionDiff)
            .values(
                id=new_id(), revision_id=revision_id, against_id=against_id,
                summary=stored.summary, total=stored.total, details_key=key,
            )
            .on_conflict_do_nothing(constraint="uq_depot_revision_diff_pair")
        )  # fmt: skip
        existing = await find(session, revision_id, against_id)
        assert existing is not None
    if default and not existing.is_default:
        await session.execute(
            delete(RevisionDiff).where(
                RevisionDiff.revision_id == revision_id, RevisionDiff.is_default
            )
        )
        existing.is_default = True
        await session.flush()
    return existing


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    diff_id: str
    offset: int

    def encode(self) -> str:
        raw = f"{self.diff_id}:{self.offset}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str, diff_id: str) -> int:
        """The offset a cursor of the diff `diff_id` points at."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            found_id, offset = raw.split(":")
            position = int(offset)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise CursorInvalid() from None
        if found_id != diff_id or position < 0:
            raise CursorInvalid()
        return position


class DetailsCache:
    """The last few diffs read back from their blobs, parsed (a consumer pages through one diff
    with several requests in a row)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[str, BalDiff] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, store: BlobStore, key: str) -> BalDiff:
        async with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = await get_bytes(store, key)
        parsed = await asyncio.to_thread(_parse, data)
        async with self._lock:
            self._items[key] = parsed
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return parsed


def _parse(data: bytes) -> BalDiff:
    return BalDiff.from_json(json.loads(gzip.decompress(data)))


details_cache = DetailsCache()


async def page(
    store: BlobStore, stored: RevisionDiff, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Issue #15's response for one page of a stored diff."""
    offset = 0 if cursor is None else Cursor.decode(cursor, stored.id)
    try:
        found = await details_cache.get(store, stored.details_key)
    except BlobNotFound:
        raise errors.BlobMissing() from None
    chosen = found.page(offset, limit)
    body = chosen.to_json()
    following = chosen.next_offset
    return {
        "revisionId": stored.revision_id,
        "againstId": stored.against_id,
        "summary": stored.summary,
        "adresses": body["adresses"],
        "next": None if following is None else Cursor(stored.id, following).encode(),
    }


async def removed_addresses(
    session: AsyncSession, store: BlobStore, revision: Revision, run: Compute, limit: int
) -> tuple[list[dict[str, str]], int]:
    """The first `limit` addresses `revision` removes from the one it is compared with by
    default, and how many it removes — only under a mass-deletion rule (else none)."""
    validation = revision.validation or {}
    codes = [*(validation.get("errors") or []), *(validation.get("warnings") or [])]
    if not set(codes) & MASS_DELETION:
        return [], 0
    against_id = await default_against(session, revision)
    try:
        stored = await compute_and_store(
            session, store, run, revision_id=revision.id, against_id=against_id, default=True
        )
        found = await details_cache.get(store, stored.details_key)
    except (DiffImpossible, BlobNotFound):
        return [], 0
    await session.commit()
    return list(found.removed[:limit]), len(found.removed)
