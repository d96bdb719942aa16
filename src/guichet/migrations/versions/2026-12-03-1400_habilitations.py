"""Publication API: habilitations (who may publish for a commune)

Revision ID: 0005_habilitations
Revises: 0004_dropzone
Create Date: 2026-12-03 14:00:00

A client may hold several habilitations for one commune (as in the reference): no unique key
beyond the id. The checks keep each row coherent (an accepted one has its `accepted_at`, a PIN
always has its expiry and attempts left, at most 10 attempts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_habilitations"
down_revision: str | None = "0004_dropzone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "depot_habilitation",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("client_id", sa.String(length=24), nullable=False),
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("email_commune", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("strategy_type", sa.Text(), nullable=True),
        sa.Column("pin_hash", sa.LargeBinary(), nullable=True),
        sa.Column("pin_sent_at", _TS, nullable=True),
        sa.Column("pin_expires_at", _TS, nullable=True),
        sa.Column("remaining_attempts", sa.Integer(), nullable=True),
        sa.Column("authentication_error", sa.Text(), nullable=True),
        sa.Column("accepted_at", _TS, nullable=True),
        sa.Column("rejected_at", _TS, nullable=True),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected')",
            name=op.f("depot_habilitation_status_check"),
        ),
        sa.CheckConstraint(
            "strategy_type IN ('email', 'proconnect', 'internal')",
            name=op.f("depot_habilitation_strategy_type_check"),
        ),
        sa.CheckConstraint(
            "status <> 'accepted' OR accepted_at IS NOT NULL",
            name=op.f("depot_habilitation_accepted_at_check"),
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR rejected_at IS NOT NULL",
            name=op.f("depot_habilitation_rejected_at_check"),
        ),
        sa.CheckConstraint(
            "remaining_attempts BETWEEN 0 AND 10",
            name=op.f("depot_habilitation_remaining_attempts_check"),
        ),
        sa.CheckConstraint(
            "pin_hash IS NULL OR (pin_expires_at IS NOT NULL AND remaining_attempts IS NOT NULL)",
            name=op.f("depot_habilitation_pin_check"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["depot_client.id"],
            name=op.f("depot_habilitation_client_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_habilitation_pkey")),
    )
    op.create_index(
        "ix_depot_habilitation_client_id_code_commune",
        "depot_habilitation",
        ["client_id", "code_commune"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_depot_habilitation_client_id_code_commune", table_name="depot_habilitation")
    op.drop_table("depot_habilitation")
