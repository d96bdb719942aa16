"""Publication API: when an expiring habilitation's client was reminded

Revision ID: 0010_habilitation_reminders
Revises: 0009_diffs
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_habilitation_reminders"
down_revision: str | None = "0009_diffs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "depot_habilitation",
        sa.Column("expiry_reminded_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("depot_habilitation", "expiry_reminded_at")
