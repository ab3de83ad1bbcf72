"""PostgreSQL: extended statistics on daily_reports (person_id, team_id), so grouped sums are planned right

The console's goal tree and forecast group a region's reports by person and team (services.forecast).
Without statistics on the pair, PostgreSQL multiplies the two columns' distinct counts and expects
hundreds of thousands of groups where there are as many as people (10,000 in bench/console.py): it then
plans a hash aggregate in 64 partitions spilled to disk, about twice as slow. Other databases: nothing.

Revision ID: 0005_report_statistics
Revises: 0004_audit_log
Create Date: 2026-12-05 17:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0005_report_statistics"
down_revision = "0004_audit_log"
branch_labels = None
depends_on = None

NAME = "st_daily_reports_person_team"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {NAME} (ndistinct) ON person_id, team_id FROM daily_reports")
        op.execute("ANALYZE daily_reports")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {NAME}")
