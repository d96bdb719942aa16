"""Tables of revision diffs and of the current-revision changes feed (issue #15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from guichet.core.db import Base
from guichet.depot.models import ID, new_id


class RevisionDiff(Base):
    """A revision compared with another of its commune (`against_id`), or with nothing (None:
    the commune had no current revision). `is_default`: the comparison `GET
    /revisions/{id}/diff` answers without `against` — with the current revision when it was
    computed, which for a published revision is the one it replaced."""

    __tablename__ = "depot_revision_diff"
    __table_args__ = (
        UniqueConstraint(
            "revision_id", "against_id", name="uq_depot_revision_diff_pair",
            postgresql_nulls_not_distinct=True,
        ),
        Index(
            "uq_depot_revision_diff_default", "revision_id", unique=True,
            postgresql_where=text("is_default"),
        ),
    )  # fmt: skip

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    revision_id: Mapped[str] = mapped_column(
        ID, ForeignKey("depot_revision.id", ondelete="CASCADE")
    )
    against_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("depot_revision.id", ondelete="CASCADE")
    )
    is_default: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)
    total: Mapped[int] = mapped_column(Integer)
    details_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CurrentChange(Base):
    """One change of a commune's current revision, in commit order (`seq`: the feed's cursor).
    Rows are inserted under one transaction-level advisory lock held until commit, so that a
    row never becomes visible after one with a higher `seq`."""

    __tablename__ = "depot_current_change"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    code_commune: Mapped[str] = mapped_column(Text)
    revision_id: Mapped[str] = mapped_column(
        ID, ForeignKey("depot_revision.id", ondelete="CASCADE"), unique=True
    )
    previous_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("depot_revision.id", ondelete="SET NULL")
    )
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
