"""ORM tables of the partner loaders: partners, accounts, runs, integrated records, documents.

Integrated objects live in one table, `loader_record`, keyed by (partner, model, external id)
with a unique constraint: that constraint (INSERT … ON CONFLICT DO NOTHING) is what makes a file
posted twice, even concurrently, integrate once. Links between records are foreign keys with
ON DELETE CASCADE, so deleting a property (``remove: "R"``) deletes everything under it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from guichet.core.db import Base
from guichet.loader import Model


class RunStatus(enum.StrEnum):
    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    ERROR = "ERROR"
    REJECTED = "REJECTED"  # the whole file was refused (a 400 KO answer)


class Channel(enum.StrEnum):
    REST = "rest"
    S3 = "s3"


class DocumentStatus(enum.StrEnum):
    PENDING = "pending"
    FETCHED = "fetched"
    FAILED = "failed"


RECORD_MODELS = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.TRANSACTIONS,
    Model.DOCUMENTS,
)


def _in(values: tuple[str, ...] | type[enum.StrEnum]) -> str:
    return "IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Partner(Base):
    """A B2B partner allowed to deposit loader files (`inigPtynm` + API key)."""

    __tablename__ = "loader_partner"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partner_id: Mapped[str] = mapped_column(Text, unique=True)
    """`inigPtynm`, as the partner writes it in every file."""
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary)
    """SHA-256 of the API key (a 190-bit random secret: no salt or slow hash needed)."""
    key_hint: Mapped[str] = mapped_column(Text)
    """The key's last 4 characters, to tell keys apart in listings."""
    contact_emails: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    key_rotated_at: Mapped[dt.datetime] = _now()
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Account(Base):
    """An end user's account. A client entry finds it by e-mail (or creates it); a flat file
    goes to its partner's own account (``owner_partner_id``)."""

    __tablename__ = "loader_account"
    __table_args__ = (
        CheckConstraint("(email IS NULL) <> (owner_partner_id IS NULL)", name="one_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str | None] = mapped_column(Text, unique=True)
    """Trimmed and case-folded: the identity shared by partners and the platform."""
    owner_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("loader_partner.id", ondelete="CASCADE"), unique=True
    )
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    phone_number: Mapped[str | None] = mapped_column(Text)
    created_by_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("loader_partner.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = _now()


class Run(Base):
    """One file received on one channel: what came in, what it became, what was answered."""

    __tablename__ = "loader_run"
    __table_args__ = (
        CheckConstraint(f"status {_in(RunStatus)}", name="status"),
        CheckConstraint(f"channel {_in(Channel)}", name="channel"),
        Index("ix_loader_run_partner_received", "partner_id", text("received_at DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("loader_partner.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failed_count: Mapped[int] = mapped_column(Integer)
    tally: Mapped[dict[str, dict[str, int]]] = mapped_column(JSONB)
    """Outcomes per model (created, already_known, removed, invalid, failed)."""
    report: Mapped[dict[str, object]] = mapped_column(JSONB)
    """The body sent back (§5.1: the 200 report or the 400 KO body)."""
    source_key: Mapped[str] = mapped_column(Text)
    source_size: Mapped[int] = mapped_column(BigInteger)
    source_sha256: Mapped[str] = mapped_column(Text)


class Record(Base):
    """One integrated partner object (declarant, property, associate, transaction, document)."""

    __tablename__ = "loader_record"
    __table_args__ = (
        UniqueConstraint("partner_id", "model", "external_id"),
        CheckConstraint(f"model {_in(RECORD_MODELS)}", name="model"),
        # Listing a partner's records per model, newest first (operators).
        Index("ix_loader_record_partner_model_id", "partner_id", "model", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("loader_partner.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("loader_account.id", ondelete="CASCADE"), index=True
    )
    declarant_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("loader_record.id", ondelete="CASCADE"), index=True
    )
    property_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("loader_record.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    """The run that created the record. No foreign key on purpose: it is written once, with the
    run, in the same transaction, and a fifth per-row FK trigger costs ~0.5 s per 100,000 rows."""
    data: Mapped[dict[str, object]] = mapped_column(JSONB)
    """The object as sent (nested arrays left out: their members are records of their own)."""
    created_at: Mapped[dt.datetime] = _now()


class Document(Base):
    """The file behind a document record's `fileLink`, fetched into the blob store by a job."""

    __tablename__ = "loader_document"
    __table_args__ = (CheckConstraint(f"status {_in(DocumentStatus)}", name="status"),)

    record_id: Mapped[int] = mapped_column(
        ForeignKey("loader_record.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    blob_key: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
