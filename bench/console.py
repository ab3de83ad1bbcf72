"""The console's overview of a region of 10,000 reps over 3 years of reports, served by the real server over
HTTP, against hand-written SQL computing the same numbers.

    python bench/console.py [--db URL] [--teams 1000] [--reps 10] [--years 3] [--runs 30] [--small]

The data is bench/leaderboard.py's (one region, `--teams` teams of `--reps` reps and a manager, a report per
person per day), made 3 years long, with what the overview needs on top: goals for the region and its teams,
a pipeline (12 customers per rep at every stage, some signed within the forecast's look-back) and the
region's manager, who signs in. PostgreSQL by default (created if missing, data reused when it is there);
`--db sqlite:///PATH` fills a SQLite file the same way. `--small` is 50 teams over 3 months, to try it.

Ours: `GET /console/overview?region=lb&period=2026-11-23` (the month up to that evening: the goal tree region
-> teams with floor, target, stretch, actual, 达成率, run rate needed and the month-end forecast, the ranking
of the region's 10,500 sellers, the trend against last month, who reported) from `python -m bot serve` on a
loopback port, signed in as the manager through a console link, the page rendered in full.

The floor: the same figures from hand-written SQL on one connection, run in the same process in the same run,
interleaved: four set-based statements (the tree with the forecast's arithmetic in SQL; the ranking's first
page with RANK() and the sellers' count; the trend by day; who reported), one transaction a page as the
console has, with PostgreSQL's JIT off for it (it spent seconds compiling the tree's statement; the console
runs with the server's settings). They read the kept totals the console reads (report_months, report_blocks,
report_team_days: models/rollups.py), written for this page's days. The same statements over the daily reports
themselves are timed too and printed, for comparison. All must agree: every unit's floor, target, stretch,
actual, 达成率, run rate needed and forecast, the whole ranking, the trend's totals and the reported count
(read from the page's CSV exports and HTML); the bench stops if they do not. Goal: ours <= 1.5x the floor (on
the totals), and p95 under 300 ms. BENCH_SHOW_RUNS=1 prints every timed page load.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, delete, func, select, text  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bench import leaderboard  # noqa: E402
from bench.memory import free_port  # noqa: E402
from bench.pgutil import ensure_database  # noqa: E402
from bot.core.db import Database  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from models import ConsoleLink, DailyReport, Person, UTCDateTime  # noqa: E402
from models.rollups import rebuild  # noqa: E402
from services.calendar import load_calendar  # noqa: E402
from services.console_auth import issue_link  # noqa: E402
from services.goals import month_period  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/salesbot_bench_console"
DAY = leaderboard.EVENING  # the evening the page is seen from (?period=DAY: its month up to that day)
PERIOD = month_period(DAY)
REGION = "lb"
MANAGER = "lbboss"
CUSTOMERS_PER_REP = 12
STAGES = ("lead", "needs", "proposal", "negotiation", "signed", "lost")
TEAM_TARGET = Decimal(30_000_000)  # a team of ten reps reporting about 100,000 a day each
RATIO_GOAL = 1.5
P95_GOAL = 0.300
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------
# the data


def fill(db: Database, *, teams: int, reps: int, days: int) -> None:
    """The leaderboard bench's region (PostgreSQL: its own generator; SQLite: the same rows), then extras."""
    if db.url.startswith("postgresql"):
        leaderboard.fill(db, teams=teams, reps=reps, reports=teams * reps * days)
    else:
        _fill_sqlite(db, teams=teams, reps=reps, days=days)
    _extras(db)
    _totals(db)


