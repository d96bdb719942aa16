"""Publication API: what follows a publish (compose acknowledgements, notices) and webhooks

Revision ID: 0006_webhooks
Revises: 0005_habilitations
Create Date: 2026-12-03 16:00:00

`depot_ban_compose` is the national base's acknowledged revision per commune (the
reconciliation compares it with the current one); `depot_publish_notice` keeps the chat message
and takeover e-mail sent once per revision; subscriptions hold their signing secrets encrypted;
a delivery's id is its `webhook-id`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_webhooks"
down_revision: str | None = "0005_habilitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "depot_ban_compose",
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.String(length=24), nullable=False),
        sa.Column("composed_at", _TS, server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("code_commune", name=op.f("depot_ban_compose_pkey")),
    )
    op.create_table(
        "depot_publish_notice",
        sa.Column("revision_id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sent_at", _TS, server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('chat', 'takeover-mail')", name=op.f("depot_publish_notice_kind_check")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["depot_revision.id"],
            name=op.f("depot_publish_notice_revision_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("revision_id", "kind", name=op.f("depot_publish_notice_pkey")),
    )
    op.create_table(
        "depot_webhook_subscription",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("client_id", sa.String(length=24), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_expires_at", _TS, nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", _TS, server_default=_NOW, nullable=False),
        sa.Column("updated_at", _TS, server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["depot_client.id"],
            name=op.f("depot_webhook_subscription_client_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_webhook_subscription_pkey")),
    )
    op.create_index(
        "ix_depot_webhook_subscription_client_id",
        "depot_webhook_subscription",
        ["client_id"],
        unique=False,
    )
    op.create_table(
        "depot_webhook_delivery",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=24), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.String(length=24), nullable=False),
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column(
            "attempts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("attempts_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", _TS, server_default=_NOW, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')",
            name=op.f("depot_webhook_delivery_status_check"),
        ),
        sa.CheckConstraint(
            "event IN ('revision.published', 'revision.replaced')",
            name=op.f("depot_webhook_delivery_event_check"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["depot_webhook_subscription.id"],
            name=op.f("depot_webhook_delivery_subscription_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_webhook_delivery_pkey")),
    )
    op.create_index(
        "ix_depot_webhook_delivery_subscription_id_created_at",
        "depot_webhook_delivery",
        ["subscription_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_depot_webhook_delivery_subscription_id_created_at",
        table_name="depot_webhook_delivery",
    )
    op.drop_table("depot_webhook_delivery")
    op.drop_index(
        "ix_depot_webhook_subscription_client_id", table_name="depot_webhook_subscription"
    )
    op.drop_table("depot_webhook_subscription")
    op.drop_table("depot_publish_notice")
    op.drop_table("depot_ban_compose")
