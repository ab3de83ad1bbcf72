"""Evening leaderboards for many teams over millions of reports: our service against hand-written SQL.

    python bench/leaderboard.py [--db URL] [--teams 1000] [--reps 10] [--reports 7500000] [--runs 3]

PostgreSQL only (created if missing; the data is reused when it is already there). The floor is one
hand-written SQL query per team, run on the same connection in the same run. Goal: ours <= 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.pgutil import ensure_database  # noqa: E402
from bot.core.db import Database  # noqa: E402
from models import Team  # noqa: E402
from services.leaderboard import team_ranking  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/salesbot_bench_leaderboard"
EVENING = date(2026, 11, 23)
GOAL = 1.5

# The sellers (contract section 8): reps, and managers with a personal goal for the evening's month, its
# quarter or year, or a week touching it (services.sellers), in the shape a careful hand would write.
HAND_SQL = text("""
SELECT p.id, p.code, p.name, COALESCE(r.signed_amount, 0) AS value, r.id IS NOT NULL AS reported
FROM people p
LEFT JOIN daily_reports r ON r.person_id = p.id AND r.day = :day AND r.submitted_at IS NOT NULL
WHERE p.team_id = :team AND p.active
  AND (p.role = 'rep' OR (SELECT 1 FROM goals g WHERE g.scope = 'user' AND g.code = p.code
                          AND g.period IN ('2026-11', '2026-Q4', '2026', '2026-W44', '2026-W45', '2026-W46',
                                           '2026-W47', '2026-W48', '2026-W49') LIMIT 1) IS NOT NULL)
ORDER BY value DESC, p.code
""")


def fill(db: Database, *, teams: int, reps: int, reports: int) -> None:
    """Regions, teams, reps, a manager per team (half of them player-coaches with a goal) and one report per
    person per day, by INSERT ... SELECT generate_series."""
    days = max(1, reports // (teams * reps))
    with db.engine.begin() as conn:
        have_teams = conn.scalar(text("SELECT count(*) FROM teams WHERE code LIKE 'lb%'"))
        have_reports = conn.scalar(text("SELECT count(*) FROM daily_reports"))
        have_managers = conn.scalar(text("SELECT count(*) FROM people WHERE role = 'manager' AND code LIKE 'lbm%'"))
        if (have_teams == teams and have_managers == teams and have_reports
                and abs(have_reports - teams * (reps + 1) * days) <= teams * (reps + 1)):
            print(f"reusing {have_reports:,} reports for {have_teams} teams")
            return
    print(f"filling {teams} teams x ({reps} reps + a manager) x {days} days = {teams * (reps + 1) * days:,} reports ...",
          flush=True)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE daily_reports, goals, people, teams, regions RESTART IDENTITY CASCADE"))
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        region = conn.scalar(text("INSERT INTO regions (code, name) VALUES ('lb', 'Bench') RETURNING id"))
        conn.execute(text("INSERT INTO teams (code, name, region_id, main_metric) "
                          "SELECT 'lb' || g, 'Team ' || g, :r, 'signed_amount' FROM generate_series(1, :n) g"),
                     {"r": region, "n": teams})
        conn.execute(text("INSERT INTO people (code, name, role, team_id, active) "
                          "SELECT 'lb' || t.id || '_' || g, 'Rep ' || t.id || '-' || g, 'rep', t.id, true "
                          "FROM teams t, generate_series(1, :n) g"), {"n": reps})
        # A manager on every team; every other one a player-coach with a month goal (ranked with the reps).
        # Every rep has month, quarter and year goals, as in the demo: the goals table is not tiny.
        conn.execute(text("INSERT INTO people (code, name, role, team_id, active) "
                          "SELECT 'lbm' || t.id, 'Manager ' || t.id, 'manager', t.id, true FROM teams t"))
        conn.execute(text("INSERT INTO goals (scope, code, period, metric, target, updated_at) "
                          "SELECT 'user', p.code, g.period, 'signed_amount', 400000, now() "
                          "FROM people p, (VALUES ('2026-11'), ('2026-Q4'), ('2026')) g(period) "
                          "WHERE p.role = 'rep' "
                          "UNION ALL SELECT 'user', 'lbm' || t.id, '2026-11', 'signed_amount', 500000, now() "
                          "FROM teams t WHERE t.id % 2 = 0"))
        conn.execute(text("""
            INSERT INTO daily_reports (person_id, team_id, day, visits, new_leads, signed_amount,
                                       collected_amount, extra, submitted_at, updated_at)
            SELECT p.id, p.team_id, CAST(:end AS date) - d, (random() * 8)::int, (random() * 3)::int,
                   round((random() * 200000)::numeric, 2), round((random() * 100000)::numeric, 2),
                   '{}'::json, now(), now()
            FROM generate_series(0, :days - 1) d, people p
            WHERE d > 0 OR random() + 0 * p.id < 0.9  -- p.id: drawn per person, not once for the day
        """), {"end": EVENING, "days": days})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


def time_service(db: Database, team_ids: list[int]) -> tuple[float, int]:
    rows = 0
    with Session(db.engine) as session:
        teams = list(session.scalars(select(Team).where(Team.id.in_(team_ids))))  # the job has its team
        started = time.perf_counter()
        for team in teams:
            rows += len(team_ranking(session=session, team=team, metric="signed_amount", start=EVENING,
                                     end=EVENING))
        return time.perf_counter() - started, rows


def time_hand(db: Database, team_ids: list[int]) -> tuple[float, int]:
    rows = 0
    with db.engine.connect() as conn:
        started = time.perf_counter()
        for team_id in team_ids:
            rows += len(conn.execute(HAND_SQL, {"day": EVENING, "team": team_id}).all())
        return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DEFAULT_URL)
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--reports", type=int, default=7_500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        raise SystemExit("bench/leaderboard.py needs PostgreSQL (--db postgresql+psycopg://...)")
    ensure_database(args.db)
    db = Database(args.db)
    db.ensure_schema()
    fill(db, teams=args.teams, reps=args.reps, reports=args.reports)
    with Session(db.engine) as session:
        team_ids = list(session.scalars(select(Team.id).where(Team.code.like("lb%")).order_by(Team.id)))
        total = session.scalar(text("SELECT count(*) FROM daily_reports"))
    time_service(db, team_ids[:20])  # warm both paths up
    time_hand(db, team_ids[:20])
    ours: list[float] = []
    hand: list[float] = []
    for _ in range(args.runs):  # interleaved, so a noisy neighbour hits both alike
        h, hand_rows = time_hand(db, team_ids)
        o, our_rows = time_service(db, team_ids)
        assert our_rows == hand_rows, (our_rows, hand_rows)
        hand.append(h)
        ours.append(o)
    o_med, h_med = statistics.median(ours), statistics.median(hand)
    n = len(team_ids)
    print(f"database: postgresql; {total:,} reports; {n} teams; evening {EVENING}; {args.runs} runs (median)")
    print(f"hand SQL   {h_med:7.2f} s for {n} leaderboards  ({h_med / n * 1000:6.2f} ms each)")
    print(f"salesbot   {o_med:7.2f} s for {n} leaderboards  ({o_med / n * 1000:6.2f} ms each)")
    verdict = "ok" if o_med / h_med <= GOAL else "MISSED"
    print(f"ratio {o_med / h_med:.2f}  (goal <= {GOAL})  {verdict}")
    db.dispose()


if __name__ == "__main__":
    main()