def _totals(db: Database) -> None:
    """The fills insert reports with plain SQL, past the ORM that keeps the totals: rebuild them
    (models/rollups.py) when they do not add up to the reports."""
    with db.engine.begin() as conn:
        reports = conn.scalar(text("SELECT count(*) FROM daily_reports WHERE submitted_at IS NOT NULL"))
        months = conn.scalar(text("SELECT COALESCE(SUM(reports), 0) FROM report_months"))
        blocks = conn.scalar(text("SELECT COALESCE(SUM(reports), 0) FROM report_blocks"))
        days = conn.scalar(text("SELECT COALESCE(SUM(reports), 0) FROM report_team_days"))
        teamless = conn.scalar(text("SELECT count(*) FROM daily_reports WHERE submitted_at IS NOT NULL "
                                    "AND team_id IS NULL"))
        if months == blocks == reports and days + teamless == reports:
            return
        print("adding up the reports into report_months, report_blocks and report_team_days ...", flush=True)
        started = time.perf_counter()
        rows = rebuild(conn)
        print(f"{rows[0]:,} person-months, {rows[1]:,} person-blocks and {rows[2]:,} team-days in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    if db.url.startswith("postgresql"):
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE report_months, report_blocks, report_team_days"))


def _fill_sqlite(db: Database, *, teams: int, reps: int, days: int) -> None:
    """bench/leaderboard.py's fill in SQLite's dialect (recursive CTEs for generate_series)."""
    with db.engine.begin() as conn:
        have_teams = conn.scalar(text("SELECT count(*) FROM teams WHERE code LIKE 'lb%'"))
        have_reports = conn.scalar(text("SELECT count(*) FROM daily_reports"))
        if have_teams == teams and have_reports and abs(have_reports - teams * (reps + 1) * days) <= teams * (reps + 1):
            print(f"reusing {have_reports:,} reports for {have_teams} teams")
            return
    print(f"filling {teams} teams x ({reps} reps + a manager) x {days} days = {teams * (reps + 1) * days:,} reports ...",
          flush=True)
    started = time.perf_counter()
    now = bindparam("now", datetime.now(UTC), type_=UTCDateTime())
    seq = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n) "
    with db.engine.begin() as conn:
        for table in ("console_sessions", "console_links", "managed_regions", "customers", "daily_reports", "goals",
                      "people", "teams", "regions"):
            conn.execute(text(f"DELETE FROM {table}"))
        region = conn.execute(text("INSERT INTO regions (code, name) VALUES ('lb', 'Bench')")).lastrowid
        conn.execute(text(seq + "INSERT INTO teams (code, name, region_id, main_metric) "
                                "SELECT 'lb' || n, 'Team ' || n, :r, 'signed_amount' FROM g"), {"r": region, "n": teams})
        conn.execute(text(seq + "INSERT INTO people (code, name, role, team_id, active) "
                                "SELECT 'lb' || t.id || '_' || g.n, 'Rep ' || t.id || '-' || g.n, 'rep', t.id, 1 "
                                "FROM teams t, g"), {"n": reps})
        conn.execute(text("INSERT INTO people (code, name, role, team_id, active) "
                          "SELECT 'lbm' || t.id, 'Manager ' || t.id, 'manager', t.id, 1 FROM teams t"))
        conn.execute(text("INSERT INTO goals (scope, code, period, metric, target, updated_at) "
                          "SELECT 'user', p.code, g.period, 'signed_amount', 400000, :now "
                          "FROM people p, (SELECT '2026-11' AS period UNION ALL SELECT '2026-Q4' UNION ALL "
                          "SELECT '2026') g WHERE p.role = 'rep' "
                          "UNION ALL SELECT 'user', 'lbm' || t.id, '2026-11', 'signed_amount', 500000, :now "
                          "FROM teams t WHERE t.id % 2 = 0").bindparams(now))
        conn.execute(text(seq + """
            INSERT INTO daily_reports (person_id, team_id, day, visits, new_leads, signed_amount,
                                       collected_amount, extra, submitted_at, updated_at)
            SELECT p.id, p.team_id, date(:end, '-' || (g.n - 1) || ' days'), abs(random()) % 9, abs(random()) % 4,
                   (abs(random()) % 20000000) / 100.0, (abs(random()) % 10000000) / 100.0, '{}', :now, :now
            FROM g, people p
            WHERE g.n > 1 OR abs(random()) % 10 < 9
        """).bindparams(now), {"end": DAY.isoformat(), "n": days})
        conn.execute(text("ANALYZE"))
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


