"""Forecast: a period-end projection per person, team and region from the run rate and the open pipeline.

For a unit (person, team or region) and a period (a month, a quarter, any goal period), as of a day:

    projection = actual + run-rate part + pipeline part

- actual: the unit's total of the metric from the period's start to the day, counted exactly as `/goal` and
  the evening post count it (submitted reports; a team's or region's by the team each report was filed in).
- the rate for the workdays left is a mix of two per-workday rates, weighted by the time progress
  (时间进度, workdays gone / the period's workdays): the run rate so far (actual / workdays gone) and the
  pipeline's rate (the weighted value of the open opportunities spread over `pipeline_workdays`). Early in the
  period the forecast leans on the pipeline; by the end on what was reported. So, with `e` workdays gone, `r`
  left and `T` in all (per person; a team or region adds its people up):
      run-rate part = r * (e/T) * actual/e = r * actual / T
      pipeline part = r * (r/T) * pipeline value / pipeline_workdays
- pipeline value: open customers (stages lead, needs, proposal, negotiation) owned by the person, each weighted
  by its stage (`[forecast.stage_weights]`) and valued at the average amount per won deal over the last
  `lookback_days`: the person's own once they have `min_deals` deals, else their team's, else the whole
  organisation's. Customers carry no deal amount; this is the estimate. The deals counted are the customers
  marked signed in the window, or the reports with a positive amount if those are more (people who report
  signings without moving customers to signed would otherwise get several deals' worth for one).
- counts (visits, leads, ...), and money in an organisation where no customer was marked signed in the window
  (it does not keep stages), get the straight line from the run rate alone: actual * T / e.
- a team's future is its current people's: reports filed in it by someone who left or moved count as done.
  People are listed (with their pipeline) only when they are sellers in the period (services/sellers.py).

The run-rate-only projection (actual * T / e, the classic straight line) is returned too: the backtest in
bench/forecast.py compares both. Everything is computed with a few set-based queries for the whole tree, not
one per person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from bot.core.db import read_beside
from bot.core.rendering import LOCALES, render_source
from bot.core.settings import Settings
from models import Customer, DailyReport, Goal, GoalScope, Person, Region, Team
from services.calendar import WorkCalendar
from services.fields import FieldType, Stage, stage_label
from services.goals import ZERO, Period, _num, region_subtree
from services.report_fields import field_by_key, load_fields
from services.report_totals import Scope, has_totals, window
from services.sellers import seller_condition, seller_periods

__all__ = ["OPEN_STAGES", "Forecast", "Outlook", "assumptions", "forecast"]

OPEN_STAGES: tuple[Stage, ...] = (Stage.LEAD, Stage.NEEDS, Stage.PROPOSAL, Stage.NEGOTIATION)
_CENT = Decimal("0.01")
_REPORTS = DailyReport.__table__
_HUNDRED = Decimal(100)
# Before this many workdays are gone the run rate rests on too little: the assumptions say so.
EARLY_WORKDAYS = 5


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, ROUND_HALF_UP)


@dataclass
class Forecast:
    """One unit's projection for the period; every amount in the metric's unit (yuan for money)."""

    scope: str  # "user" | "team" | "region"
    code: str
    name: str
    parent: str | None  # the key ("team:sh1", "region:east") of the unit above, None for the top
    actual: Decimal  # equals /goal's actual for the same unit and period
    target: Decimal | None  # the unit's goal for the period and metric, if it has one
    floor: Decimal | None
    stretch: Decimal | None
    workdays: int  # in the period
    workdays_gone: int  # as /goal counts them (a person's today is gone once reported; a team's when over)
    workdays_left: int
    run_rate: Decimal | None  # per workday so far (a team: its people's rates added up); None before any
    run_rate_projection: Decimal  # the straight line: actual + run_rate * workdays left
    run_rate_part: Decimal  # what the run rate adds to the actual in `projection`
    pipeline_part: Decimal  # what the open pipeline adds
    projection: Decimal  # actual + run_rate_part + pipeline_part
    pct_target: Decimal | None  # projection against the target, in percent
    open_by_stage: dict[str, int]  # open opportunities by stage (every stage of OPEN_STAGES present)
    pipeline_value: Decimal  # sum over open opportunities of stage weight * deal value
    deal_value: Decimal | None  # a person's value of one opportunity (None for teams, regions, counts)
    deal_basis: str  # "person" | "team" | "organisation" | "none" (no won deal anywhere) | "" (not a person)
    won_deals: int  # deals in the look-back window behind deal_value (the person's, team's or everyone's)

    @property
    def key(self) -> str:
        return f"{self.scope}:{self.code}"

    @property
    def open_opportunities(self) -> int:
        return sum(self.open_by_stage.values())

    def as_dict(self) -> dict[str, Any]:
        """Return plain data for templates."""
        out = asdict(self)
        out["key"] = self.key
        return out


@dataclass
class Outlook:
    """The forecasts of a unit and everything below it, with the settings they were made with."""

    metric: str
    kind: str  # "money" | "count"
    uses_pipeline: bool  # False for counts, and when no deal was won anywhere in the look-back window
    period: str
    day: date  # as of (clamped into the period)
    workdays: int
    calendar_mode: str  # "CN" | "none"
    stage_weights: dict[str, Decimal]
    lookback_days: int
    min_deals: int
    pipeline_workdays: int
    labels: dict[str, str]  # the metric's label by locale
    nodes: list[Forecast] = field(default_factory=list)  # depth first: a region, its teams and people, sub-regions
    # each listed seller's actual from the period's start to `day`, wherever they filed it (by person id): the
    # console's ranking of the same sellers over the same days reuses it rather than summing again
    seller_actuals: dict[int, Decimal] = field(default_factory=dict, repr=False, compare=False)

    @property
    def root(self) -> Forecast:
        return self.nodes[0]

    def node(self, scope: GoalScope | str, code: str) -> Forecast | None:
        """Return the forecast of one unit of the tree, or None."""
        key = f"{scope}:{code}"
        return next((n for n in self.nodes if n.key == key), None)

    def children(self, node: Forecast) -> list[Forecast]:
        return [n for n in self.nodes if n.parent == node.key]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, nodes=[], seller_actuals={}))
        del out["seller_actuals"]
        out["nodes"] = [n.as_dict() for n in self.nodes]
        return out


# ---------------------------------------------------------------------------
# the pieces, each one query for the whole tree


def _dec(value: Any) -> Decimal:
    """A sum as the driver returns it (Decimal, int, or None) as a Decimal, without a trip through str."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else _num(value)


