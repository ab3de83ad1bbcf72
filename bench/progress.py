"""Benchmark goal progress on PostgreSQL: one rep's month and a whole region's, against hand-written SQL.

Usage: python bench/progress.py [URL] [--reps 10000] [--years 3] [--runs 50] [--refill]
Fills the database (created if missing) with regions, teams, reps and a report per rep per workday.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.core.db import Database  # noqa: E402
from models import Base, DailyReport, Goal, Person, Region, Team  # noqa: E402
from services.calendar import WorkCalendar  # noqa: E402
from services.goals import person_progress, region_progress  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/salesbot_bench"
REGIONS, TEAMS_PER_REGION = 10, 10


def ensure_database(url: str) -> None:
    """Create the database if it does not exist."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}) is None:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def fill(db: Database, reps: int, years: int, today: date) -> None:
    """Wipe and fill: 1 top region, REGIONS sub-regions, TEAMS_PER_REGION teams each, reps spread over teams."""
    with db.engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.upgrade()
    rng = random.Random(7)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(Region.__table__.insert(), [{"id": 1, "code": "all", "name": "All", "parent_id": None}] + [
            {"id": 1 + r, "code": f"r{r}", "name": f"Region {r}", "parent_id": 1} for r in range(1, REGIONS + 1)])
        teams = [{"id": t + 1, "code": f"t{t}", "name": f"Team {t}", "region_id": 2 + t // TEAMS_PER_REGION,
                  "main_metric": "signed_amount"} for t in range(REGIONS * TEAMS_PER_REGION)]
        conn.execute(Team.__table__.insert(), teams)
        people = [{"id": p + 1, "code": f"rep{p}", "name": f"Rep {p}", "role": "rep",
                   "team_id": 1 + p % len(teams), "active": True} for p in range(reps)]
        conn.execute(Person.__table__.insert(), people)
        month = f"{today:%Y-%m}"
        conn.execute(Goal.__table__.insert(), [
            {"scope": "user", "code": "rep0", "period": month, "metric": m, "target": Decimal(500000),
             "floor": Decimal(300000), "stretch": Decimal(800000), "updated_at": datetime.now(UTC)}
            for m in ("signed_amount", "visits")] + [
            {"scope": "region", "code": code, "period": month, "metric": m, "target": Decimal(10**9),
             "floor": None, "stretch": None, "updated_at": datetime.now(UTC)}
            for code in ("all", "r1") for m in ("signed_amount", "visits")])
    days = [today - timedelta(days=i) for i in range(365 * years)]
    days = [d for d in days if d.weekday() < 5]
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        stamp = datetime.now(UTC).isoformat()
        # index maintenance row by row is what makes a big COPY slow: build the indexes afterwards
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'daily_reports' "
                    "AND indexname LIKE 'ix_%'")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cols = ("person_id, team_id, day, visits, new_leads, signed_amount, collected_amount, extra, "
                "submitted_at, updated_at")
        with cur.copy(f"COPY daily_reports ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for p in people:
                pid, tid = p["id"], p["team_id"]
                for d in days:
                    copy.write_row((pid, tid, d, rng.randint(0, 6), rng.randint(0, 3),
                                    rng.choice((0, 0, 0, 5000, 20000, 125000)), 0, "{}", stamp, stamp))
        for _, definition in indexes:
            cur.execute(definition)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    print(f"filled {reps} reps x {len(days)} workdays = {reps * len(days):,} reports "
          f"in {time.perf_counter() - started:.1f} s")


def p95(fn: Callable[[], object], runs: int) -> float:
    """Return the 95th percentile of fn's wall time in milliseconds (after one warm-up run)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--refill", action="store_true", help="fill again even if the data is there")
    args = parser.parse_args()
    if make_url(args.url).get_backend_name() != "postgresql":
        parser.error("the benchmark needs a PostgreSQL URL")
    ensure_database(args.url)
    db = Database(args.url)
    today = date.today()
    try:
        with db.unit_of_work() as s:
            count = s.scalar(select(func.count()).select_from(Person))
    except Exception:
        count = None
    if args.refill or count != args.reps:
        fill(db, args.reps, args.years, today)
    calendar = WorkCalendar("none")
    start = today.replace(day=1)

    with db.unit_of_work() as s:
        rep = s.scalar(select(Person).where(Person.code == "rep0"))
        region = s.scalar(select(Region).where(Region.code == "r1"))
        assert rep is not None and region is not None
        rep_id, region_id = rep.id, region.id

        def service_rep() -> object:
            return person_progress(session=s, person=rep, day=today, calendar=calendar)

        def service_region() -> object:
            return region_progress(session=s, region=region, day=today, calendar=calendar)

        def sql_rep() -> object:
            return s.execute(text(
                "SELECT g.metric, g.target, g.floor, g.stretch, CASE g.metric WHEN 'visits' THEN x.v "
                "ELSE x.s END FROM goals g, (SELECT sum(signed_amount) AS s, sum(visits) AS v, "
                "max(CASE WHEN day = :b THEN 1 ELSE 0 END) AS done FROM daily_reports WHERE person_id = :p "
                "AND day BETWEEN :a AND :b AND submitted_at IS NOT NULL) x "
                "WHERE g.scope = 'user' AND g.code = 'rep0' AND g.period = :m"),
                {"p": rep_id, "a": start, "b": today, "m": f"{today:%Y-%m}"}).all()

        def sql_region() -> object:
            return s.execute(text(
                "WITH RECURSIVE sub(id) AS (SELECT CAST(:r AS INTEGER) UNION ALL "
                "SELECT r.id FROM regions r JOIN sub ON r.parent_id = sub.id) "
                "SELECT g.metric, g.target, CASE g.metric WHEN 'visits' THEN x.v ELSE x.s END FROM goals g, "
                "(SELECT sum(d.signed_amount) AS s, sum(d.visits) AS v FROM daily_reports d "
                "JOIN teams t ON t.id = d.team_id WHERE t.region_id IN (SELECT id FROM sub) "
                "AND d.day BETWEEN :a AND :b AND d.submitted_at IS NOT NULL) x "
                "WHERE g.scope = 'region' AND g.code = 'r1' AND g.period = :m ORDER BY g.metric"),
                {"r": region_id, "a": start, "b": today, "m": f"{today:%Y-%m}"}).all()

        got = service_region()
        want = sql_region()
        assert [(p.metric, p.actual) for p in got] == [(m, Decimal(v or 0)) for m, _, v in want], (got, want)  # type: ignore[attr-defined]
        rows = s.scalar(select(func.count()).select_from(DailyReport))
        print(f"{rows:,} reports; month {start} to {today}; {args.runs} runs each, p95 in ms")
        for label, service, sql in (("one rep's month", service_rep, sql_rep),
                                    ("a region's month (10 teams)", service_region, sql_region)):
            a, b = p95(service, args.runs), p95(sql, args.runs)
            verdict = "ok" if a <= 1.5 * b else "SLOW"
            print(f"{label:30s} service {a:8.2f}  sql {b:8.2f}  ratio {a / b:5.2f}x  {verdict} (goal <= 1.5x)")
    db.dispose()


if __name__ == "__main__":
    main()
