"""Drop zone: partner buckets, the object ledger, event checkpoints

Revision ID: 0004_dropzone
Revises: 0003_loaders
Create Date: 2026-11-22 20:00:00

`dropzone_object_bucket_key_etag_key` makes every object version enter the ledger once, whatever
delivers it (S3 events, at least once and unordered, or the periodic sweep).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_dropzone"
down_revision: str | None = "0003_loaders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dropzone_bucket",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("backend", sa.Text(), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("access_key_id", sa.Text(), nullable=True),
        sa.Column("credentials_rotated_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["loader_partner.id"],
            name=op.f("dropzone_bucket_partner_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("dropzone_bucket_pkey")),
        sa.UniqueConstraint("bucket", name=op.f("dropzone_bucket_bucket_key")),
        sa.UniqueConstraint("partner_id", name=op.f("dropzone_bucket_partner_id_key")),
    )
    op.create_table(
        "dropzone_object",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("uploaded_at", _TS, nullable=True),
        sa.Column("seen_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("processed_at", _TS, nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("archive_key", sa.Text(), nullable=True),
        sa.Column("archived_at", _TS, nullable=True),
        sa.Column("mail_status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("mail_sent_at", _TS, nullable=True),
        sa.Column("mail_message_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'gone')", name=op.f("dropzone_object_status_check")
        ),
        sa.CheckConstraint(
            "mail_status IN ('pending', 'sent', 'no_recipient')",
            name=op.f("dropzone_object_mail_status_check"),
        ),
        sa.CheckConstraint(
            "source IN ('event', 'sweep', 'admin')", name=op.f("dropzone_object_source_check")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["loader_partner.id"],
            name=op.f("dropzone_object_partner_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loader_run.id"],
            name=op.f("dropzone_object_run_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("dropzone_object_pkey")),
        sa.UniqueConstraint(
            "bucket", "key", "etag", name=op.f("dropzone_object_bucket_key_etag_key")
        ),
    )
    op.create_index(
        "ix_dropzone_object_partner_seen",
        "dropzone_object",
        ["partner_id", sa.text("seen_at DESC")],
    )
    op.create_index(
        "ix_dropzone_object_pending",
        "dropzone_object",
        ["status"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "dropzone_checkpoint",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("dropzone_checkpoint_pkey")),
    )


def downgrade() -> None:
    op.drop_table("dropzone_checkpoint")
    op.drop_index("ix_dropzone_object_pending", table_name="dropzone_object")
    op.drop_index("ix_dropzone_object_partner_seen", table_name="dropzone_object")
    op.drop_table("dropzone_object")
    op.drop_table("dropzone_bucket")
