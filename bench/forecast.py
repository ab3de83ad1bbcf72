"""Backtest of the month-end forecast (services/forecast.py): the forecast made each workday vs the month's actual.

    python bench/forecast.py [--months 12] [--reps 8] [--teams 4] [--seed 7] [--demo]

For every workday of every complete month of a history, as of that workday's evening (its reports in, the
customers' stages as they stood that day), it asks `services.forecast.forecast` for the month-end
signed_amount of every person, team and the organisation, and compares the figure with the month's actual.
It prints the mean absolute percentage error (MAPE) by workday of the month (1 = the month's first workday)
and overall, for the run-rate-only forecast (the straight line actual * workdays / workdays gone) and for
the forecast with the pipeline (the run rate blended with the stage-weighted open pipeline, as shipped).
Unit-months whose actual is 0 have no percentage error and are left out (their count is printed).

Which history:
- by default a synthetic one generated here (seeded, so the figures repeat): --teams teams of --reps reps
  over 3 warm-up months and --months backtested months on China's workday calendar. Every rep has a skill
  and a deal size of their own, and each month a mood of their own and of their team (lognormal noise);
  leads arrive every workday (Poisson), move lead -> needs -> proposal -> negotiation -> signed or get lost
  with fixed daily chances, and a signed customer brings an amount drawn around the rep's deal size. A rep
  misses a report now and then; what was signed is then reported the next time. The pipeline's stage
  history is replayed day by day, so a forecast never sees a later stage.
- --demo: the history `salesbot demo` writes (bot/demo.py: 60 workdays, so one or two complete months).
  It is too short and too regular to say much: daily amounts are drawn independently of any pipeline and
  the customers keep today's stages over the whole history (the pipeline figure there sees the future).

What the figures are evidence of: how the two forecasts behave across the month on data shaped like
the generator says, e.g. how fast the straight line settles and whether leaning on the pipeline early
helps, and that the service's arithmetic holds together over hundreds of real calls on a real database.
What they are NOT evidence of: accuracy on real sales. The history is synthetic (no seasonality, no
month-end push, no quarter-end deals, no large one-off contracts, stages kept perfectly); the stage
weights and the pipeline horizon are the shipped defaults, not fitted to the generator (it prints the win
chances its own stage model implies beside them) or to anyone's real outcomes; and one seed is one sample.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, insert, select, update  # noqa: E402

from bot.core.db import Database  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from models import Customer, DailyReport, Person, Region, Team  # noqa: E402
from models.rollups import rebuild  # noqa: E402
from services.calendar import WorkCalendar  # noqa: E402
from services.forecast import forecast  # noqa: E402
from services.goals import Period, PeriodKind  # noqa: E402

METRIC = "signed_amount"
WARM_UP_MONTHS = 3  # the look-back window (90 days) needs history before the first backtested month
# daily chances: (advance to the next stage, get lost); the stage after negotiation is signed
STAGE_MODEL = {"lead": (0.06, 0.03), "needs": (0.05, 0.02), "proposal": (0.05, 0.02), "negotiation": (0.06, 0.02)}
NEXT = {"lead": "needs", "needs": "proposal", "proposal": "negotiation", "negotiation": "signed"}
LEADS_PER_WORKDAY = 0.35
MISSED_REPORT = 0.07


def implied_win_chances() -> dict[str, float]:
    """The chance a customer at each stage is eventually signed under the generator's stage model."""
    out: dict[str, float] = {}
    chance = 1.0
    for stage in reversed(list(STAGE_MODEL)):
        advance, lost = STAGE_MODEL[stage]
        chance *= advance / (advance + lost)
        out[stage] = chance
    return dict(reversed(list(out.items())))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _month(day: date) -> Period:
    return Period(PeriodKind.MONTH, day.year, day.month)