def _extras(db: Database) -> None:
    """Goals for the region and its teams, a pipeline, and the region's manager (who signs in)."""
    postgres = db.url.startswith("postgresql")
    signed_on = ("CAST(:day AS date) - ((p.id * 7 + g.n * 13) % 120)" if postgres
                 else "date(:day, '-' || ((p.id * 7 + g.n * 13) % 120) || ' days')")
    stage = "CASE (p.id + g.n) % 6 " + " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(STAGES)) + " END"
    now = bindparam("now", datetime.now(UTC), type_=UTCDateTime())
    with db.engine.begin() as conn:
        reps = conn.scalar(text("SELECT count(*) FROM people WHERE role = 'rep'"))
        have = conn.scalar(text("SELECT count(*) FROM customers WHERE name LIKE 'lbc%'"))
        boss = conn.scalar(text("SELECT id FROM people WHERE code = :c"), {"c": MANAGER})
        if have == reps * CUSTOMERS_PER_REP and boss is not None:
            return
        conn.execute(text("DELETE FROM customers WHERE name LIKE 'lbc%'"))
        conn.execute(text("DELETE FROM goals WHERE scope IN ('team', 'region') AND period = :p"), {"p": str(PERIOD)})
        region = conn.scalar(text("SELECT id FROM regions WHERE code = :c"), {"c": REGION})
        conn.execute(text(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n) "
            "INSERT INTO customers (name, name_key, region_id, owner_id, tier, stage, signed_on, created_at) "
            f"SELECT 'lbc' || p.id || '-' || g.n, 'lbc' || p.id || '-' || g.n, :r, p.id, 'C', {stage}, "
            f"CASE WHEN (p.id + g.n) % 6 = 4 THEN {signed_on} END, :now "
            "FROM people p, g WHERE p.role = 'rep'").bindparams(now),
            {"n": CUSTOMERS_PER_REP, "r": region, "day": DAY})
        conn.execute(text(
            "INSERT INTO goals (scope, code, period, metric, target, floor, stretch, updated_at) "
            "SELECT 'team', code, :p, 'signed_amount', :t, :t * 0.8, :t * 1.2, :now FROM teams WHERE region_id = :r "
            "UNION ALL SELECT 'region', code, :p, 'signed_amount', :t * (SELECT count(*) FROM teams), "
            ":t * (SELECT count(*) FROM teams) * 0.8, :t * (SELECT count(*) FROM teams) * 1.2, :now "
            "FROM regions WHERE id = :r").bindparams(now), {"p": str(PERIOD), "t": int(TEAM_TARGET), "r": region})
        if boss is None:
            conn.execute(text("INSERT INTO people (code, name, role, active) VALUES (:c, 'Region boss', 'manager', :y)"),
                         {"c": MANAGER, "y": True})
            boss = conn.scalar(text("SELECT id FROM people WHERE code = :c"), {"c": MANAGER})
        conn.execute(text("DELETE FROM managed_regions WHERE person_id = :b"), {"b": boss})
        conn.execute(text("INSERT INTO managed_regions (person_id, region_id) VALUES (:b, :r)"),
                     {"b": boss, "r": region})
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE customers, goals, people"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


# ---------------------------------------------------------------------------
# the floor: hand-written SQL for the page's figures