# Per (person, team): the period's sum of the reports filed in that team; the people who reported on the
# as-of day; per person: the look-back's sum, and the reports with the metric above zero.
_Actuals = dict[tuple[int, int | None], Decimal]
_Lookback = dict[int, tuple[Decimal, int]]


def _cells(session: Session, scope: Scope, metric: str, period_start: date, lookback_start: date, day: date,
           keep: Callable[[int, int | None], bool] | None = None) -> tuple[_Actuals, set[int], _Lookback]:
    """Sum the metric per (person, team) over the period, and per person over the look-back window, and who
    reported on `day`; `scope` chooses the reports in SQL, `keep(person, team)` (if given) narrows them.
    (Plain dicts and sets: a region has 10,000 people.)"""
    start = min(period_start, lookback_start)
    actuals: _Actuals = {}
    done: set[int] = set()
    lookback: _Lookback = {}
    if start > day:
        return actuals, done, lookback
    if has_totals(metric):
        # the windows from the monthly totals (services/report_totals.py): a region's month and 90-day look-back
        # are about a million reports, their totals a few ten thousand rows; plain rows on the session's
        # connection (flushed by the caller), fetched at once: no ORM result handling for 10,000 rows
        conn = session.connection()
        latest = conn.scalar(select(func.max(_REPORTS.c.day)))  # no report after it: nothing to take away
        def add(pid: int, total: Decimal, days: int) -> None:
            found = lookback.get(pid)
            lookback[pid] = (total, days) if found is None else (found[0] + total, found[1] + days)

        # the look-back that ends with the period is the period's sums and the days before it: the period is
        # read once
        ends_with = lookback_start <= period_start <= day
        if period_start <= day:
            for pid, tid, total, days, _ in conn.execute(
                    select(window(metric, period_start, day, scope, latest=latest))).all():
                tid = tid or None
                if keep is None or keep(pid, tid):
                    total = actuals[(pid, tid)] = total if isinstance(total, Decimal) else _dec(total)
                    if ends_with:
                        add(pid, total, int(days or 0))
        start, end = (lookback_start, period_start - timedelta(days=1)) if ends_with else (lookback_start, day)
        if start <= end:
            for pid, tid, total, days, _ in conn.execute(
                    select(window(metric, start, end, scope, latest=latest))).all():
                if keep is None or keep(pid, tid or None):
                    add(pid, total if isinstance(total, Decimal) else _dec(total), int(days or 0))
        reported = _REPORTS.c.day == day, _REPORTS.c.submitted_at.is_not(None)
        for pid, tid in conn.execute(select(_REPORTS.c.person_id, _REPORTS.c.team_id)
                                     .where(*reported, scope(_REPORTS.c.person_id, _REPORTS.c.team_id))).all():
            if keep is None or keep(pid, tid):
                done.add(pid)
        return actuals, done, lookback
    span = (scope(DailyReport.person_id, DailyReport.team_id), DailyReport.day >= start, DailyReport.day <= day,
            DailyReport.submitted_at.is_not(None))
    # a field an admin added lives in the JSON column: add it up here (goals.py does the same)
    sums: dict[int, list[Any]] = defaultdict(lambda: [ZERO, 0])
    for pid, tid, d, extra in session.execute(
            select(DailyReport.person_id, DailyReport.team_id, DailyReport.day, DailyReport.extra).where(*span)):
        if keep is not None and not keep(pid, tid):
            continue
        value = _num((extra or {}).get(metric))
        if d >= period_start:
            actuals[(pid, tid)] = actuals.get((pid, tid), ZERO) + value
        if d >= lookback_start:
            sums[pid][0] += value
            sums[pid][1] += value > 0
        if d == day:
            done.add(pid)
    return actuals, done, {pid: (total, days) for pid, (total, days) in sums.items()}


