"""procrastinate 3.10.0 schema (the job queue lives in the same database as the data)

Revision ID: 0001_procrastinate
Revises:
Create Date: 2026-11-22 17:00:00

The SQL is a copy of procrastinate 3.10.0's `sql/schema.sql`, kept in migrations/sql/ so that
this revision never changes. When procrastinate is upgraded, add a revision that executes the
files of `procrastinate/sql/migrations/` between the two versions (copied the same way).
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import context, op

revision: str = "0001_procrastinate"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).parent.parent / "sql" / "procrastinate-3.10.0-schema.sql"

# Drops every procrastinate object, whatever the version that created it.
DROP_ALL = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
    procrastinate_jobs, procrastinate_workers CASCADE;
DO $$
DECLARE fn record;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
              JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || fn.signature || ' CASCADE';
    END LOOP;
END $$;
DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
    procrastinate_job_to_defer_v1 CASCADE;
"""


def _execute_script(script: str) -> None:
    if context.is_offline_mode():  # `alembic upgrade --sql`: print the script as is
        op.execute(script)
        return
    # Straight to psycopg, in the migration's transaction: the script has several statements
    # and `%` characters, which the DBAPI layer would take for placeholders.
    op.get_bind().connection.driver_connection.execute(script)  # type: ignore[union-attr]


def upgrade() -> None:
    _execute_script(SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    _execute_script(DROP_ALL)
