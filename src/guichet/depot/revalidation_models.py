"""ORM tables of the re-validation of every current revision (`guichet depot revalidate`).

One run per validator version (`depot_revalidation`, unique on the version) and one check per
current revision and validator version (`depot_revalidation_check`, unique on the pair): the
database, not the code, makes "each revision validated once per validator version" hold, however
many times the run is started and however many workers take its jobs.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from guichet.core.db import Base
from guichet.depot.models import new_id


class RevalidationStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"


class CheckStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # the file could not be validated (blob missing, validator crashed)


def _in(values: type[enum.StrEnum]) -> str:
    return "IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class Revalidation(Base):
    """A re-validation of every current revision by one validator version.

    `remaining` counts the checks still pending: each check that leaves `pending` decrements it
    in its own transaction (a row lock serializes them), and the one that brings it to zero
    marks the run done — no count over the checks, no race between the last two jobs.
    """

    __tablename__ = "depot_revalidation"
    __table_args__ = (
        CheckConstraint(f"status {_in(RevalidationStatus)}", name="status"),
        CheckConstraint("remaining >= 0 AND remaining <= revisions", name="remaining"),
        UniqueConstraint("validator_version"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_id)
    validator_version: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'running'"))
    revisions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    remaining: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # How many times it was started (1 + the resumptions): the CLI and the API say so.
    starts: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RevalidationCheck(Base):
    """One current revision validated again: the stored verdict (`before`), the new one
    (`after`) and what changed between them (`changes`, None when nothing did)."""

    __tablename__ = "depot_revalidation_check"
    __table_args__ = (
        CheckConstraint(f"status {_in(CheckStatus)}", name="status"),
        UniqueConstraint("revision_id", "validator_version"),
        Index("ix_depot_revalidation_check_revalidation_id_status", "revalidation_id", "status"),
        # The report lists the changed communes in commune order, page by page.
        Index(
            "ix_depot_revalidation_check_changed",
            "revalidation_id",
            "code_commune",
            postgresql_where=text("changed OR status = 'failed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    revalidation_id: Mapped[str] = mapped_column(
        ForeignKey("depot_revalidation.id", ondelete="CASCADE")
    )
    revision_id: Mapped[str] = mapped_column(ForeignKey("depot_revision.id", ondelete="CASCADE"))
    validator_version: Mapped[str] = mapped_column(Text)
    code_commune: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    size: Mapped[int | None] = mapped_column(BigInteger)  # bytes validated
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