def _pipeline(session: Session, owners: Any, lookback_start: date, day: date,
              sellers: set[int]) -> Callable[[], tuple[dict[int, dict[str, int]], dict[int, int]]]:
    """Start reading open opportunities by owner and stage, and won deals by owner in the look-back window;
    return a function that gives them (the query runs beside the forecast's others: bot.core.db.read_beside)."""
    won_in_window = and_(Customer.signed_on >= lookback_start, Customer.signed_on <= day)
    stages = [str(s) for s in OPEN_STAGES]
    # one row per owner, a column per open stage (not a row per owner and stage: a region has 10,000 owners)
    stmt = (select(Customer.owner_id, *[func.sum(case((Customer.stage == st, 1), else_=0)) for st in stages],
                   func.sum(case((won_in_window, 1), else_=0)))
            .where(Customer.owner_id.in_(owners), or_(Customer.stage.in_(stages), won_in_window))
            .group_by(Customer.owner_id))
    rows = read_beside(session, stmt)
    return lambda: _pipeline_rows(rows(), stages, sellers)


def _pipeline_rows(rows: list[Any], stages: list[str],
                   sellers: set[int]) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """The sellers' rows (the statement may return other owners' too) as counts by owner and stage."""
    open_by: dict[int, dict[str, int]] = defaultdict(dict)
    won: dict[int, int] = defaultdict(int)
    shared: dict[tuple[int, ...], dict[str, int]] = {}  # owners with the same counts share one (read-only) dict
    for owner, *counts, won_count in rows:
        if owner not in sellers:
            continue
        key = tuple(int(n or 0) for n in counts)
        found = shared.get(key)
        if found is None:
            found = shared[key] = {st: n for st, n in zip(stages, key, strict=True) if n}
        if found:
            open_by[owner] = found
        won[owner] += int(won_count or 0)
    return open_by, won


