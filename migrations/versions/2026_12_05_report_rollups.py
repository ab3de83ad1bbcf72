"""report_months and report_team_days: the daily reports added up per person, team and month, and per team and
day, kept up to date as reports are written (models/rollups.py); filled here from the reports there are, in
the order of time (as later rows arrive), so that a span of days or months is read from few pages.

Revision ID: 0006_report_rollups
Revises: 0005_report_statistics
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_report_rollups"
down_revision = "0005_report_statistics"
branch_labels = None
depends_on = None

COUNTS = ("visits", "new_leads", "new_customers", "opportunities")
AMOUNTS = ("signed_amount", "collected_amount")
NUMBERS = COUNTS + AMOUNTS


def _numbers(days: bool) -> list[sa.Column]:
    columns = [sa.Column("reports", sa.Integer(), nullable=False)]
    columns += [sa.Column(n, sa.Integer(), nullable=False) for n in COUNTS]
    columns += [sa.Column(n, sa.Numeric(18, 2), nullable=False) for n in AMOUNTS]
    if days:
        columns += [sa.Column(f"{n}_days", sa.Integer(), nullable=False) for n in NUMBERS]
    return columns


def upgrade() -> None:
    op.create_table(
        "report_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("team_id", sa.Integer(), autoincrement=False, nullable=False),
        *_numbers(days=True),
        sa.PrimaryKeyConstraint("month", "person_id", "team_id", name=op.f("pk_report_months")),
    )
    op.create_table(
        "report_team_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), autoincrement=False, nullable=False),
        *_numbers(days=False),
        sa.PrimaryKeyConstraint("day", "team_id", name=op.f("pk_report_team_days")),
    )
    dialect = op.get_bind().dialect.name
    month = {"postgresql": "CAST(date_trunc('month', day) AS date)",
             "sqlite": "date(day, 'start of month')"}.get(dialect, "SUBDATE(day, DAYOFMONTH(day) - 1)")
    sums = ", ".join(f"SUM(COALESCE({n}, 0))" for n in NUMBERS)
    positive = ", ".join(f"SUM(CASE WHEN {n} > 0 THEN 1 ELSE 0 END)" for n in NUMBERS)
    names = ", ".join(NUMBERS)
    days = ", ".join(f"{n}_days" for n in NUMBERS)
    op.execute(
        f"INSERT INTO report_months (person_id, team_id, month, reports, {names}, {days}) "  # noqa: S608 - constants
        f"SELECT person_id, COALESCE(team_id, 0), {month}, COUNT(*), {sums}, {positive} FROM daily_reports "
        f"WHERE submitted_at IS NOT NULL GROUP BY person_id, COALESCE(team_id, 0), {month} ORDER BY {month}")
    op.execute(
        f"INSERT INTO report_team_days (team_id, day, reports, {names}) "  # noqa: S608 - constants
        f"SELECT team_id, day, COUNT(*), {sums} FROM daily_reports "
        f"WHERE submitted_at IS NOT NULL AND team_id IS NOT NULL GROUP BY team_id, day ORDER BY day")


def downgrade() -> None:
    op.drop_table("report_team_days")
    op.drop_table("report_months")
