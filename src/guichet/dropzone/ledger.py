"""The ledger of objects seen in partner buckets: idempotent inserts and the recovery queries.

Every detection path (SQS, SeaweedFS metadata log, sweep, admin rescan) ends in `insert`, an
INSERT … ON CONFLICT (bucket, key, etag) DO NOTHING: only the first sighting of an object version
creates a row (and, in `tasks.intake`, the job that processes it, in the same transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.dropzone.backends import clean_etag, is_inbound_key
from guichet.dropzone.models import DropzoneBucket, DropzoneObject, MailStatus, ObjectStatus

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
    RETURNING id
    """
)


async def insert(session: AsyncSession, sightings: Sequence[Sighting], source: str) -> list[int]:
    """Ids of the rows created (objects never seen before, in known buckets, inbound keys)."""
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
    return sorted(result.scalars())


async def buckets(session: AsyncSession) -> list[str]:
    return list(
        await session.scalars(select(DropzoneBucket.bucket).order_by(DropzoneBucket.bucket))
    )


async def stuck_processing(session: AsyncSession, *, older_than: dt.timedelta) -> list[int]:
    """Pending rows that may have lost their job (its worker was killed): to defer again."""
    result = await session.scalars(
        select(DropzoneObject.id)
        .where(
            DropzoneObject.status == ObjectStatus.PENDING,
            DropzoneObject.attempts < MAX_PROCESS_ATTEMPTS,
            DropzoneObject.seen_at <= text("now() - CAST(:age AS interval)"),
        )
        .order_by(DropzoneObject.id)
        .limit(1000),
        {"age": older_than},
    )
    return list(result)


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
            DropzoneObject.processed_at <= text("now() - CAST(:age AS interval)"),
        )
        .order_by(DropzoneObject.id)
        .limit(1000),
        {"age": older_than},
    )
    return list(result)