def _deal_stats(session: Session, metric: str, people: Any | None, lookback_start: date,
                day: date) -> tuple[Decimal, int]:
    """Return the metric's total and the deals over the window, for some people (None: everyone)."""
    span = [DailyReport.day >= lookback_start, DailyReport.day <= day, DailyReport.submitted_at.is_not(None)]
    won_in_window = [Customer.signed_on >= lookback_start, Customer.signed_on <= day]
    if people is not None:
        span.append(DailyReport.person_id.in_(people))
        won_in_window.append(Customer.owner_id.in_(people))
    amount, days = ZERO, defaultdict(int)
    if has_totals(metric):
        def scope(person: Any, team: Any) -> ColumnElement[bool]:
            return person.in_(people) if people is not None else true()

        for pid, total, positive, _ in session.connection().execute(
                select(window(metric, lookback_start, day, scope, by_team=False))).all():
            amount += _dec(total)
            days[pid] = int(positive or 0)
    else:
        for pid, extra in session.execute(select(DailyReport.person_id, DailyReport.extra).where(*span)):
            value = _num((extra or {}).get(metric))
            amount += value
            days[pid] += value > 0
    won: dict[int | None, int] = dict(session.execute(
        select(Customer.owner_id, func.count(Customer.id)).where(*won_in_window).group_by(Customer.owner_id)).all())
    unowned = won.pop(None, 0)
    return amount, sum(max(won.get(p, 0), days.get(p, 0)) for p in set(won) | set(days)) + unowned


def _won_anywhere(session: Session, lookback_start: date, day: date) -> bool:
    """Whether any customer was marked signed in the window (the organisation keeps stages)."""
    return session.scalar(select(Customer.id).where(Customer.signed_on >= lookback_start,
                                                    Customer.signed_on <= day).limit(1)) is not None


def _goals(session: Session, period: Period, metric: str, *, people: bool) -> dict[tuple[str, str], Any]:
    """The period's goals for the metric as plain rows (scope, code, target, floor, stretch): a region's tree
    reads thousands, and ORM objects for them cost more than the query. People's goals only when listed."""
    stmt = select(Goal.scope, Goal.code, Goal.target, Goal.floor, Goal.stretch).where(
        Goal.period == str(period), Goal.metric == metric)
    if not people:
        stmt = stmt.where(Goal.scope != GoalScope.USER.value)
    return {(g.scope, g.code): g for g in session.connection().execute(stmt).all()}


# ---------------------------------------------------------------------------
# the forecast


@dataclass(slots=True)
class _Sums:
    actual: Decimal = ZERO
    straight: Decimal = ZERO  # the run-rate-only projection
    run_part: Decimal = ZERO
    pipe_part: Decimal = ZERO
    pipe_value: Decimal = ZERO
    open_by: dict[str, int] = field(default_factory=dict)

    def add_run(self, actual: Decimal, straight: Decimal, run_part: Decimal) -> None:
        self.actual += actual
        self.straight += straight
        self.run_part += run_part

    def add(self, other: _Sums) -> None:
        self.actual += other.actual
        self.straight += other.straight
        self.run_part += other.run_part
        self.pipe_part += other.pipe_part
        self.pipe_value += other.pipe_value
        for stage, n in other.open_by.items():
            self.open_by[stage] = self.open_by.get(stage, 0) + n


@dataclass(slots=True)
class _Unit:
    scope: GoalScope
    id: int
    code: str
    name: str
    parent: str | None


def _metric_kind(session: Session, metric: str) -> tuple[str, dict[str, str]]:
    fdef = field_by_key(load_fields(session=session), metric)
    if fdef is None or fdef.type is FieldType.TEXT:
        raise ValueError(f"not a number field: {metric!r}")
    kind = "money" if fdef.type is FieldType.MONEY else "count"
    return kind, {loc: fdef.label(loc) for loc in LOCALES}