def _add_months(day: date, n: int) -> date:
    m = day.month - 1 + n
    return date(day.year + m // 12, m % 12 + 1, 1)


@dataclass
class _Customer:
    id: int
    owner: int
    stage: str = "lead"
    signed_on: date | None = None
    history: list[tuple[date, str]] = field(default_factory=list)  # (day, stage from that day on)


@dataclass
class History:
    db: Database
    months: list[Period]  # the complete months to backtest
    # customer id -> [(day, stage, owner or None before it exists, signed_on)] to replay
    timeline: dict[date, list[tuple[int, str, int | None, date | None]]]
    description: str
    synthetic: bool  # one top region ("all") over everything; the demo has several top regions


def synthetic(db: Database, *, teams: int, reps: int, months: int, seed: int, calendar: WorkCalendar,
              first: date) -> History:
    """Write the organisation and its reports; keep the customers' stage changes for replay."""
    rng = random.Random(seed)
    now = datetime(2020, 1, 1, tzinfo=UTC)
    start, end = first, _add_months(first, WARM_UP_MONTHS + months) - timedelta(days=1)
    with db.unit_of_work() as s:
        top = Region(code="all", name="All")
        s.add(top)
        s.flush()
        regions = [Region(code=f"r{i}", name=f"Region {i}", parent_id=top.id) for i in range(2)]
        s.add_all(regions)
        s.flush()
        team_rows = [Team(code=f"t{i}", name=f"Team {i}", region_id=regions[i % 2].id) for i in range(teams)]
        s.add_all(team_rows)
        s.flush()
        people = [Person(code=f"p{t.id}_{j}", name=f"Rep {t.id}-{j}", role="rep", team_id=t.id)
                  for t in team_rows for j in range(reps)]
        s.add_all(people)
        s.flush()
        rep_ids = [(p.id, p.team_id) for p in people]
        region_of = {t.id: t.region_id for t in team_rows}
    skill = {pid: rng.lognormvariate(0, 0.35) for pid, _ in rep_ids}
    deal = {pid: 100_000 * rng.lognormvariate(0, 0.3) for pid, _ in rep_ids}
    mood: dict[tuple[int, str], float] = {}

    def month_mood(key: int, day: date, sigma: float) -> float:
        k = (key, f"{day:%Y-%m}")
        if k not in mood:
            mood[k] = rng.lognormvariate(0, sigma)
        return mood[k]

    customers: list[_Customer] = []
    open_of: dict[int, list[_Customer]] = defaultdict(list)
    carry: dict[int, Decimal] = defaultdict(Decimal)
    reports: list[dict[str, object]] = []
    timeline: dict[date, list[tuple[int, str, int | None, date | None]]] = defaultdict(list)
    for day in calendar.workdays(start, end):
        for pid, tid in rep_ids:
            factor = skill[pid] * month_mood(pid, day, 0.25) * month_mood(-tid, day, 0.15)
            signed = Decimal(0)
            still_open = []
            for c in open_of[pid]:
                advance, lost = STAGE_MODEL[c.stage]
                roll = rng.random()
                if roll < advance * min(factor, 2.0):
                    c.stage = NEXT[c.stage]
                elif roll > 1 - lost:
                    c.stage = "lost"
                else:
                    still_open.append(c)
                    continue
                if c.stage == "signed":
                    c.signed_on = day
                    signed += Decimal(round(deal[pid] * rng.lognormvariate(0, 0.5), -3))
                timeline[day].append((c.id, c.stage, pid, c.signed_on))
                if c.stage not in ("signed", "lost"):
                    still_open.append(c)
            for _ in range(_poisson(rng, LEADS_PER_WORKDAY * factor)):
                c = _Customer(id=len(customers) + 1, owner=pid)
                customers.append(c)
                still_open.append(c)
                timeline[day].append((c.id, "lead", pid, None))
            open_of[pid] = still_open
            carry[pid] += signed
            if rng.random() < MISSED_REPORT:
                continue
            sent = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
            reports.append({"person_id": pid, "team_id": tid, "day": day, "signed_amount": carry[pid],
                            "visits": _poisson(rng, 2.5), "extra": {}, "submitted_at": sent, "updated_at": sent})
            carry[pid] = Decimal(0)
    with db.unit_of_work() as s:
        team_of = dict(rep_ids)
        # every customer exists from the start with no owner: the replay gives it one the day it arrives
        s.execute(insert(Customer), [
            {"id": c.id, "name": f"c{c.id}", "name_key": f"c{c.id}", "region_id": region_of[team_of[c.owner]],
             "owner_id": None, "stage": "lead", "tier": "B", "created_at": now} for c in customers])
        # Core inserts (the ORM's bulk insert would be refused), then the totals they bypassed (models/rollups.py)
        for i in range(0, len(reports), 5000):
            s.connection().execute(DailyReport.__table__.insert(), reports[i:i + 5000])
        rebuild(s.connection())
    backtested = [_month(_add_months(first, WARM_UP_MONTHS + i)) for i in range(months)]
    text = (f"synthetic history (seed {seed}): {teams} teams x {reps} reps in 2 regions, "
            f"{start:%Y-%m} to {end:%Y-%m}, {len(reports):,} reports, {len(customers):,} customers")
    return History(db, backtested, timeline, text, synthetic=True)


def demo(db: Database, *, calendar: WorkCalendar, today: date) -> History:
    """The history `salesbot demo` writes, as of `today`."""
    from bot.demo import HISTORY_WORKDAYS, add_history, build_organisation

    now = datetime(today.year, today.month, today.day, 2, tzinfo=UTC)
    settings = Settings()
    with db.unit_of_work() as s:
        build_organisation(s, now=now, today=today)
        add_history(s, settings=settings, calendar=calendar, now=now)
        first_report = s.scalar(select(DailyReport.day).order_by(DailyReport.day).limit(1))
    assert first_report is not None
    month = _month(first_report)
    if first_report != month.start:
        month = _month(_add_months(month.start, 1))
    months = []
    while month.end < today:
        months.append(month)
        month = _month(_add_months(month.start, 1))
    text = (f"the demo's history (bot/demo.py, {HISTORY_WORKDAYS} workdays up to {today}); customers keep "
            "today's stages throughout (the pipeline figure sees the future)")
    return History(db, months, {}, text, synthetic=False)


def replay(db: Database, history: History, upto: date, done: set[date]) -> None:
    """Set every customer's owner, stage and signed_on as they stood at the end of `upto`."""
    changes = [row for d in sorted(history.timeline) if d <= upto and d not in done for row in history.timeline[d]]
    done.update(d for d in history.timeline if d <= upto)
    if not changes:
        return
    latest = {cid: (stage, owner, signed_on) for cid, stage, owner, signed_on in changes}
    with db.unit_of_work() as s:
        s.connection().execute(
            update(Customer).where(Customer.id == bindparam("cid")).values(
                stage=bindparam("stage"), owner_id=bindparam("owner"), signed_on=bindparam("signed_on")),
            [{"cid": cid, "stage": st, "owner": ow, "signed_on": so} for cid, (st, ow, so) in latest.items()])


@dataclass
class Errors:
    """Absolute percentage errors by unit kind, forecast, and workday of the month."""

    by: dict[tuple[str, str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    zero: int = 0

    def add(self, kind: str, method: str, index: int, forecast_value: Decimal, actual: Decimal) -> None:
        self.by[(kind, method, index)].append(float(abs(forecast_value - actual) / actual) * 100)

    def mape(self, kind: str, method: str, index: int | None = None) -> float | None:
        values = [v for (k, m, i), vs in self.by.items() if k == kind and m == method
                  and (index is None or i == index) for v in vs]
        return statistics.fmean(values) if values else None


def backtest(history: History, *, calendar: WorkCalendar, settings: Settings) -> tuple[Errors, int, float]:
    errors = Errors()
    calls = 0
    spent = 0.0
    replayed: set[date] = set()
    for period in history.months:
        days = calendar.workdays(period.start, period.end)
        made: list[dict[str, tuple[str, Decimal, Decimal]]] = []
        for day in days:
            replay(history.db, history, day, replayed)
            with history.db.unit_of_work() as s:
                roots = list(s.scalars(select(Region).where(Region.parent_id.is_(None))))
                row: dict[str, tuple[str, Decimal, Decimal]] = {}
                for root in roots:
                    started = time.perf_counter()
                    outlook = forecast(session=s, unit=root, period=period, metric=METRIC, day=day,
                                       calendar=calendar, settings=settings)
                    spent += time.perf_counter() - started
                    calls += 1
                    for n in outlook.nodes:
                        kind = {"user": "people", "team": "teams", "region": "regions"}[n.scope]
                        if n.scope == "region" and n.parent is None and history.synthetic:
                            kind = "organisation"
                        row[n.key] = (kind, n.run_rate_projection, n.projection)
                made.append(row)
        replay(history.db, history, period.end, replayed)
        with history.db.unit_of_work() as s:
            final: dict[str, Decimal] = {}
            for root in s.scalars(select(Region).where(Region.parent_id.is_(None))):
                outlook = forecast(session=s, unit=root, period=period, metric=METRIC,
                                   day=period.end + timedelta(days=1), calendar=calendar, settings=settings)
                final.update({n.key: n.actual for n in outlook.nodes})
        for index, row in enumerate(made, start=1):
            for key, (kind, straight, blended) in row.items():
                actual = final.get(key, Decimal(0))
                if actual <= 0:
                    errors.zero += index == 1
                    continue
                errors.add(kind, "run rate", index, straight, actual)
                errors.add(kind, "with pipeline", index, blended, actual)
    return errors, calls, spent


def report(history: History, errors: Errors, *, settings: Settings, calls: int, spent: float) -> None:
    kinds = [k for k in ("people", "teams", "regions", "organisation")
             if errors.mape(k, "run rate") is not None]
    print(f"bench/forecast.py: {history.description}")
    print(f"backtested months: {', '.join(str(m) for m in history.months)}; metric {METRIC}; forecasts made each "
          f"workday evening; {calls} calls of services.forecast.forecast, {spent / max(calls, 1) * 1000:.1f} ms each")
    weights = settings.forecast.stage_weights
    print(f"stage weights (config): lead {weights.lead}, needs {weights.needs}, proposal {weights.proposal}, "
          f"negotiation {weights.negotiation}; pipeline_workdays {settings.forecast.pipeline_workdays}, "
          f"lookback_days {settings.forecast.lookback_days}")
    if history.synthetic:
        implied = ", ".join(f"{k} {v:.2f}" for k, v in implied_win_chances().items())
        print(f"win chances the generator's stage model implies (not used by the forecast): {implied}")
    print(f"MAPE (%) of the month-end forecast against the month's actual; {errors.zero} unit-months with a zero "
          "actual left out")
    head = f"{'workday':>7} " + "".join(f"| {k + ': run rate':>22} {'+ pipeline':>10} " for k in kinds)
    print(head)
    print("-" * len(head))
    indexes = sorted({i for (_, _, i) in errors.by})
    for i in indexes:
        cells = ""
        for k in kinds:
            a, b = errors.mape(k, "run rate", i), errors.mape(k, "with pipeline", i)
            cells += f"| {_fmt(a):>22} {_fmt(b):>10} "
        print(f"{i:>7} {cells}")
    print("-" * len(head))
    cells = "".join(f"| {_fmt(errors.mape(k, 'run rate')):>22} {_fmt(errors.mape(k, 'with pipeline')):>10} "
                    for k in kinds)
    print(f"{'overall':>7} {cells}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=12, help="complete months to backtest (synthetic)")
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--reps", type=int, default=8, help="reps per team")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first", default="2025-01-01", help="first day of the synthetic history (warm-up)")
    parser.add_argument("--demo", action="store_true", help="backtest on `salesbot demo`'s history instead")
    parser.add_argument("--today", default="2026-11-23", help="the demo's today")
    args = parser.parse_args()
    calendar = WorkCalendar("CN")
    settings = Settings()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/forecast-bench.db")
        db.ensure_schema()
        if args.demo:
            history = demo(db, calendar=calendar, today=date.fromisoformat(args.today))
        else:
            history = synthetic(db, teams=args.teams, reps=args.reps, months=args.months, seed=args.seed,
                                calendar=calendar, first=date.fromisoformat(args.first))
        if not history.months:
            raise SystemExit("no complete month in the history")
        errors, calls, spent = backtest(history, calendar=calendar, settings=settings)
        report(history, errors, settings=settings, calls=calls, spent=spent)
        db.dispose()


if __name__ == "__main__":
    main()
