"""report_months, report_blocks and report_team_days: the daily reports added up per person, team and month, per
person, team and block of a month (days 1-5, 6-10, ..., 26 to the end), and per team and day, kept up to date as
reports are written (models/rollups.py); filled here from the reports there are, in the order of time (as later
rows arrive), so that a span of days or months is read from few pages.

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


# The first day of a report's month and of its block (days 1-5, 6-10, 11-15, 16-20, 21-25, 26-end).
MONTH = {"postgresql": "CAST(date_trunc('month', day) AS date)", "sqlite": "date(day, 'start of month')",
         "mysql": "SUBDATE(day, DAYOFMONTH(day) - 1)"}
BLOCK = {
    "postgresql": "(CAST(date_trunc('month', day) AS date) + LEAST((EXTRACT(DAY FROM day)::int - 1) / 5, 5) * 5)",
    "sqlite": "date(day, 'start of month', '+' || (min((CAST(strftime('%d', day) AS INTEGER) - 1) / 5, 5) * 5) "
              "|| ' days')",
    "mysql": "ADDDATE(SUBDATE(day, DAYOFMONTH(day) - 1), LEAST(FLOOR((DAYOFMONTH(day) - 1) / 5), 5) * 5)",
}


def _person_totals(table: str, key: str) -> None:
    op.create_table(
        table,
        sa.Column(key, sa.Date(), nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("team_id", sa.Integer(), autoincrement=False, nullable=False),
        *_numbers(days=True),
        sa.PrimaryKeyConstraint(key, "person_id", "team_id", name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    _person_totals("report_months", "month")
    _person_totals("report_blocks", "start")
    op.create_table(
        "report_team_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), autoincrement=False, nullable=False),
        *_numbers(days=False),
        sa.PrimaryKeyConstraint("day", "team_id", name=op.f("pk_report_team_days")),
    )
    bind = op.get_bind()
    dialect = "mysql" if bind.dialect.name in ("mysql", "mariadb") else bind.dialect.name
    sums = ", ".join(f"SUM(COALESCE({n}, 0))" for n in NUMBERS)
    positive = ", ".join(f"SUM(CASE WHEN {n} > 0 THEN 1 ELSE 0 END)" for n in NUMBERS)
    names = ", ".join(NUMBERS)
    days = ", ".join(f"{n}_days" for n in NUMBERS)
    for table, key, start in (("report_months", "month", MONTH[dialect]), ("report_blocks", "start", BLOCK[dialect])):
        bind.execute(sa.text(
            f"INSERT INTO {table} ({key}, person_id, team_id, reports, {names}, {days}) "  # noqa: S608 - constants
            f"SELECT {start}, person_id, COALESCE(team_id, 0), COUNT(*), {sums}, {positive} FROM daily_reports "
            f"WHERE submitted_at IS NOT NULL GROUP BY {start}, person_id, COALESCE(team_id, 0) ORDER BY {start}"))
    bind.execute(sa.text(
        f"INSERT INTO report_team_days (day, team_id, reports, {names}) "  # noqa: S608 - constants
        f"SELECT day, team_id, COUNT(*), {sums} FROM daily_reports "
        f"WHERE submitted_at IS NOT NULL AND team_id IS NOT NULL GROUP BY day, team_id ORDER BY day"))
    if dialect == "postgresql":
        bind.execute(sa.text("ANALYZE report_months, report_blocks, report_team_days"))


def downgrade() -> None:
    op.drop_table("report_team_days")
    op.drop_table("report_blocks")
    op.drop_table("report_months")
