"""Partner loaders: partners, accounts, runs, integrated records, fetched documents

Revision ID: 0003_loaders
Revises: 0002_depot
Create Date: 2026-11-22 19:00:00

A record is unique per (partner, model, external id):
`loader_record_partner_id_model_external_id_key` is what makes a file posted twice (even
concurrently) integrate once. Partners keep only the
SHA-256 of their API key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_loaders"
down_revision: str | None = "0002_depot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loader_partner",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("key_hint", sa.Text(), nullable=False),
        sa.Column(
            "contact_emails",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "key_rotated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loader_partner_pkey")),
        sa.UniqueConstraint("partner_id", name=op.f("loader_partner_partner_id_key")),
    )
    op.create_table(
        "loader_account",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("owner_partner_id", sa.BigInteger(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("phone_number", sa.Text(), nullable=True),
        sa.Column("created_by_partner_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(email IS NULL) <> (owner_partner_id IS NULL)",
            name=op.f("loader_account_one_key_check"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_partner_id"],
            ["loader_partner.id"],
            name=op.f("loader_account_created_by_partner_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_partner_id"],
            ["loader_partner.id"],
            name=op.f("loader_account_owner_partner_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loader_account_pkey")),
        sa.UniqueConstraint("email", name=op.f("loader_account_email_key")),
        sa.UniqueConstraint("owner_partner_id", name=op.f("loader_account_owner_partner_id_key")),
    )
    op.create_table(
        "loader_run",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("tally", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("source_size", sa.BigInteger(), nullable=False),
        sa.Column("source_sha256", sa.Text(), nullable=False),
        sa.CheckConstraint("channel IN ('rest', 's3')", name=op.f("loader_run_channel_check")),
        sa.CheckConstraint(
            "status IN ('SUCCESS', 'PARTIAL_SUCCESS', 'ERROR', 'REJECTED')",
            name=op.f("loader_run_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["loader_partner.id"],
            name=op.f("loader_run_partner_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loader_run_pkey")),
    )
    op.create_index(
        "ix_loader_run_partner_received",
        "loader_run",
        ["partner_id", sa.literal_column("received_at DESC")],
        unique=False,
    )
    op.create_table(
        "loader_record",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("declarant_record_id", sa.BigInteger(), nullable=True),
        sa.Column("property_record_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "model IN ('declarants', 'properties', 'associates', 'transactions', 'documents')",
            name=op.f("loader_record_model_check"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loader_account.id"],
            name=op.f("loader_record_account_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["declarant_record_id"],
            ["loader_record.id"],
            name=op.f("loader_record_declarant_record_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["loader_partner.id"],
            name=op.f("loader_record_partner_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["property_record_id"],
            ["loader_record.id"],
            name=op.f("loader_record_property_record_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loader_record_pkey")),
        sa.UniqueConstraint(
            "partner_id",
            "model",
            "external_id",
            name=op.f("loader_record_partner_id_model_external_id_key"),
        ),
    )
    op.create_index(
        op.f("ix_loader_record_account_id"), "loader_record", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_loader_record_declarant_record_id"),
        "loader_record",
        ["declarant_record_id"],
        unique=False,
    )
    op.create_index(
        "ix_loader_record_partner_model_id",
        "loader_record",
        ["partner_id", "model", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_loader_record_property_record_id"),
        "loader_record",
        ["property_record_id"],
        unique=False,
    )
    op.create_table(
        "loader_document",
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("blob_key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'fetched', 'failed')", name=op.f("loader_document_status_check")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["loader_record.id"],
            name=op.f("loader_document_record_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("loader_document_pkey")),
    )


def downgrade() -> None:
    op.drop_table("loader_document")
    op.drop_index(op.f("ix_loader_record_property_record_id"), table_name="loader_record")
    op.drop_index("ix_loader_record_partner_model_id", table_name="loader_record")
    op.drop_index(op.f("ix_loader_record_declarant_record_id"), table_name="loader_record")
    op.drop_index(op.f("ix_loader_record_account_id"), table_name="loader_record")
    op.drop_table("loader_record")
    op.drop_index("ix_loader_run_partner_received", table_name="loader_run")
    op.drop_table("loader_run")
    op.drop_table("loader_account")
    op.drop_table("loader_partner")
