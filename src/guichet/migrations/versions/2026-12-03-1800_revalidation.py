"""Publication API: re-validation of every current revision

Revision ID: 0008_revalidation
Revises: 0006_webhooks
Create Date: 2026-12-03 18:00:00

One run per validator version, one check per (revision, validator version): both unique, so
that starting the re-validation again resumes it and never validates a revision twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_revalidation"
down_revision: str | None = "0006_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "depot_revalidation",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("validator_version", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'running'"), nullable=False),
        sa.Column("revisions", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("remaining", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("starts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'done')", name=op.f("depot_revalidation_status_check")
        ),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= revisions",
            name=op.f("depot_revalidation_remaining_check"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_revalidation_pkey")),
        sa.UniqueConstraint(
            "validator_version", name=op.f("depot_revalidation_validator_version_key")
        ),
    )
    op.create_table(
        "depot_revalidation_check",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("revalidation_id", sa.String(length=24), nullable=False),
        sa.Column("revision_id", sa.String(length=24), nullable=False),
        sa.Column("validator_version", sa.Text(), nullable=False),
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("changed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checked_at", _TS, nullable=True),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')",
            name=op.f("depot_revalidation_check_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["revalidation_id"],
            ["depot_revalidation.id"],
            name=op.f("depot_revalidation_check_revalidation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["depot_revision.id"],
            name=op.f("depot_revalidation_check_revision_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_revalidation_check_pkey")),
        sa.UniqueConstraint(
            "revision_id",
            "validator_version",
            name=op.f("depot_revalidation_check_revision_id_validator_version_key"),
        ),
    )
    op.create_index(
        "ix_depot_revalidation_check_revalidation_id_status",
        "depot_revalidation_check",
        ["revalidation_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_depot_revalidation_check_changed",
        "depot_revalidation_check",
        ["revalidation_id", "code_commune"],
        unique=False,
        postgresql_where=sa.text("changed OR status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_table("depot_revalidation_check")
    op.drop_table("depot_revalidation")