# The goal tree with the month-end forecast (services/forecast.py's rules written as SQL: the run rate over
# each person's workdays gone, blended with their open pipeline weighted by stage and valued at their own
# average deal over the look-back window, else their team's; every active member carries their team's run
# rate on, only sellers have a pipeline). :from is the earlier of the period's start and the look-back's.
TREE_SQL = """
WITH tm AS (SELECT id, code, name FROM teams WHERE region_id = :region),
members AS (
  SELECT p.id, p.team_id,
         CASE WHEN p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                                      AND g.period IN :periods LIMIT 1) IS NOT NULL THEN 1 ELSE 0 END AS seller
  FROM people p WHERE p.team_id IN (SELECT id FROM tm) AND p.active = :yes),
cells AS (
  SELECT r.person_id, r.team_id,
         SUM(CASE WHEN r.day >= :start THEN r.signed_amount END) AS actual,
         SUM(CASE WHEN r.day >= :lookback THEN r.signed_amount END) AS lb,
         SUM(CASE WHEN r.day >= :lookback AND r.signed_amount > 0 THEN 1 ELSE 0 END) AS lb_days,
         MAX(CASE WHEN r.day = :day THEN 1 ELSE 0 END) AS done
  FROM daily_reports r
  WHERE (r.team_id IN (SELECT id FROM tm) OR r.person_id IN (SELECT id FROM members WHERE seller = 1))
    AND r.day >= :from AND r.day <= :day AND r.submitted_at IS NOT NULL
  GROUP BY r.person_id, r.team_id),
per AS (SELECT person_id, SUM(lb) AS lb, SUM(lb_days) AS lb_days, MAX(done) AS done FROM cells GROUP BY person_id),
pipe AS (
  SELECT c.owner_id,
         SUM(CASE c.stage WHEN 'lead' THEN :w_lead WHEN 'needs' THEN :w_needs WHEN 'proposal' THEN :w_proposal
                          WHEN 'negotiation' THEN :w_negotiation ELSE 0 END) AS weighted,
         SUM(CASE WHEN c.signed_on >= :lookback AND c.signed_on <= :day THEN 1 ELSE 0 END) AS won
  FROM customers c
  WHERE c.owner_id IN (SELECT p.id FROM people p WHERE p.team_id IN (SELECT id FROM tm) AND p.active = :yes
                       AND (p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                                                AND g.period IN :periods LIMIT 1) IS NOT NULL))
    AND (c.stage IN ('lead', 'needs', 'proposal', 'negotiation') OR (c.signed_on >= :lookback AND c.signed_on <= :day))
  GROUP BY c.owner_id),
deal AS (
  SELECT m.id, m.team_id, m.seller, COALESCE(per.lb, 0) AS lb, COALESCE(pipe.weighted, 0) AS weighted,
         CASE WHEN COALESCE(pipe.won, 0) > COALESCE(per.lb_days, 0) THEN pipe.won ELSE COALESCE(per.lb_days, 0) END
           AS deals,
         :total - CASE WHEN per.done = 1 THEN :gone_through ELSE :gone_before END AS r_left
  FROM members m LEFT JOIN per ON per.person_id = m.id LEFT JOIN pipe ON pipe.owner_id = m.id),
team_deal AS (SELECT team_id, SUM(lb) AS lb, SUM(deals) AS deals FROM deal GROUP BY team_id),
piped AS (
  SELECT d.team_id,
         SUM(d.weighted * CASE WHEN d.deals >= :min_deals THEN d.lb / d.deals ELSE td.lb / td.deals END
             * d.r_left * d.r_left / (:total * :pipeline_workdays)) AS part
  FROM deal d JOIN team_deal td ON td.team_id = d.team_id
  WHERE d.seller = 1 AND d.weighted > 0 AND (d.deals >= :min_deals OR td.deals >= :min_deals)
  GROUP BY d.team_id),
run AS (
  SELECT c.team_id, SUM(c.actual) AS actual,
         SUM(CASE WHEN m.team_id = c.team_id AND :total - d.r_left > 0 THEN c.actual * d.r_left / :total ELSE 0 END)
           AS run_part
  FROM cells c LEFT JOIN members m ON m.id = c.person_id LEFT JOIN deal d ON d.id = c.person_id
  WHERE c.team_id IN (SELECT id FROM tm) GROUP BY c.team_id),
unit AS (
  SELECT 'team' AS scope, tm.code, tm.name, COALESCE(run.actual, 0) AS actual,
         COALESCE(run.actual, 0) + COALESCE(run.run_part, 0) + COALESCE(piped.part, 0) AS projection
  FROM tm LEFT JOIN run ON run.team_id = tm.id LEFT JOIN piped ON piped.team_id = tm.id),
tree AS (
  SELECT scope, code, name, actual, projection FROM unit
  UNION ALL SELECT 'region', r.code, r.name, (SELECT SUM(actual) FROM unit), (SELECT SUM(projection) FROM unit)
  FROM regions r WHERE r.id = :region)
SELECT t.scope, t.code, t.name, g.floor, g.target, g.stretch, t.actual,
       ROUND(t.actual * 100 / g.target, 1) AS pct,
       ROUND(CASE WHEN g.target > t.actual THEN g.target - t.actual ELSE 0 END / :remaining, 2) AS needed,
       ROUND(t.projection, 2) AS forecast
FROM tree t LEFT JOIN goals g ON g.scope = t.scope AND g.code = t.code AND g.period = :period
                             AND g.metric = 'signed_amount'
"""

RANKING_SQL = """
SELECT p.code, p.name, t.name AS team, COALESCE(SUM(r.signed_amount), 0) AS value,
       RANK() OVER (ORDER BY COALESCE(SUM(r.signed_amount), 0) DESC) AS rank, COUNT(*) OVER () AS sellers
FROM people p JOIN teams t ON t.id = p.team_id
LEFT JOIN daily_reports r ON r.person_id = p.id AND r.day >= :start AND r.day <= :day AND r.submitted_at IS NOT NULL
WHERE t.region_id = :region AND p.active = :yes
  AND (p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                          AND g.period IN :periods LIMIT 1) IS NOT NULL)
GROUP BY p.id, p.code, p.name, t.name
ORDER BY value DESC, p.code
LIMIT :limit
"""

