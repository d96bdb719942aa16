"""ORM tables of the drop zone: each partner's bucket and write-only credentials, the ledger of
objects seen in the buckets (one row per object version), and event-stream checkpoints.

`dropzone_object` is unique per (bucket, key, etag): S3 events (at least once, unordered) and
the sweep all insert with ON CONFLICT DO NOTHING, and only the insert that creates the row defers
the processing job, in the same transaction. That constraint is what makes every object version
processed, integrated and e-mailed once.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from guichet.core.db import Base


class ObjectStatus(enum.StrEnum):
    PENDING = "pending"  # seen, not processed yet (or its processing crashed: retried)
    DONE = "done"  # processed: `run_id`, `result` and `report` are set
    GONE = "gone"  # deleted from the bucket before it could be read


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    NO_RECIPIENT = "no_recipient"  # the partner has no contact address


class Source(enum.StrEnum):
    EVENT = "event"
    SWEEP = "sweep"
    ADMIN = "admin"


def _in(values: type[enum.StrEnum]) -> str:
    return "IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class DropzoneBucket(Base):
    """A partner's bucket and its current write-only credentials (the secret is never kept)."""

    __tablename__ = "dropzone_bucket"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("loader_partner.id", ondelete="CASCADE"), unique=True
    )
    bucket: Mapped[str] = mapped_column(Text, unique=True)
    backend: Mapped[str] = mapped_column(Text)
    identity: Mapped[str] = mapped_column(Text)
    """SeaweedFS user / IAM user name holding the partner's key."""
    access_key_id: Mapped[str | None] = mapped_column(Text)
    """None once revoked."""
    credentials_rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DropzoneObject(Base):
    """One object version found in a partner bucket: the ledger row that drives its processing,
    its archive copy and its single e-mail."""

    __tablename__ = "dropzone_object"
    __table_args__ = (
        UniqueConstraint("bucket", "key", "etag"),
        CheckConstraint(f"status {_in(ObjectStatus)}", name="status"),
        CheckConstraint(f"mail_status {_in(MailStatus)}", name="mail_status"),
        CheckConstraint(f"source {_in(Source)}", name="source"),
        Index("ix_dropzone_object_partner_seen", "partner_id", text("seen_at DESC")),
        Index("ix_dropzone_object_pending", "status", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("loader_partner.id", ondelete="CASCADE"))
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(Text)
    """Without quotes (`"…"` in S3 listings, bare in S3 events)."""
    size: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("loader_run.id", ondelete="SET NULL")
    )
    result: Mapped[str | None] = mapped_column(Text)
    """SUCCESS, PARTIAL_SUCCESS, ERROR or REJECTED."""
    report: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    archive_key: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    mail_status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    mail_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    mail_message_id: Mapped[str | None] = mapped_column(Text)


class DropzoneCheckpoint(Base):
    """Where an event stream (the SeaweedFS metadata log) was last read up to."""

    __tablename__ = "dropzone_checkpoint"

    source: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# The table itself, for the Core statements that update a whole batch of rows at once.
dropzone_object_table = cast(Table, DropzoneObject.__table__)
