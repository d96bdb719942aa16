"""The ledger of objects seen in partner buckets: idempotent inserts and the recovery queries.

Every detection path (SQS, SeaweedFS metadata log, sweep, admin rescan) ends in `insert`, an
INSERT … ON CONFLICT (bucket, key, etag) DO NOTHING: only the first sighting of an object version
creates a row (and, in `tasks.record_sightings`, wakes the job that drains its bucket, in the same
transaction). The pending rows are the work queue: `claim` takes a batch of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.partners.dropzone.backends import is_inbound_key
from guichet.partners.dropzone.dataplane import clean_etag
from guichet.partners.dropzone.models import (
    DropzoneBucket,
    DropzoneObject,
    MailStatus,
    ObjectStatus,
)

MAX_PROCESS_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Sighting:
    """An object version reported by some source."""

    bucket: str
    key: str
    etag: str
    size: int | None = None
    uploaded_at: dt.datetime | None = None


_INSERT = text(
    """
    INSERT INTO dropzone_object (partner_id, bucket, key, etag, size, uploaded_at, source)
    SELECT b.partner_id, s.bucket, s.key, s.etag, s.size, s.uploaded_at, :source
      FROM unnest(CAST(:buckets AS text[]), CAST(:keys AS text[]), CAST(:etags AS text[]),
                  CAST(:sizes AS bigint[]), CAST(:uploaded AS timestamptz[]))
           AS s(bucket, key, etag, size, uploaded_at)
      JOIN dropzone_bucket b ON b.bucket = s.bucket
    ON CONFLICT (bucket, key, etag) DO NOTHING
    RETURNING id, bucket
    """
)


@dataclass(frozen=True, slots=True)
class Created:
    """A ledger row just created: an object version never seen before."""

    id: int
    bucket: str


async def insert(
    session: AsyncSession, sightings: Sequence[Sighting], source: str
) -> list[Created]:
    """The rows created (objects never seen before, in known buckets, inbound keys), by id."""
    unique = {
        (s.bucket, s.key, clean_etag(s.etag)): s
        for s in sightings
        if is_inbound_key(s.key) and s.etag
    }
    if not unique:
        return []
    rows = list(unique.items())
    result = await session.execute(
        _INSERT,
        {
            "buckets": [bucket for (bucket, _, _), _ in rows],
            "keys": [key for (_, key, _), _ in rows],
            "etags": [etag for (_, _, etag), _ in rows],
            "sizes": [s.size for _, s in rows],
            "uploaded": [s.uploaded_at for _, s in rows],
            "source": source,
        },
    )
    return sorted((Created(row.id, row.bucket) for row in result), key=lambda c: c.id)


async def buckets(session: AsyncSession) -> list[str]:
    return list(
        await session.scalars(select(DropzoneBucket.bucket).order_by(DropzoneBucket.bucket))
    )


async def stuck_buckets(session: AsyncSession, *, older_than: dt.timedelta) -> list[str]:
    """Buckets with pending rows that may have lost their job (its worker was killed, or the
    file failed and waits for its retry): to drain again."""
    result = await session.scalars(
        select(DropzoneObject.bucket)
        .where(
            DropzoneObject.status == ObjectStatus.PENDING,
            DropzoneObject.attempts < MAX_PROCESS_ATTEMPTS,
            DropzoneObject.seen_at <= text("now() - CAST(:age AS interval)"),
        )
        .distinct()
        .order_by(DropzoneObject.bucket),
        {"age": older_than},
    )
    return list(result)


async def has_pending(session: AsyncSession) -> bool:
    """True while some object waits to be processed (and may still be)."""
    found = await session.scalar(
        select(DropzoneObject.id)
        .where(
            DropzoneObject.status == ObjectStatus.PENDING,
            DropzoneObject.attempts < MAX_PROCESS_ATTEMPTS,
        )
        .limit(1)
    )
    return found is not None


async def stuck_mail(session: AsyncSession, *, older_than: dt.timedelta) -> list[int]:
    result = await session.scalars(
        select(DropzoneObject.id)
        .where(
            DropzoneObject.status == ObjectStatus.DONE,
            DropzoneObject.mail_status == MailStatus.PENDING,
            DropzoneObject.processed_at <= text("now() - CAST(:age AS interval)"),
        )
        .order_by(DropzoneObject.id)
        .limit(1000),
        {"age": older_than},
    )
    return list(result)


async def stuck_archive(session: AsyncSession, *, older_than: dt.timedelta) -> list[int]:
    result = await session.scalars(
        select(DropzoneObject.id)
        .where(
            DropzoneObject.status == ObjectStatus.DONE,
            DropzoneObject.archived_at.is_(None),
            DropzoneObject.archive_key.is_not(None),  # None: a key never read, not archived
            DropzoneObject.processed_at <= text("now() - CAST(:age AS interval)"),
        )
        .order_by(DropzoneObject.id)
        .limit(1000),
        {"age": older_than},
    )
    return list(result)


# --- the work queue -------------------------------------------------------------------------------

# Advisory-lock namespace of "new rows in this bucket" (second key: hashtext(bucket)).
BUCKET_LOCK_NAMESPACE = 0x647A  # "dz"

_SHARE_BUCKET = text("SELECT pg_advisory_xact_lock_shared(:ns, hashtext(:bucket))")
_OWN_BUCKET = text("SELECT pg_advisory_xact_lock(:ns, hashtext(:bucket))")

# A row claimed this recently is being processed by someone else (or was just retried).
CLAIM_FRESH = dt.timedelta(seconds=2)

_CLAIM = text(
    """
    UPDATE dropzone_object SET attempts = attempts + 1, started_at = now()
     WHERE id IN (SELECT id FROM dropzone_object
                   WHERE bucket = :bucket AND status = 'pending' AND attempts < :max_attempts
                     AND id <> ALL(CAST(:exclude AS bigint[]))
                     AND (started_at IS NULL OR started_at < now() - CAST(:fresh AS interval))
                   ORDER BY id LIMIT :limit
                   FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)


async def announce(session: AsyncSession, buckets: Sequence[str]) -> None:
    """Called by a transaction that adds pending rows to these buckets, before it wakes their
    drain job: a drain's last claim waits for this transaction to commit (see `claim`)."""
    for bucket in sorted(set(buckets)):  # one order for every transaction: no deadlock
        await session.execute(_SHARE_BUCKET, {"ns": BUCKET_LOCK_NAMESPACE, "bucket": bucket})


async def claim(
    session: AsyncSession, bucket: str, *, limit: int, exclude: Sequence[int] = ()
) -> list[int]:
    """Take up to `limit` pending rows of `bucket` (oldest first) and count an attempt on each;
    the caller commits at once, so that the attempt counts even if its worker then dies.

    The bucket lock makes the last, empty claim of a drain wait for every transaction that
    announced new rows: such rows are either seen here or woke another drain job after this
    one, never left waiting for the sweep."""
    await session.execute(_OWN_BUCKET, {"ns": BUCKET_LOCK_NAMESPACE, "bucket": bucket})
    result = await session.scalars(
        _CLAIM,
        {
            "bucket": bucket,
            "max_attempts": MAX_PROCESS_ATTEMPTS,
            "exclude": list(exclude),
            "fresh": CLAIM_FRESH,
            "limit": limit,
        },
    )
    return sorted(result)