TREND_SQL = """
SELECT r.day, SUM(r.signed_amount) FROM daily_reports r
WHERE r.team_id IN (SELECT id FROM teams WHERE region_id = :region)
  AND r.day >= :prev_start AND r.day <= :day AND r.submitted_at IS NOT NULL
GROUP BY r.day
"""

REPORTED_SQL = """
SELECT COUNT(*), SUM(CASE WHEN r.id IS NOT NULL THEN 1 ELSE 0 END)
FROM people p LEFT JOIN daily_reports r ON r.person_id = p.id AND r.day = :day AND r.submitted_at IS NOT NULL
WHERE p.team_id IN (SELECT id FROM teams WHERE region_id = :region) AND p.active = :yes
  AND (p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                          AND g.period IN :periods LIMIT 1) IS NOT NULL)
"""


# The same figures from the totals the console reads (report_months, report_blocks, report_team_days;
# models/rollups.py). With no report after the evening, the period is its month's total, the look-back the
# block 26-31 of its first month and three whole months. Written for this page's dates (Hand checks the shape).
# (`+ 0.0`: SQLite keeps a whole amount as an integer, and the tree's arithmetic would then divide integers.)
_SCOPE = "({t}.team_id IN (SELECT id FROM tm) OR {t}.person_id IN (SELECT id FROM members WHERE seller = 1))"
CELLS_ON_TOTALS = f"""
cells AS (
  SELECT person_id, team_id, SUM(actual) AS actual, SUM(lb) AS lb, SUM(lb_days) AS lb_days, MAX(done) AS done
  FROM (
    SELECT m.person_id, m.team_id, CASE WHEN m.month = :month THEN m.signed_amount + 0.0 END AS actual,
           m.signed_amount + 0.0 AS lb, m.signed_amount_days AS lb_days, 0 AS done, m.reports AS n
    FROM report_months m WHERE m.month IN :lb_months AND {_SCOPE.format(t="m")}
    UNION ALL
    SELECT b.person_id, b.team_id, NULL, b.signed_amount + 0.0, b.signed_amount_days, 0, b.reports
    FROM report_blocks b WHERE b.start IN :lb_blocks AND {_SCOPE.format(t="b")}
    UNION ALL
    SELECT r.person_id, COALESCE(r.team_id, 0), 0, 0, 0, 1, 0
    FROM daily_reports r WHERE r.day = :day AND r.submitted_at IS NOT NULL AND {_SCOPE.format(t="r")}
  ) x
  GROUP BY person_id, team_id HAVING SUM(n) > 0),"""
_CELLS_START = TREE_SQL.index("cells AS (")
_CELLS_END = TREE_SQL.index("per AS (")
TREE_ON_TOTALS_SQL = TREE_SQL[:_CELLS_START] + CELLS_ON_TOTALS.strip() + "\n" + TREE_SQL[_CELLS_END:]

RANKING_ON_TOTALS_SQL = """
SELECT p.code, p.name, t.name AS team, COALESCE(m.value, 0) AS value,
       RANK() OVER (ORDER BY COALESCE(m.value, 0) DESC) AS rank, COUNT(*) OVER () AS sellers
FROM people p JOIN teams t ON t.id = p.team_id
LEFT JOIN (SELECT person_id, SUM(signed_amount) AS value FROM report_months WHERE month = :month
           GROUP BY person_id) m ON m.person_id = p.id
WHERE t.region_id = :region AND p.active = :yes
  AND (p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                          AND g.period IN :periods LIMIT 1) IS NOT NULL)
ORDER BY value DESC, p.code
LIMIT :limit
"""

TREND_ON_TOTALS_SQL = """
SELECT d.day, SUM(d.signed_amount) FROM report_team_days d
WHERE d.team_id IN (SELECT id FROM teams WHERE region_id = :region) AND d.day >= :prev_start AND d.day <= :day
GROUP BY d.day
"""


def _statement(sql: str) -> Any:
    statement = text(sql)
    for name in ("periods", "lb_months", "lb_blocks"):
        if f":{name}" in sql:
            statement = statement.bindparams(bindparam(name, expanding=True))
    return statement