def forecast(*, session: Session, unit: Region | Team | Person, period: Period, metric: str, day: date,
             calendar: WorkCalendar, settings: Settings, people: bool = True) -> Outlook:
    """Project the metric to the period's end for a unit and every unit below it, as of `day`.

    With `people=False` a region's or team's outlook leaves out the nodes of its people (they are still
    added up into their teams): a region of 10,000 people shown down to its teams needs no 10,000 nodes.
    """
    with_people = people
    config = settings.forecast
    kind, labels = _metric_kind(session, metric)
    asof = min(max(day, period.start - timedelta(days=1)), period.end)
    lookback_start = asof - timedelta(days=config.lookback_days - 1)
    workdays = calendar.workdays(period.start, period.end)
    total = len(workdays)
    # weights are floats in the config; as written there (0.1 stays 0.1) for the money arithmetic
    weights = {s: Decimal(str(getattr(config.stage_weights, s))) for s in (str(x) for x in OPEN_STAGES)}

    # the units of the tree, top first
    regions: list[_Unit] = []
    teams: list[_Unit] = []
    if isinstance(unit, Region):
        subtree = region_subtree(session=session, region_ids=[unit.id])
        rows = session.execute(select(Region.id, Region.code, Region.name, Region.parent_id)
                               .where(Region.id.in_(subtree))).all()
        codes = {rid: code for rid, code, _, _ in rows}
        regions = [_Unit(GoalScope.REGION, rid, code, name,
                         None if rid == unit.id else f"region:{codes[parent]}") for rid, code, name, parent in rows]
        teams = [_Unit(GoalScope.TEAM, tid, code, name, f"region:{codes[rid]}") for tid, code, name, rid in
                 session.execute(select(Team.id, Team.code, Team.name, Team.region_id)
                                 .where(Team.region_id.in_(subtree)))]
    elif isinstance(unit, Team):
        teams = [_Unit(GoalScope.TEAM, unit.id, unit.code, unit.name, None)]
    team_ids: Any = [t.id for t in teams]
    if isinstance(unit, Region):  # one subquery rather than a bound parameter per team
        team_ids = select(Team.id).where(Team.region_id.in_(subtree))
    team_code = {t.id: t.code for t in teams}
    team_key = {t.id: f"team:{t.code}" for t in teams}
    session.flush()  # what the session holds counts, as in /goal
    if isinstance(unit, Person):
        people: list[tuple[int, str, str, str | None]] = [(unit.id, unit.code, unit.name, None)]
        person_team = {unit.id: unit.team_id}
        def scope(person: Any, team: Any) -> ColumnElement[bool]:
            return person == unit.id
        listed: Any = [unit.id]
        sellers = {unit.id}
        keep = None

        def load_people() -> None:
            return None
    else:
        # Every active member carries the team's run rate on; only sellers (contract section 8: reps, and
        # managers or admins with a personal goal in the period) are listed, with their pipeline.
        members = (Person.team_id.in_(team_ids), Person.active.is_(True))
        selling = seller_condition(seller_periods(period.start, period.end))
        people, person_team = [], {}
        sellers = set()
        # 10,000 people, read beside the first sums (bot.core.db.read_beside) and taken in when first needed
        member_rows = read_beside(session, select(Person.id, Person.code, Person.name, Person.team_id,
                                                  case((selling, 1), else_=0)).where(*members))
        loaded: list[bool] = []

        def load_people() -> None:
            if loaded:
                return
            loaded.append(True)
            for pid, code, name, tid, seller in member_rows():
                if seller:
                    people.append((pid, code, name, team_key[tid]))  # (a _Unit each only for shown nodes)
                    sellers.add(pid)
                person_team[pid] = tid

        # a team's reports, and its sellers' reports filed in a team outside the tree (they moved); the
        # statements ask for every member's (the seller rule costs PostgreSQL a lookup per person each time),
        # and keep() leaves out those of members who do not sell
        in_tree = select(Person.id).where(*members)
        listed = in_tree

        def scope(person: Any, team: Any) -> ColumnElement[bool]:
            return or_(team.in_(team_ids), person.in_(in_tree))

        def keep(pid: int, tid: int | None) -> bool:
            load_people()
            return tid in team_code or pid in sellers

    money = kind == "money"
    pipeline = _pipeline(session, listed, lookback_start, asof, sellers) if money else None
    # the look-back window is read for money (the pipeline's deals are valued from it), counts need none
    actuals, done, lookback = _cells(session, scope, metric, period.start,
                                     lookback_start if money else period.start, asof, keep)
    load_people()  # (if no report asked for them)
    open_by, won = pipeline() if pipeline is not None else ({}, {})
    # Blend the run rate with the pipeline only where the pipeline can be valued: a money metric in an
    # organisation with customers won in the window (one that does not keep stages gets the straight line).
    blend = money and (any(won.values()) or _won_anywhere(session, lookback_start, asof))
    goals = _goals(session, period, metric, people=with_people or isinstance(unit, Person))

    # workdays gone, as /goal counts them
    gone_before = sum(1 for d in workdays if d < asof)
    gone_through = sum(1 for d in workdays if d <= asof)
    if day > period.end:
        gone_before = gone_through = total
    elif day < period.start:
        gone_before = gone_through = 0

    def gone_of(pid: int | None) -> int:
        return gone_through if pid in done else gone_before

    # the value of one opportunity: the person's average per won deal, else their team's, else everyone's
    # (a deal: a customer marked signed, or a report with a positive amount if those are more; so people who
    # report signings without marking customers signed do not get one deal's worth of several)
    lookback_by_person: dict[int, Decimal] = defaultdict(lambda: ZERO)
    days_by_person: dict[int, int] = defaultdict(int)
    for pid, (amount, positive) in lookback.items():
        lookback_by_person[pid], days_by_person[pid] = amount, positive
    def deals_of(pid: int) -> int:
        return max(won.get(pid, 0), days_by_person.get(pid, 0))
    team_stats: dict[int | None, tuple[Decimal, int]] = {}
    members_of: dict[int | None, list[int]] = defaultdict(list)  # filled when a team's average is first needed
    org_stats: list[tuple[Decimal, int]] = []

    def org_deal_stats() -> tuple[Decimal, int]:
        if not org_stats:
            org_stats.append(_deal_stats(session, metric, None, lookback_start, asof))
        return org_stats[0]

    def team_deal_stats(tid: int | None) -> tuple[Decimal, int]:
        if tid not in team_stats:
            if tid is None:
                team_stats[tid] = (ZERO, 0)
            elif isinstance(unit, Person):
                team_people = select(Person.id).where(Person.team_id == tid, Person.active.is_(True))
                team_stats[tid] = _deal_stats(session, metric, team_people, lookback_start, asof)
            else:
                if not members_of:
                    for member, member_team in person_team.items():
                        members_of[member_team].append(member)
                ids = members_of[tid]
                team_stats[tid] = (sum((lookback_by_person[p] for p in ids), ZERO), sum(deals_of(p) for p in ids))
        return team_stats[tid]

    def deal_value(pid: int) -> tuple[Decimal | None, str, int]:
        deals = deals_of(pid)
        if deals >= config.min_deals:
            return lookback_by_person[pid] / deals, "person", deals
        amount, deals = team_deal_stats(person_team.get(pid))
        if deals >= config.min_deals:
            return amount / deals, "team", deals
        amount, deals = org_deal_stats()
        if deals > 0:
            return amount / deals, "organisation", deals
        return None, "none", 0

    # per person and team: the run rate over each person's own workdays gone (people's own sums only when
    # their nodes are shown: a region's overview adds 10,000 people up into their teams and shows the teams)
    people_shown = with_people or isinstance(unit, Person)
    by_person: dict[int, _Sums] = defaultdict(_Sums)
    team_sums: dict[int, _Sums] = defaultdict(_Sums)
    # (the loops below run once per person of a region, 10,000 times: lookups bound to locals, no calls)
    member_team = person_team.get
    for (pid, tid), actual in actuals.items():
        e = gone_through if pid in done else gone_before
        straight = actual * total / e if e > 0 else actual  # nothing to draw a line from yet
        if blend:
            run_part = actual * (total - e) / total if e > 0 else ZERO
        else:
            run_part = straight - actual
        if people_shown:
            by_person[pid].add_run(actual, straight, run_part)
        if tid in team_code:
            # a team's future is its current people's: reports of someone who left or moved only count as done
            if member_team(pid) == tid:
                team_sums[tid].add_run(actual, straight, run_part)
            else:
                team_sums[tid].add_run(actual, actual, ZERO)

    # per person: the pipeline, added up into their team
    sums: dict[str, _Sums] = {f"team:{team_code[tid]}": s for tid, s in team_sums.items()}
    details: dict[int, tuple[Decimal | None, str, int]] = {}
    horizon = Decimal(total * config.pipeline_workdays)
    no_pipeline = dict.fromkeys(weights, 0)
    weighted_of: dict[int, Decimal] = {}
    # each team's open opportunities, counted by set of counts (_pipeline shares one dict per set) and added
    # up by stage once per set after the loop
    open_sets: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    owned, won_of, positive_of = open_by.get, won.get, days_by_person.get
    min_deals = config.min_deals
    for pid, code, _, parent in people:
        mine = None
        if people_shown:
            mine = sums[f"user:{code}"] = by_person.get(pid) or _Sums()
            mine.open_by = no_pipeline  # read only
        theirs = owned(pid)  # the open stages with their counts, none zero, in OPEN_STAGES' order
        if not theirs:  # most people of a count metric, or of an organisation without stages: nothing to add
            continue
        if mine is not None:
            mine.open_by = {st: theirs.get(st, 0) for st in weights}
        weighted = weighted_of.get(id(theirs))
        if weighted is None:  # once for each set of counts
            weighted = weighted_of[id(theirs)] = sum((weights[st] * n for st, n in theirs.items()), ZERO)
        pipe_value = pipe_part = ZERO
        if blend and weighted > 0:  # valued only when there is something to value (the fallbacks cost queries)
            deals = max(won_of(pid, 0), positive_of(pid, 0))
            if deals >= min_deals:  # the person's own average, as deal_value gives it, without the call
                found = (lookback_by_person[pid] / deals, "person", deals)
            else:
                found = deal_value(pid)
            details[pid] = found
            value = found[0]
            if value is not None and total:
                r = total - (gone_through if pid in done else gone_before)
                pipe_value = weighted * value
                pipe_part = pipe_value * r * r / horizon
                if mine is not None:
                    mine.pipe_value, mine.pipe_part = pipe_value, pipe_part
        if parent is not None:
            team = sums.get(parent)
            if team is None:
                team = sums[parent] = _Sums()
            team.pipe_part += pipe_part
            team.pipe_value += pipe_value
            counted = open_sets[parent].get(id(theirs))
            if counted is None:
                open_sets[parent][id(theirs)] = [theirs, 1]
            else:
                counted[1] += 1
    for key, found_sets in open_sets.items():
        team_open = sums[key].open_by
        for theirs, times in found_sets.values():
            for st, n in theirs.items():
                team_open[st] = team_open.get(st, 0) + n * times

    # regions: the sum of their teams and sub-regions, deepest first
    by_key = {f"{u.scope}:{u.code}": u for u in (*regions, *teams)}
    children: dict[str, list[str]] = defaultdict(list)
    for key, u in by_key.items():
        if u.parent is not None:
            children[u.parent].append(key)
    depth: dict[str, int] = {}

    def depth_of(key: str) -> int:
        if key not in depth:
            parent = by_key[key].parent
            depth[key] = 0 if parent is None else depth_of(parent) + 1
        return depth[key]

    for key in sorted((f"region:{r.code}" for r in regions), key=depth_of, reverse=True):
        region = sums.setdefault(key, _Sums())
        for child in children[key]:
            if child in sums:
                region.add(sums[child])

    def node(u: _Unit) -> Forecast:
        s = sums.get(f"{u.scope}:{u.code}") or _Sums()
        goal = goals.get((str(u.scope), u.code))
        e = gone_of(u.id) if u.scope is GoalScope.USER else gone_of(None)
        projection = s.actual + s.run_part + s.pipe_part
        target = goal.target if goal is not None else None
        value, basis, deals = details.get(u.id, (None, "", 0)) if u.scope is GoalScope.USER else (None, "", 0)
        return Forecast(
            scope=str(u.scope), code=u.code, name=u.name, parent=u.parent, actual=s.actual,
            target=target, floor=goal.floor if goal is not None else None,
            stretch=goal.stretch if goal is not None else None,
            workdays=total, workdays_gone=e, workdays_left=total - e,
            run_rate=_money(s.straight / total) if total and (e > 0 or s.straight != s.actual) else None,
            run_rate_projection=_money(s.straight), run_rate_part=_money(s.run_part),
            pipeline_part=_money(s.pipe_part), projection=_money(projection),
            pct_target=(projection * _HUNDRED / target).quantize(Decimal("0.1"), ROUND_HALF_UP)
            if target is not None and target > 0 else None,
            open_by_stage={st: s.open_by.get(st, 0) for st in weights},
            pipeline_value=_money(s.pipe_value),
            deal_value=_money(value) if value is not None else None, deal_basis=basis, won_deals=deals,
        )

    outlook = Outlook(metric=metric, kind=kind, uses_pipeline=blend, period=str(period), day=asof, workdays=total,
                      calendar_mode=calendar.mode, stage_weights=weights, lookback_days=config.lookback_days,
                      min_deals=config.min_deals, pipeline_workdays=config.pipeline_workdays, labels=labels)
    by_seller = outlook.seller_actuals = dict.fromkeys((p[0] for p in people), ZERO)
    for (pid, _), actual in actuals.items():
        if pid in by_seller:
            by_seller[pid] += actual
    people_of: dict[str, list[_Unit]] = defaultdict(list)
    if with_people:
        for pid, code, name, parent in sorted(people, key=lambda x: x[1]):
            people_of[parent or ""].append(_Unit(GoalScope.USER, pid, code, name, parent))
    teams_of: dict[str, list[_Unit]] = defaultdict(list)
    for team in sorted(teams, key=lambda x: x.code):
        teams_of[team.parent or ""].append(team)
    subs_of: dict[str, list[_Unit]] = defaultdict(list)
    for region in sorted(regions, key=lambda x: x.code):
        subs_of[region.parent or ""].append(region)

    def walk_team(team: _Unit) -> None:
        outlook.nodes.append(node(team))
        if with_people:
            outlook.nodes.extend(node(p) for p in people_of[f"team:{team.code}"])

    def walk_region(region: _Unit) -> None:
        outlook.nodes.append(node(region))
        key = f"region:{region.code}"
        for team in teams_of[key]:
            walk_team(team)
        for sub in subs_of[key]:
            walk_region(sub)

    if isinstance(unit, Region):
        walk_region(next(r for r in regions if r.parent is None))
    elif isinstance(unit, Team):
        walk_team(teams[0])
    else:
        pid, code, name, parent = people[0]
        outlook.nodes.append(node(_Unit(GoalScope.USER, pid, code, name, parent)))
    return outlook


# ---------------------------------------------------------------------------
# the assumptions in words


@lru_cache(maxsize=8)
def _source(locale: str) -> str:
    return files("templates").joinpath("forecast", f"{locale}.j2").read_text(encoding="utf-8")


def assumptions(*, outlook: Outlook, locale: str, node: Forecast | None = None) -> list[str]:
    """Say how the forecast was made, one sentence a line, in the reader's language (templates/forecast/)."""
    locale = locale if locale in LOCALES else "zh-CN"
    unit = node or outlook.root
    variables: dict[str, Any] = {
        "locale": locale, "o": outlook, "n": unit, "label": outlook.labels.get(locale, outlook.metric),
        "weights": [(stage_label(Stage(s), locale), w * _HUNDRED) for s, w in outlook.stage_weights.items()],
        "open": [(stage_label(Stage(s), locale), c) for s, c in unit.open_by_stage.items() if c],
        "early": unit.workdays_gone < EARLY_WORKDAYS and unit.workdays_left > 0,
        "person": node is not None and node.scope == GoalScope.USER,
    }
    text = render_source(_source(locale), variables)
    return [line.strip() for line in text.splitlines() if line.strip()]
