"""BAL publication API: mandataires, chefs de file, perimeters, clients, revisions, files

Revision ID: 0002_depot
Revises: 0001_procrastinate
Create Date: 2026-11-22 18:00:00

One current revision per commune is enforced by the partial unique index
`depot_revision_one_current_key`; clients keep only the SHA-256 of their token.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_depot"
down_revision: str | None = "0001_procrastinate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "depot_chef_de_file",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("nom", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("is_email_public", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "is_signataire_charte", sa.Boolean(), server_default=sa.text("false"), nullable=False
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
        sa.PrimaryKeyConstraint("id", name=op.f("depot_chef_de_file_pkey")),
    )
    op.create_table(
        "depot_mandataire",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("nom", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("depot_mandataire_pkey")),
    )
    op.create_table(
        "depot_client",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("mandataire_id", sa.String(length=24), nullable=False),
        sa.Column("chef_de_file_id", sa.String(length=24), nullable=True),
        sa.Column("legacy_id", sa.Text(), nullable=True),
        sa.Column("nom", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("authorization_strategy", sa.Text(), nullable=False),
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
        sa.CheckConstraint(
            "authorization_strategy IN ('internal', 'chef-de-file', 'habilitation')",
            name=op.f("depot_client_strategy_check"),
        ),
        sa.ForeignKeyConstraint(
            ["chef_de_file_id"],
            ["depot_chef_de_file.id"],
            name=op.f("depot_client_chef_de_file_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mandataire_id"],
            ["depot_mandataire.id"],
            name=op.f("depot_client_mandataire_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_client_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("depot_client_token_hash_key")),
    )
    op.create_index(
        op.f("ix_depot_client_chef_de_file_id"), "depot_client", ["chef_de_file_id"], unique=False
    )
    op.create_index(
        op.f("ix_depot_client_mandataire_id"), "depot_client", ["mandataire_id"], unique=False
    )
    op.create_table(
        "depot_perimeter",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("chef_de_file_id", sa.String(length=24), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "type IN ('commune', 'departement', 'epci')", name=op.f("depot_perimeter_type_check")
        ),
        sa.ForeignKeyConstraint(
            ["chef_de_file_id"],
            ["depot_chef_de_file.id"],
            name=op.f("depot_perimeter_chef_de_file_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_perimeter_pkey")),
    )
    op.create_index(
        op.f("ix_depot_perimeter_chef_de_file_id"),
        "depot_perimeter",
        ["chef_de_file_id"],
        unique=False,
    )
    op.create_table(
        "depot_revision",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("client_id", sa.String(length=24), nullable=False),
        sa.Column("code_commune", sa.Text(), nullable=False),
        sa.Column("is_ready", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("is_current", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("validation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("habilitation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("report_key", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('pending', 'published')", name=op.f("depot_revision_status_check")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["depot_client.id"],
            name=op.f("depot_revision_client_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_revision_pkey")),
    )
    op.create_index(
        "depot_revision_one_current_key",
        "depot_revision",
        ["code_commune"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_index(
        op.f("ix_depot_revision_client_id"), "depot_revision", ["client_id"], unique=False
    )
    op.create_index(
        "ix_depot_revision_code_commune_created_at",
        "depot_revision",
        ["code_commune", "created_at"],
        unique=False,
    )
    op.create_table(
        "depot_file",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("revision_id", sa.String(length=24), nullable=False),
        sa.Column("blob_key", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), server_default=sa.text("'bal'"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["depot_revision.id"],
            name=op.f("depot_file_revision_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("depot_file_pkey")),
        sa.UniqueConstraint("revision_id", name=op.f("depot_file_revision_id_key")),
    )


def downgrade() -> None:
    op.drop_table("depot_file")
    op.drop_index("ix_depot_revision_code_commune_created_at", table_name="depot_revision")
    op.drop_index(op.f("ix_depot_revision_client_id"), table_name="depot_revision")
    op.drop_index(
        "depot_revision_one_current_key",
        table_name="depot_revision",
        postgresql_where=sa.text("is_current"),
    )
    op.drop_table("depot_revision")
    op.drop_index(op.f("ix_depot_perimeter_chef_de_file_id"), table_name="depot_perimeter")
    op.drop_table("depot_perimeter")
    op.drop_index(op.f("ix_depot_client_mandataire_id"), table_name="depot_client")
    op.drop_index(op.f("ix_depot_client_chef_de_file_id"), table_name="depot_client")
    op.drop_table("depot_client")
    op.drop_table("depot_mandataire")
    op.drop_table("depot_chef_de_file")