class Hand:
    """The floor: the overview's figures from hand-written SQL on one connection."""

    def __init__(self, db: Database, settings: Any, *, totals: bool = False) -> None:
        from services.report_totals import span_parts
        from services.sellers import seller_periods

        with db.unit_of_work() as session:
            calendar = load_calendar(session, settings.org.holidays)
            self.region = session.scalar(text("SELECT id FROM regions WHERE code = :c"), {"c": REGION})
        workdays = calendar.workdays(PERIOD.start, PERIOD.end)
        lookback = DAY - timedelta(days=settings.forecast.lookback_days - 1)
        prev_start = month_period(PERIOD.start - timedelta(days=1)).start
        weights = settings.forecast.stage_weights
        self.params: dict[str, Any] = {
            "region": self.region, "periods": seller_periods(PERIOD.start, DAY), "yes": True,
            "start": PERIOD.start, "day": DAY, "lookback": lookback, "from": min(PERIOD.start, lookback),
            "prev_start": prev_start, "period": str(PERIOD), "total": len(workdays),
            "gone_before": sum(1 for d in workdays if d < DAY), "gone_through": sum(1 for d in workdays if d <= DAY),
            "remaining": len(calendar.workdays(DAY, PERIOD.end)), "min_deals": settings.forecast.min_deals,
            "pipeline_workdays": settings.forecast.pipeline_workdays,
            **{f"w_{s}": Decimal(str(getattr(weights, s))) for s in ("lead", "needs", "proposal", "negotiation")},
        }
        self.postgres = db.url.startswith("postgresql")
        if not self.postgres:  # SQLite's driver binds floats, not decimals
            self.params.update({k: float(v) for k, v in self.params.items() if isinstance(v, Decimal)})
        self.tree_sql, self.ranking_sql = _statement(TREE_SQL), _statement(RANKING_SQL)
        self.trend_sql, self.reported_sql = _statement(TREND_SQL), _statement(REPORTED_SQL)
        if totals:
            # the statements on the totals are written for a look-back that starts in a month's last block,
            # and a period that is one whole month as far as the reports go
            with db.engine.connect() as conn:
                latest = conn.scalar(select(func.max(DailyReport.day)))  # a date on every database
            look, month = span_parts(lookback, DAY, latest), span_parts(PERIOD.start, DAY, latest)
            if not (month.months == (PERIOD.start,) and not month.blocks and not month.days and not look.days
                    and PERIOD.start in look.months and all(sign == 1 for _, sign in look.blocks)):
                raise SystemExit(f"the floor on the totals is not written for {lookback} .. {DAY}: {look}")
            self.params.update({"month": PERIOD.start, "lb_months": list(look.months),
                                "lb_blocks": [start for start, _ in look.blocks] or [date(1, 1, 1)]})
            self.tree_sql, self.ranking_sql = _statement(TREE_ON_TOTALS_SQL), _statement(RANKING_ON_TOTALS_SQL)
            self.trend_sql = _statement(TREND_ON_TOTALS_SQL)

    def figures(self, conn: Connection, ranking_limit: int = 10) -> dict[str, Any]:
        """Everything the page shows (the ranking's first page and its length)."""
        p = self.params
        if self.postgres:  # JIT would spend seconds compiling the tree's statement, whose row estimates are off
            conn.execute(text("SET LOCAL jit = off"))
        tree = conn.execute(self.tree_sql, p).all()
        ranking = conn.execute(self.ranking_sql, {**p, "limit": ranking_limit}).all()
        trend = dict(conn.execute(self.trend_sql, p).all())
        sellers, reported = conn.execute(self.reported_sql, p).one()
        conn.rollback()  # one transaction per page, as the console's unit of work (SQLite: its write lock freed)
        return {"tree": tree, "ranking": ranking, "trend": trend, "reported": (int(reported or 0), int(sellers))}


