"""ORM tables of what follows a publish: what the national base acknowledged, the notices sent
once per revision, the clients' webhook subscriptions and their deliveries.

A subscription's signing secret is stored encrypted (see `guichet.depot.webhooks`): it must be
recoverable to sign, and never readable from a database dump alone. Jobs receive row ids only.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from guichet.core.db import Base
from guichet.depot.models import ID, Client, new_id


class NoticeKind(enum.StrEnum):
    CHAT = "chat"
    TAKEOVER_MAIL = "takeover-mail"


class WebhookEvent(enum.StrEnum):
    PUBLISHED = "revision.published"
    REPLACED = "revision.replaced"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _in(values: type[enum.StrEnum]) -> str:
    return "IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class BanCompose(Base):
    """The last current revision of a commune that the national base acknowledged (a 2xx to
    its compose call). The reconciliation re-sends every commune whose current revision is
    not the one recorded here."""

    __tablename__ = "depot_ban_compose"

    code_commune: Mapped[str] = mapped_column(Text, primary_key=True)
    revision_id: Mapped[str] = mapped_column(ID)
    composed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class PublishNotice(Base):
    """A message sent once for a published revision (team chat, takeover e-mail): a job that
    runs again finds it here and sends nothing."""

    __tablename__ = "depot_publish_notice"
    __table_args__ = (CheckConstraint(f"kind {_in(NoticeKind)}", name="kind"),)

    revision_id: Mapped[str] = mapped_column(
        ForeignKey("depot_revision.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookSubscription(Base):
    """A client's endpoint receiving signed events. `secret` is the current signing secret,
    encrypted; after a rotation `previous_secret` still signs until `previous_expires_at`."""

    __tablename__ = "depot_webhook_subscription"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("depot_client.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONB)
    description: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    client: Mapped[Client] = relationship(lazy="raise")


class WebhookDelivery(Base):
    """One event for one subscription: its id is the `webhook-id` (the same at every attempt,
    so that receivers deduplicate), its body the exact bytes signed at every attempt."""

    __tablename__ = "depot_webhook_delivery"
    __table_args__ = (
        CheckConstraint(f"status {_in(DeliveryStatus)}", name="status"),
        CheckConstraint(f"event {_in(WebhookEvent)}", name="event"),
        Index(
            "ix_depot_webhook_delivery_subscription_id_created_at", "subscription_id", "created_at"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("depot_webhook_subscription.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(Text)
    revision_id: Mapped[str] = mapped_column(ID)
    code_commune: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    # Every attempt: {"at", "statusCode", "error", "durationMs"} (never a header or secret).
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    attempts_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
