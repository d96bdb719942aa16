"""Publication API: revision diffs and the feed of current-revision changes

Revision ID: 0009_diffs
Revises: 0008_revalidation
Create Date: 2026-12-03 19:00:00

One stored diff per pair of revisions (the pair unique, a missing `against` counted as one
value), at most one default diff per revision; the feed's `seq` is an identity column.

Publication dates are kept to the millisecond from now on (the precision they are sent with):
the existing ones are truncated, so that `publishedSince=<a publishedAt>` excludes that revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_diffs"
down_revision: str | None = "0008_revalidation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(length=24)


def upgrade() -> None:
    op.execute(
        "UPDATE depot_revision SET published_at = date_trunc('milliseconds', published_at)"
        " WHERE published_at IS NOT NULL"
    )
    op.create_table(
        "depot_revision_diff",
        sa.Column("id", _ID, nullable=False),
        sa.Column("revision_id", _ID, nullable=False),
        sa.Column("against_id", _ID, nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("summary", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("details_key", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["depot_revision.id"], ondelete="CASCADE",
            name="depot_revision_diff_revision_id_fkey",
        ),
        sa.ForeignKeyConstraint(
            ["against_id"], ["depot_revision.id"], ondelete="CASCADE",
            name="depot_revision_diff_against_id_fkey",
        ),
        sa.PrimaryKeyConstraint("id", name="depot_revision_diff_pkey"),
        sa.UniqueConstraint(
            "revision_id", "against_id", name="uq_depot_revision_diff_pair",
            postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip
    op.create_index(
        "uq_depot_revision_diff_default", "depot_revision_diff", ["revision_id"],
        unique=True, postgresql_where=sa.text("is_default"),
    )  # fmt: skip
    op.create_table(
        "depot_current_change",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("revision_id", _ID, nullable=False),
        sa.Column("previous_id", _ID, nullable=True),
        sa.Column("published_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["depot_revision.id"], ondelete="CASCADE",
            name="depot_current_change_revision_id_fkey",
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["depot_revision.id"], ondelete="SET NULL",
            name="depot_current_change_previous_id_fkey",
        ),
        sa.PrimaryKeyConstraint("seq", name="depot_current_change_pkey"),
        sa.UniqueConstraint("revision_id", name="depot_current_change_revision_id_key"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("depot_current_change")
    op.drop_index("uq_depot_revision_diff_default", table_name="depot_revision_diff")
    op.drop_table("depot_revision_diff")