# ---------------------------------------------------------------------------
# ours: the page from the real server


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    env = {**os.environ, "SALESBOT_DATABASE__URL": url, "SALESBOT_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.pop("SALESBOT_CONFIG", None)
    cwd = Path(tempfile.mkdtemp(prefix="salesbot-console-bench-"))
    log = open(cwd / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-scheduler", "--workers", "1"], env=env, cwd=cwd, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base, cwd
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"salesbot serve did not come up (see {cwd}/server.log)")
        time.sleep(0.2)


def sign_in(db: Database, settings: Any, base: str) -> httpx.Client:
    """A console link for the region's manager (as /看板 would issue it), spent by the sign-in button's POST."""
    with db.unit_of_work() as session:
        person = session.scalar(select(Person).where(Person.code == MANAGER))
        # earlier runs' links count against the per-person limit: the bench's manager starts afresh
        session.execute(delete(ConsoleLink).where(ConsoleLink.person_id == person.id))
        token = issue_link(session=session, person=person, platform="console", now=datetime.now(UTC),
                           settings=settings)
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    resp = client.post(f"/console/login/{token}")
    if resp.status_code != 303:
        raise SystemExit(f"sign-in failed: {resp.status_code} {resp.text[:300]}")
    return client


PAGE = f"/console/overview?region={REGION}&period={DAY.isoformat()}"


def get_page(client: httpx.Client, url: str = PAGE) -> httpx.Response:
    resp = client.get(url)
    if resp.status_code != 200:
        raise SystemExit(f"{url}: {resp.status_code} {resp.text[:500]}")
    return resp


# ---------------------------------------------------------------------------
# the check: the page's numbers are the floor's


def _csv(resp: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))[1:]


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def _close(a: Decimal | None, b: Decimal | None, tolerance: Decimal) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance


def check(client: httpx.Client, hand: Hand, conn: Connection, *, sqlite: bool) -> str:
    """Compare every figure of the page with the floor's; raise SystemExit on the first difference."""
    from bot.core.rendering import format_money

    figures = hand.figures(conn, ranking_limit=10**9)
    # SQLite keeps amounts as floats: its sums may differ from exact decimals in the last cent
    cents = Decimal("0.02") if sqlite else CENT
    tree = {row[0]: row for row in _csv(get_page(client, PAGE + "&format=csv"))}
    problems = []
    for scope, code, name, floor, target, stretch, actual, pct, needed, projection in figures["tree"]:
        row = tree.get(name)
        if row is None:
            problems.append(f"{scope} {code}: not on the page")
            continue
        # name, actual, 达成率, target, run rate needed, workdays left, forecast, floor, stretch, kind
        ours = [_dec(row[i]) for i in (7, 3, 8, 1, 2, 4, 6)]
        theirs = [_dec(v) for v in (floor, target, stretch, actual, pct, needed, projection)]
        labels = ("floor", "target", "stretch", "actual", "pct", "needed", "forecast")
        for label, a, b in zip(labels, ours, theirs, strict=True):
            # the forecast is a sum of quotients: exact decimals on both sides, rounded once; allow a cent
            if not _close(a, b, cents if label in ("forecast", "actual", "needed") else Decimal(0)):
                problems.append(f"{scope} {code} {label}: page {a} hand SQL {b}")
    if len(tree) != len(figures["tree"]):
        problems.append(f"{len(tree)} units on the page, {len(figures['tree'])} by hand SQL")
    ranking = _csv(get_page(client, PAGE + "&format=csv&table=ranking"))
    if len(ranking) != len(figures["ranking"]):
        problems.append(f"{len(ranking)} ranked on the page, {len(figures['ranking'])} by hand SQL")
    for ours, (_code, name, team, value, rank, _) in zip(ranking, figures["ranking"], strict=False):
        if (int(ours[0]), ours[1], ours[2]) != (int(rank), name, team) or not _close(_dec(ours[3]), _dec(value), cents):
            problems.append(f"ranking: page {ours} hand SQL {(rank, name, team, value)}")
            break
    html = get_page(client).text
    reported = re.search(r">(\d+)/(\d+)</a>", html)
    if reported is None or (int(reported[1]), int(reported[2])) != figures["reported"]:
        problems.append(f"reported: page {reported and reported[0]} hand SQL {figures['reported']}")
    trend = {d if isinstance(d, date) else date.fromisoformat(str(d)): _dec(v) for d, v in figures["trend"].items()}
    now_total = sum((v for d, v in trend.items() if d >= PERIOD.start), Decimal(0))
    same_day = DAY - PERIOD.start  # last month up to the same day of the month
    prev_start = month_period(PERIOD.start - timedelta(days=1)).start
    prev_same = sum((v for d, v in trend.items() if prev_start <= d <= prev_start + same_day), Decimal(0))
    for label, value in (("this month", now_total), ("last month to the same day", prev_same)):
        shown = format_money(value.quantize(CENT, ROUND_HALF_UP), "zh-CN")
        if shown not in html:
            problems.append(f"trend {label}: {shown} not on the page")
    if problems:
        raise SystemExit("the page and the hand SQL disagree:\n  " + "\n  ".join(problems[:20]))
    return (f"{len(tree)} units x 7 figures, the ranking of {len(ranking):,} sellers, the trend's totals and "
            f"the reported count: equal")


# ---------------------------------------------------------------------------
# main


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------
# main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DEFAULT_URL, help="postgresql+psycopg://... or sqlite:///PATH")
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=30, help="timed page loads (and hand-SQL runs), interleaved")
    parser.add_argument("--small", action="store_true", help="50 teams over 3 months, to try it quickly")
    parser.add_argument("--fill-only", action="store_true")
    args = parser.parse_args()
    if args.small:
        args.teams, args.years = 50, 0.25
        if args.db == DEFAULT_URL:
            args.db = DEFAULT_URL + "_small"
    if args.db.startswith("postgresql"):
        ensure_database(args.db)
    elif not args.db.startswith("sqlite:///"):
        raise SystemExit("bench/console.py runs on PostgreSQL or SQLite (--db sqlite:///PATH)")
    db = Database(args.db)
    db.ensure_schema()
    fill(db, teams=args.teams, reps=args.reps, days=round(args.years * 365))
    if args.fill_only:
        return
    settings = load_settings(None, database={"url": args.db})
    sqlite = args.db.startswith("sqlite")
    with db.engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM daily_reports"))
        teams = conn.scalar(text("SELECT count(*) FROM teams"))
    hand, raw = Hand(db, settings, totals=True), Hand(db, settings)
    proc, base, cwd = start_server(args.db)
    try:
        client = sign_in(db, settings, base)
        with db.engine.connect() as conn:
            verdict = check(client, hand, conn, sqlite=sqlite)
            check(client, raw, conn, sqlite=sqlite)  # the reports themselves agree too
            for _ in range(3):  # warm all up
                get_page(client)
                hand.figures(conn)
                raw.figures(conn)
            ours: list[float] = []
            floor: list[float] = []
            plain: list[float] = []
            for _ in range(args.runs):  # interleaved, so a noisy neighbour hits all alike
                for timed, run in ((floor, lambda: hand.figures(conn)), (ours, lambda: get_page(client)),
                                   (plain, lambda: raw.figures(conn))):
                    started = time.perf_counter()
                    run()
                    timed.append(time.perf_counter() - started)
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)
    h50, h95, o50, o95 = statistics.median(floor), _p95(floor), statistics.median(ours), _p95(ours)
    if os.environ.get("BENCH_SHOW_RUNS"):
        print("console runs (ms):", " ".join(f"{x * 1000:.0f}" for x in sorted(ours)))
    load = os.getloadavg()[0]
    print(f"database: {'sqlite' if sqlite else 'postgresql'}; {total:,} reports; region {REGION}: {teams:,} teams; "
          f"overview of {PERIOD} up to {DAY}; {args.runs} runs each, interleaved; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(f"hand SQL on the reports  p50 {statistics.median(plain) * 1000:7.1f} ms  p95 {_p95(plain) * 1000:7.1f} ms")
    print(f"hand SQL on the totals   p50 {h50 * 1000:7.1f} ms  p95 {h95 * 1000:7.1f} ms  (the floor)")
    print(f"console                  p50 {o50 * 1000:7.1f} ms  p95 {o95 * 1000:7.1f} ms  "
          "(GET over HTTP, signed in, page rendered)")
    ok = o50 / h50 <= RATIO_GOAL and o95 / h95 <= RATIO_GOAL and o95 < P95_GOAL
    print(f"ratio to the floor p50 {o50 / h50:.2f}  p95 {o95 / h95:.2f}  (goal <= {RATIO_GOAL});  "
          f"console p95 {o95 * 1000:.0f} ms (goal < {P95_GOAL * 1000:.0f} ms)  {'ok' if ok else 'MISSED'}")
    print(f"numbers: {verdict}")
    db.dispose()


if __name__ == "__main__":
    main()
