"""Goals: periods and how they nest, actuals from reports, progress with run rate, permissions, split."""

from __future__ import annotations

import copy
import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, bindparam, case, func, select, true
from sqlalchemy.orm import Session

from models import DailyReport, Goal, GoalProposal, GoalScope, ManagedRegion, Person, Region, Role, Team
from services import audit
from services.calendar import WorkCalendar
from services.fields import FieldDef, FieldType, normalize_label
from services.report_fields import COLUMN_KEYS, load_fields
from services.sellers import sellers

__all__ = [
    "SCOPE_WORDS",
    "GoalRefused",
    "GoalSet",
    "GoalTarget",
    "Period",
    "PeriodKind",
    "Progress",
    "SplitRow",
    "SplitSection",
    "allocate",
    "apply_proposal",
    "apply_split_for",
    "check_amounts",
    "can_set_goal",
    "find_goal",
    "goal_metric",
    "goal_period",
    "goal_target",
    "metric_totals",
    "month_period",
    "parse_period",
    "person_progress",
    "personal_periods",
    "propose_split",
    "propose_split_for",
    "region_progress",
    "region_subtree",
    "resolve_target",
    "set_goal",
    "set_goal_for",
    "team_progress",
    "team_total",
    "time_progress",
    "unit_progress",
    "units_progress",
]

ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


# ---------------------------------------------------------------------------
# periods


class PeriodKind(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    WEEK = "week"


@dataclass(frozen=True)
class Period:
    """A goal period: a year, a quarter, a month or an ISO week."""

    kind: PeriodKind
    year: int
    index: int | None = None

    @property
    def start(self) -> date:
        if self.kind is PeriodKind.YEAR:
            return date(self.year, 1, 1)
        assert self.index is not None
        if self.kind is PeriodKind.QUARTER:
            return date(self.year, 3 * self.index - 2, 1)
        if self.kind is PeriodKind.MONTH:
            return date(self.year, self.index, 1)
        return date.fromisocalendar(self.year, self.index, 1)

    @property
    def end(self) -> date:
        """Return the last day of the period (inclusive)."""
        if self.kind is PeriodKind.YEAR:
            return date(self.year, 12, 31)
        assert self.index is not None
        if self.kind is PeriodKind.WEEK:
            return date.fromisocalendar(self.year, self.index, 7)
        last_month = 3 * self.index if self.kind is PeriodKind.QUARTER else self.index
        if last_month == 12:
            return date(self.year, 12, 31)
        return date(self.year, last_month + 1, 1) - timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def __str__(self) -> str:
        if self.kind is PeriodKind.YEAR:
            return f"{self.year}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year}-Q{self.index}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.year}-{self.index:02d}"
        return f"{self.year}-W{self.index:02d}"

    def quarters(self) -> list[Period]:
        """Return the quarters of a year (empty for any other kind)."""
        return [Period(PeriodKind.QUARTER, self.year, q) for q in range(1, 5)] if self.kind is PeriodKind.YEAR else []

    def months(self) -> list[Period]:
        """Return the months of a year or a quarter (empty otherwise)."""
        if self.kind is PeriodKind.YEAR:
            return [Period(PeriodKind.MONTH, self.year, m) for m in range(1, 13)]
        if self.kind is PeriodKind.QUARTER:
            assert self.index is not None
            return [Period(PeriodKind.MONTH, self.year, m) for m in range(3 * self.index - 2, 3 * self.index + 1)]
        return []

    def last_year(self) -> tuple[date, date]:
        """Return the same span one year earlier (ISO week: the same week number)."""
        if self.kind is PeriodKind.WEEK:
            assert self.index is not None
            week = min(self.index, date(self.year - 1, 12, 28).isocalendar()[1])
            prev = Period(PeriodKind.WEEK, self.year - 1, week)
            return prev.start, prev.end
        return _shift_year(self.start), _shift_year(self.end)


def _shift_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


_PERIOD_RE = re.compile(
    r"""(?P<year>[0-9]{4})年?
    (?: -?Q(?P<q>[1-4])
      | -(?P<m>[0-9]{1,2})
      | 年?(?P<cm>[0-9]{1,2})月
      | -?W(?P<w>[0-9]{1,2})
      | 第?(?P<cq>[1-4])季度?
    )?""",
    re.VERBOSE,
)


def parse_period(text: str) -> Period:
    """Parse `2026`, `2026-Q4`, `2026-12` or `2026-W49` (ISO week); raise ValueError otherwise."""
    norm = "".join(unicodedata.normalize("NFKC", text).upper().split())
    match = _PERIOD_RE.fullmatch(norm)
    if match is None:
        raise ValueError(f"not a period: {text!r}")
    year = int(match["year"])
    if not 1900 <= year <= 2999:
        raise ValueError(f"year out of range: {text!r}")
    quarter = match["q"] or match["cq"]
    month = match["m"] or match["cm"]
    if quarter:
        return Period(PeriodKind.QUARTER, year, int(quarter))
    if month:
        if not 1 <= int(month) <= 12:
            raise ValueError(f"no such month: {text!r}")
        return Period(PeriodKind.MONTH, year, int(month))
    if match["w"]:
        week = int(match["w"])
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"no such week: {text!r}") from None
        return Period(PeriodKind.WEEK, year, week)
    return Period(PeriodKind.YEAR, year)


def month_period(day: date) -> Period:
    """Return the month containing a day."""
    return Period(PeriodKind.MONTH, day.year, day.month)


# ---------------------------------------------------------------------------
# the organisation tree


def _region_children(session: Session) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for rid, parent in session.execute(select(Region.id, Region.parent_id).order_by(Region.id)):
        children[parent].append(rid)
    return children


def region_subtree(*, session: Session, region_ids: Iterable[int]) -> set[int]:
    """Return the regions given and every region below them."""
    children = _region_children(session)
    out: set[int] = set()
    stack = list(region_ids)
    while stack:
        rid = stack.pop()
        if rid in out:
            continue
        out.add(rid)
        stack.extend(children.get(rid, ()))
    return out


@dataclass(frozen=True)
class GoalTarget:
    """What a goal is for: a person, a team or a region."""

    scope: GoalScope
    code: str
    name: str
    id: int
    region_id: int | None


def resolve_target(*, session: Session, scope: GoalScope, code: str) -> GoalTarget | None:
    """Find the person, team or region a goal names by its code."""
    if scope is GoalScope.USER:
        person = session.scalar(select(Person).where(Person.code == code))
        if person is None:
            return None
        region_id = person.team.region_id if person.team is not None else None
        return GoalTarget(scope, person.code, person.name, person.id, region_id)
    if scope is GoalScope.TEAM:
        team = session.scalar(select(Team).where(Team.code == code))
        return None if team is None else GoalTarget(scope, team.code, team.name, team.id, team.region_id)
    region = session.scalar(select(Region).where(Region.code == code))
    return None if region is None else GoalTarget(scope, region.code, region.name, region.id, region.id)


def can_set_goal(*, session: Session, person: Person, target: GoalTarget) -> bool:
    """Admins set every goal; managers those of the regions they manage, below them, and their teams and people."""
    if person.role == Role.ADMIN:
        return True
    if person.role != Role.MANAGER or target.region_id is None:
        return False
    managed = list(session.scalars(select(ManagedRegion.region_id).where(ManagedRegion.person_id == person.id)))
    return target.region_id in region_subtree(session=session, region_ids=managed)


# ---------------------------------------------------------------------------
# actuals


def _unit_condition(session: Session, target: GoalTarget) -> ColumnElement[bool]:
    if target.scope is GoalScope.USER:
        return DailyReport.person_id == target.id
    if target.scope is GoalScope.TEAM:
        return DailyReport.team_id == target.id
    regions = region_subtree(session=session, region_ids=[target.id])
    return DailyReport.team_id.in_(select(Team.id).where(Team.region_id.in_(regions)))


def _num(value: Any) -> Decimal:
    if value is None:
        return ZERO
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return ZERO


def _sums(session: Session, condition: ColumnElement[bool], metrics: Sequence[str], start: date,
          end: date) -> tuple[dict[str, Decimal], bool]:
    """Sum several metrics over one unit and span, and tell whether `end` has a report: one query."""
    out = dict.fromkeys(metrics, ZERO)
    span = (DailyReport.day >= start, DailyReport.day <= end, DailyReport.submitted_at.is_not(None))
    columns = [m for m in dict.fromkeys(metrics) if m in COLUMN_KEYS]
    extras = [m for m in dict.fromkeys(metrics) if m not in COLUMN_KEYS]
    row = session.execute(
        select(func.max(case((DailyReport.day == end, 1), else_=0)),
               *[func.sum(getattr(DailyReport, m)) for m in columns]).where(condition, *span)
    ).one()
    done = bool(row[0])
    for metric, value in zip(columns, row[1:], strict=True):
        out[metric] = _num(value)
    if extras:
        for (extra,) in session.execute(select(DailyReport.extra).where(condition, *span)):
            for metric in extras:
                out[metric] += _num((extra or {}).get(metric))
    return out, done


def team_total(*, session: Session, team: Team, metric: str, start: date, end: date) -> Decimal:
    """Return the total of a metric over every report filed in the team from start to end: sellers or not,
    as the team's goal counts it (the evening post and /leaderboard show this beside the ranking)."""
    return _sums(session, DailyReport.team_id == team.id, [metric], start, end)[0][metric]


def metric_totals(*, session: Session, person_ids: Iterable[int], metric: str, start: date,
                  end: date) -> dict[int, Decimal]:
    """Return each person's total of a metric from start to end (0 for none), in one query."""
    ids = list(dict.fromkeys(person_ids))
    totals = dict.fromkeys(ids, ZERO)
    if not ids:
        return totals
    span = (DailyReport.person_id.in_(ids), DailyReport.day >= start, DailyReport.day <= end,
            DailyReport.submitted_at.is_not(None))
    if metric in COLUMN_KEYS:
        stmt = select(DailyReport.person_id, func.sum(getattr(DailyReport, metric))).where(*span).group_by(
            DailyReport.person_id)
        for pid, value in session.execute(stmt):
            totals[pid] = _num(value)
    else:
        for pid, extra in session.execute(select(DailyReport.person_id, DailyReport.extra).where(*span)):
            totals[pid] += _num((extra or {}).get(metric))
    return totals


def _totals_by(session: Session, key: Any, condition: ColumnElement[bool], metric: str, start: date,
               end: date) -> dict[Any, Decimal]:
    """Return a metric's totals grouped by a column (team, person or day), in one query."""
    span = (condition, DailyReport.day >= start, DailyReport.day <= end, DailyReport.submitted_at.is_not(None))
    out: dict[Any, Decimal] = defaultdict(lambda: ZERO)
    if metric in COLUMN_KEYS:
        for k, value in session.execute(select(key, func.sum(getattr(DailyReport, metric))).where(*span)
                                        .group_by(key)):
            out[k] += _num(value)
    else:
        for k, extra in session.execute(select(key, DailyReport.extra).where(*span)):
            out[k] += _num((extra or {}).get(metric))
    return out


# ---------------------------------------------------------------------------
# progress


@dataclass
class Progress:
    scope: str
    code: str
    name: str
    metric: str
    period: str
    target: Decimal
    floor: Decimal | None
    stretch: Decimal | None
    actual: Decimal
    pct_target: Decimal | None
    pct_floor: Decimal | None
    pct_stretch: Decimal | None
    remaining_workdays: int
    run_rate: Decimal
    period_kind: str = PeriodKind.MONTH.value

    def as_dict(self) -> dict[str, Any]:
        """Return plain data for templates."""
        return asdict(self)


def _pct(actual: Decimal, whole: Decimal | None) -> Decimal | None:
    if whole is None or whole <= 0:
        return None
    return (actual * _HUNDRED / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _progress(target: GoalTarget, goals: Sequence[Any], sums: dict[str, Decimal], period: Period,
              remaining: int) -> list[Progress]:
    out = []
    for goal in goals:
        actual = sums.get(goal.metric, ZERO)
        gap = max(goal.target - actual, ZERO)
        rate = (gap / remaining if remaining > 0 else gap).quantize(_CENT, ROUND_HALF_UP)
        out.append(Progress(
            scope=str(target.scope), code=target.code, name=target.name, metric=goal.metric,
            period=str(period), target=goal.target, floor=goal.floor, stretch=goal.stretch, actual=actual,
            pct_target=_pct(actual, goal.target), pct_floor=_pct(actual, goal.floor),
            pct_stretch=_pct(actual, goal.stretch), remaining_workdays=remaining, run_rate=rate,
            period_kind=period.kind.value,
        ))
    return out


def _goals(session: Session, target: GoalTarget, period: Period) -> list[Goal]:
    return list(session.scalars(
        select(Goal).where(Goal.scope == str(target.scope), Goal.code == target.code, Goal.period == str(period))
        .order_by(Goal.metric)
    ))


def _remaining(calendar: WorkCalendar, day: date, end: date, *, today_done: bool) -> int:
    """Workdays left in the period, today included until today's report is in."""
    start = day + timedelta(days=1) if today_done else day
    return len(calendar.workdays(start, end)) if start <= end else 0


_NUMERIC_COLUMNS = ("visits", "new_leads", "new_customers", "opportunities", "signed_amount", "collected_amount")


@functools.cache
def _view_statement(scope: GoalScope) -> Select[Any]:
    """Goals of one unit and month with the unit's sums, as one query built once per kind of unit."""
    day = bindparam("day", type_=Date)
    if scope is GoalScope.USER:
        condition = DailyReport.person_id == bindparam("unit")
    elif scope is GoalScope.TEAM:
        condition = DailyReport.team_id == bindparam("unit")
    else:
        condition = DailyReport.team_id.in_(select(Team.id).where(Team.region_id.in_(bindparam("regions",
                                                                                             expanding=True))))
    sums = (
        select(func.max(case((DailyReport.day == day, 1), else_=0)).label("done_today"),
               *[func.sum(getattr(DailyReport, m)).label(f"sum_{m}") for m in _NUMERIC_COLUMNS])
        .where(condition, DailyReport.day >= bindparam("start", type_=Date), DailyReport.day <= day,
               DailyReport.submitted_at.is_not(None))
        .subquery()
    )
    return (select(Goal.metric, Goal.target, Goal.floor, Goal.stretch, sums).join_from(Goal, sums, true())
            .where(Goal.scope == bindparam("scope"), Goal.code == bindparam("code"), Goal.period == bindparam("period"))
            .order_by(Goal.metric))


def _view(session: Session, target: GoalTarget, day: date, calendar: WorkCalendar,
          period: Period | None = None) -> list[Progress]:
    """Goals and their actuals in one query (the sums are a cross-joined subquery)."""
    period = period or month_period(day)
    params: dict[str, Any] = {"day": day, "start": period.start, "scope": str(target.scope), "code": target.code,
                              "period": str(period)}
    if target.scope is GoalScope.REGION:
        params["regions"] = list(region_subtree(session=session, region_ids=[target.id]))
    else:
        params["unit"] = target.id
    session.flush()  # what the session holds counts (a report just submitted in this unit of work)
    # Plain rows on the session's connection: this runs for every report's reply and every job's unit.
    rows = session.connection().execute(_view_statement(target.scope), params).all()
    if not rows:
        return []
    first = rows[0]._mapping
    totals = {m: _num(first[f"sum_{m}"]) for m in _NUMERIC_COLUMNS}
    extras = [g.metric for g in rows if g.metric not in _NUMERIC_COLUMNS]
    if extras:
        totals.update(_sums(session, _unit_condition(session, target), extras, period.start, day)[0])
    # a person's today stops counting once reported; a team's or region's day counts until it is over
    today_done = bool(first["done_today"]) and target.scope is GoalScope.USER
    return _progress(target, rows, totals, period, _remaining(calendar, day, period.end, today_done=today_done))


def person_progress(*, session: Session, person: Person, day: date, calendar: WorkCalendar) -> list[Progress]:
    """Return the person's progress this month (the month of `day`) for every metric with a goal; with no
    goal for the month, the quarter's, or else the year's (a quota set for a longer period: `period_kind` says)."""
    region_id = person.team.region_id if person.team is not None else None
    target = GoalTarget(GoalScope.USER, person.code, person.name, person.id, region_id)
    for period in personal_periods(day):
        progress = _view(session, target, day, calendar, period)
        if progress:
            return progress
    return []


def personal_periods(day: date) -> tuple[Period, Period, Period]:
    """The periods whose personal goal is shown as a person's own progress on `day`, in order of preference:
    its month, its quarter, its year."""
    return (month_period(day), Period(PeriodKind.QUARTER, day.year, (day.month - 1) // 3 + 1),
            Period(PeriodKind.YEAR, day.year))


def team_progress(*, session: Session, team: Team, day: date, calendar: WorkCalendar) -> list[Progress]:
    """Return a team's progress this month from its people's reports (today counts as remaining)."""
    target = GoalTarget(GoalScope.TEAM, team.code, team.name, team.id, team.region_id)
    return _view(session, target, day, calendar)


def region_progress(*, session: Session, region: Region, day: date, calendar: WorkCalendar) -> list[Progress]:
    """Return a region's progress this month, over its teams and every sub-region (today counts as remaining)."""
    target = GoalTarget(GoalScope.REGION, region.code, region.name, region.id, region.id)
    return _view(session, target, day, calendar)


def unit_progress(*, session: Session, target: GoalTarget, period: Period, day: date,
                  calendar: WorkCalendar) -> list[Progress]:
    """Return one unit's progress for a period as of `day` (a day after the period: as of its last day)."""
    return _view(session, target, min(day, period.end), calendar, period)


def time_progress(calendar: WorkCalendar, period: Period, day: date) -> Decimal | None:
    """Return the share of the period's workdays gone by the end of `day` (时间进度), in percent."""
    total = len(calendar.workdays(period.start, period.end))
    if not total:
        return None
    gone = len(calendar.workdays(period.start, min(day, period.end))) if day >= period.start else 0
    return (Decimal(gone) * _HUNDRED / total).quantize(Decimal("0.1"), ROUND_HALF_UP)


_BATCH = 500


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _BATCH):
        yield values[i:i + _BATCH]


def units_progress(*, session: Session, targets: Sequence[GoalTarget], period: Period, day: date,
                   calendar: WorkCalendar, metric: str | None = None,
                   known: Mapping[tuple[str, str], Decimal] | None = None) -> dict[tuple[str, str], list[Progress]]:
    """Return the progress of many units at once, as unit_progress would for each (same sums, same rules).

    A handful of grouped queries instead of one query per unit: the console's goal tree of a region
    with thousands of people (bench/console.py). Keyed by (scope, code).

    `known`: actuals of `metric` already summed the same way for the same period and day, by (scope, code)
    (services.forecast's team and region nodes: the console computes both); team and region targets found
    there are not summed again.
    """
    session.flush()
    day = end = min(day, period.end)
    known = {k: v for k, v in (known or {}).items() if k[0] != GoalScope.USER.value} \
        if metric is not None and metric in COLUMN_KEYS else {}
    goals: dict[tuple[str, str], list[Any]] = defaultdict(list)  # plain rows: a region's tree reads thousands
    by_scope: dict[GoalScope, list[GoalTarget]] = defaultdict(list)
    for t in targets:
        by_scope[t.scope].append(t)
    for scope, units in by_scope.items():
        codes = {u.code for u in units}
        # many teams or regions: the period's goals of that kind, all of them (an organisation has no more teams
        # than a region's tree shows), picked here, rather than a thousand bound codes in chunks
        whole = scope is not GoalScope.USER and len(codes) > _BATCH
        for chunk in [()] if whole else _chunks(sorted(codes)):
            stmt = select(Goal.scope, Goal.code, Goal.metric, Goal.target, Goal.floor, Goal.stretch).where(
                Goal.scope == str(scope), Goal.period == str(period))
            if not whole:
                stmt = stmt.where(Goal.code.in_(chunk))
            if metric is not None:
                stmt = stmt.where(Goal.metric == metric)
            for g in session.connection().execute(stmt.order_by(Goal.metric)).all():
                if g.code in codes:
                    goals[(g.scope, g.code)].append(g)
    metrics = sorted({g.metric for gs in goals.values() for g in gs})
    columns = [m for m in metrics if m in COLUMN_KEYS]
    sums: dict[tuple[str, int], dict[str, Decimal]] = {}
    done: set[int] = set()
    span = (DailyReport.day >= period.start, DailyReport.day <= end, DailyReport.submitted_at.is_not(None))
    aggregates = [func.sum(getattr(DailyReport, m)) for m in columns]

    def grouped(key: Any, ids: Sequence[int], with_done: bool) -> Iterable[Any]:
        extra = [func.max(case((DailyReport.day == day, 1), else_=0))] if with_done else []
        for chunk in _chunks(list(ids)):
            yield from session.execute(select(key, *extra, *aggregates).where(key.in_(chunk), *span).group_by(key))

    people = [t.id for t in by_scope.get(GoalScope.USER, []) if goals.get((t.scope, t.code))]
    if people and period.start <= end:
        for row in grouped(DailyReport.person_id, people, True):
            if row[1]:
                done.add(row[0])
            sums[("user", row[0])] = {m: _num(v) for m, v in zip(columns, row[2:], strict=True)}
    regions = [t for t in by_scope.get(GoalScope.REGION, [])
               if goals.get((t.scope, t.code)) and (str(t.scope), t.code) not in known]
    subtrees = {r.id: region_subtree(session=session, region_ids=[r.id]) for r in regions}
    team_ids = {t.id for t in by_scope.get(GoalScope.TEAM, [])
                if goals.get((t.scope, t.code)) and (str(t.scope), t.code) not in known}
    region_of_team: dict[int, int] = {}
    if subtrees:
        wanted = set().union(*subtrees.values())
        for chunk in _chunks(sorted(wanted)):
            region_of_team.update({tid: rid for tid, rid in session.execute(
                select(Team.id, Team.region_id).where(Team.region_id.in_(chunk)))})
        team_ids |= set(region_of_team)
    by_team: dict[int, dict[str, Decimal]] = {}
    if team_ids and period.start <= end:
        rows: list[Any] = []
        if region_of_team:  # the regions' teams in one query (a subquery, not thousands of bound ids)
            in_regions = select(Team.id).where(Team.region_id.in_(sorted(wanted)))
            rows += session.execute(select(DailyReport.team_id, *aggregates)
                                    .where(DailyReport.team_id.in_(in_regions), *span).group_by(DailyReport.team_id))
        rows += grouped(DailyReport.team_id, sorted(team_ids - set(region_of_team)), False)
        for row in rows:
            by_team[row[0]] = {m: _num(v) for m, v in zip(columns, row[1:], strict=True)}
    for tid, values in by_team.items():
        sums[("team", tid)] = values
    for rid, subtree in subtrees.items():
        total = dict.fromkeys(columns, ZERO)
        for tid, values in by_team.items():
            if region_of_team.get(tid) in subtree:
                for m in columns:
                    total[m] += values[m]
        sums[("region", rid)] = total
    out: dict[tuple[str, str], list[Progress]] = {}
    for t in targets:
        unit_goals = goals.get((str(t.scope), t.code), [])
        if not unit_goals:
            out[(str(t.scope), t.code)] = []
            continue
        totals = dict(sums.get((str(t.scope), t.id), {}))
        if (str(t.scope), t.code) in known:
            totals[str(metric)] = known[(str(t.scope), t.code)]
        extras = [g.metric for g in unit_goals if g.metric not in COLUMN_KEYS]
        if extras and period.start <= end:
            totals.update(_sums(session, _unit_condition(session, t), extras, period.start, end)[0])
        today_done = t.scope is GoalScope.USER and t.id in done
        remaining = _remaining(calendar, day, period.end, today_done=today_done) if day >= period.start else \
            len(calendar.workdays(period.start, period.end))
        out[(str(t.scope), t.code)] = _progress(t, unit_goals, totals, period, remaining)
    return out


# ---------------------------------------------------------------------------
# setting goals


def find_goal(*, session: Session, scope: GoalScope, code: str, period: Period | str, metric: str) -> Goal | None:
    return session.scalar(select(Goal).where(Goal.scope == str(scope), Goal.code == code,
                                             Goal.period == str(period), Goal.metric == metric))


def set_goal(*, session: Session, scope: GoalScope, code: str, period: Period | str, metric: str,
             target: Decimal, floor: Decimal | None = None, stretch: Decimal | None = None,
             now: datetime) -> tuple[Goal, bool]:
    """Create or replace a goal; True when it was new."""
    goal = find_goal(session=session, scope=scope, code=code, period=period, metric=metric)
    created = goal is None
    if goal is None:
        goal = Goal(scope=str(scope), code=code, period=str(period), metric=metric)
        session.add(goal)
    goal.target, goal.floor, goal.stretch = target, floor, stretch
    goal.updated_at = now
    session.flush()
    return goal, created


# ---------------------------------------------------------------------------
# splitting


def allocate(total: Decimal, weights: Sequence[Decimal], quantum: Decimal = Decimal(1)) -> list[Decimal]:
    """Split total by weights into multiples of quantum that add up exactly (largest remainder)."""
    if not weights:
        return []
    wsum = sum(weights, ZERO)
    if wsum <= 0:
        weights, wsum = [Decimal(1)] * len(weights), Decimal(len(weights))
    units = int((total / quantum).to_integral_value(ROUND_HALF_UP))
    raw = [Decimal(units) * w / wsum for w in weights]
    floors = [int(r.to_integral_value(ROUND_DOWN)) for r in raw]
    left = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    parts = [Decimal(f) * quantum for f in floors]
    # a total that is not a multiple of the quantum: the remainder goes to the largest part
    diff = total - sum(parts, ZERO)
    if diff:
        parts[max(range(len(parts)), key=lambda i: parts[i])] += diff
    return parts


@dataclass
class SplitRow:
    scope: str
    code: str
    name: str
    period: str
    target: Decimal
    floor: Decimal | None
    stretch: Decimal | None
    history: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


@dataclass
class SplitSection:
    kind: str  # "quarters" | "months" | "members"
    fallback: bool  # history asked for but there was none: split evenly
    rows: list[SplitRow]


def _members(session: Session, target: GoalTarget, period: Period) -> list[tuple[GoalTarget, ColumnElement[bool]]]:
    """The units one level below a team (its sellers in the period) or a region (sub-regions and its own teams)."""
    if target.scope is GoalScope.TEAM:
        people = sellers(session=session, team=target.id, start=period.start, end=period.end)
        return [(GoalTarget(GoalScope.USER, p.code, p.name, p.id, target.region_id),
                 DailyReport.person_id == p.id) for p in people]
    if target.scope is GoalScope.REGION:
        out: list[tuple[GoalTarget, ColumnElement[bool]]] = []
        subs = session.scalars(select(Region).where(Region.parent_id == target.id).order_by(Region.code))
        for r in subs:
            t = GoalTarget(GoalScope.REGION, r.code, r.name, r.id, r.id)
            out.append((t, _unit_condition(session, t)))
        teams = session.scalars(select(Team).where(Team.region_id == target.id).order_by(Team.code))
        for team in teams:
            out.append((GoalTarget(GoalScope.TEAM, team.code, team.name, team.id, team.region_id),
                        DailyReport.team_id == team.id))
        return out
    return []


def _member_history(session: Session, target: GoalTarget, members: list[tuple[GoalTarget, Any]], metric: str,
                    start: date, end: date) -> list[Decimal]:
    """Last year's totals of each member, with one grouped query."""
    if target.scope is GoalScope.TEAM:
        totals = metric_totals(session=session, person_ids=[m.id for m, _ in members], metric=metric,
                               start=start, end=end)
        return [totals.get(m.id, ZERO) for m, _ in members]
    by_team = _totals_by(session, DailyReport.team_id, _unit_condition(session, target), metric, start, end)
    region_of_team = {tid: rid for tid, rid in session.execute(select(Team.id, Team.region_id))}
    children = _region_children(session)
    out = []
    for member, _ in members:
        if member.scope is GoalScope.TEAM:
            out.append(by_team.get(member.id, ZERO))
            continue
        regions = set()
        stack = [member.id]
        while stack:
            rid = stack.pop()
            regions.add(rid)
            stack.extend(children.get(rid, ()))
        out.append(sum((v for tid, v in by_team.items() if region_of_team.get(tid) in regions), ZERO))
    return out


def _rows(goal: Goal, units: list[tuple[str, str, str, str]], history: list[Decimal], even: bool,
          quantum: Decimal) -> tuple[list[SplitRow], bool]:
    weights = [Decimal(1)] * len(units) if even else history
    fallback = not even and sum(history, ZERO) <= 0
    targets = allocate(goal.target, weights, quantum)
    floors = allocate(goal.floor, weights, quantum) if goal.floor is not None else [None] * len(units)
    stretches = allocate(goal.stretch, weights, quantum) if goal.stretch is not None else [None] * len(units)
    rows = [SplitRow(scope, code, name, period, t, f, s, h)
            for (scope, code, name, period), t, f, s, h in zip(units, targets, floors, stretches, history,
                                                               strict=True)]
    return rows, fallback


def _quantum(goal: Goal) -> Decimal:
    amounts = [a for a in (goal.target, goal.floor, goal.stretch) if a is not None]
    return Decimal(1) if all(a == a.to_integral_value() for a in amounts) else _CENT


def propose_split(*, session: Session, asker: Person, goal: Goal, target: GoalTarget, by: str,
                  now: datetime) -> tuple[GoalProposal, list[SplitSection]]:
    """Propose child goals (periods below, units below), store the proposal and return it."""
    period = parse_period(goal.period)
    even = by == "even"
    quantum = _quantum(goal)
    sections: list[SplitSection] = []
    for kind, subs in (("quarters", period.quarters()), ("months", period.months())):
        if not subs:
            continue
        last_start, last_end = period.last_year()
        by_day = _totals_by(session, DailyReport.day, _unit_condition(session, target), goal.metric,
                            last_start, last_end)
        history = []
        for sub in subs:
            s, e = sub.last_year()
            history.append(sum((v for d, v in by_day.items() if s <= d <= e), ZERO))
        units = [(str(target.scope), target.code, target.name, str(sub)) for sub in subs]
        rows, fallback = _rows(goal, units, history, even, quantum)
        sections.append(SplitSection(kind, fallback, rows))
    members = _members(session, target, period)
    if members:
        start, end = period.last_year()
        history = _member_history(session, target, members, goal.metric, start, end)
        units = [(str(m.scope), m.code, m.name, goal.period) for m, _ in members]
        rows, fallback = _rows(goal, units, history, even, quantum)
        sections.append(SplitSection("members", fallback, rows))
    payload = {
        "scope": goal.scope, "code": goal.code, "name": target.name, "period": goal.period, "metric": goal.metric,
        "by": "even" if even else "history",
        "target": str(goal.target),
        "sections": [{"kind": s.kind, "fallback": s.fallback, "rows": [r.as_dict() for r in s.rows]}
                     for s in sections],
    }
    proposal = GoalProposal(asker_id=asker.id, payload=payload, created_at=now)
    session.add(proposal)
    session.flush()
    return proposal, sections


def apply_proposal(*, session: Session, proposal: GoalProposal, now: datetime) -> int:
    """Write (upsert) every child goal of a proposal; return how many were written."""
    payload = proposal.payload
    written = 0
    for section in payload.get("sections", []):
        for row in section["rows"]:
            set_goal(session=session, scope=GoalScope(row["scope"]), code=row["code"], period=row["period"],
                     metric=payload["metric"], target=Decimal(row["target"]),
                     floor=Decimal(row["floor"]) if row.get("floor") is not None else None,
                     stretch=Decimal(row["stretch"]) if row.get("stretch") is not None else None, now=now)
            written += 1
    proposal.applied_at = now
    session.flush()
    return written


# ---------------------------------------------------------------------------
# the rules of /goal, for chat and the console's forms alike


SCOPE_WORDS: dict[str, GoalScope] = {
    "user": GoalScope.USER, "person": GoalScope.USER, "rep": GoalScope.USER, "个人": GoalScope.USER,
    "人员": GoalScope.USER, "用户": GoalScope.USER, "销售": GoalScope.USER,
    "team": GoalScope.TEAM, "团队": GoalScope.TEAM, "小组": GoalScope.TEAM, "组": GoalScope.TEAM,
    "region": GoalScope.REGION, "区域": GoalScope.REGION, "大区": GoalScope.REGION, "地区": GoalScope.REGION,
}  # fmt: skip
SPLIT_METHODS = ("history", "even")
_MAX_AMOUNT = Decimal("1e16")


class GoalRefused(Exception):
    """A goal change that is not allowed or not possible; nothing was written.

    `code` names the rule: one of the `goal_error` template's codes (bad_scope, unknown_code,
    bad_period, unknown_metric, text_metric, bad_amount, floor_above_target, stretch_below_target,
    bad_by, no_goal, nothing_to_split, no_proposal, already_applied), or, when `forbidden` is true,
    the `forbidden` template's (not_manager_of, not_asker). `field` is the input it is about
    (scope, code, period, metric, target, floor, stretch, by, proposal), `value` what that input
    held, and `details` the template's other variables (scope, choices, what, type, target).
    """

    def __init__(self, code: str, *, field: str = "", value: str = "", forbidden: bool = False,
                 **details: str) -> None:
        super().__init__(f"{code}: {field}={value!r}")
        self.code, self.field, self.value, self.forbidden, self.details = code, field, value, forbidden, details


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        text = f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def goal_target(*, session: Session, person: Person, scope: GoalScope | str, code: str) -> GoalTarget:
    """The person, team or region a goal is for (scope as a GoalScope or a word: user/个人, team/团队,
    region/区域), if `person` may set its goals: managers for the regions they manage and everything
    below them, admins for all."""
    unit_scope = scope if isinstance(scope, GoalScope) else SCOPE_WORDS.get(normalize_label(scope))
    if unit_scope is None:
        raise GoalRefused("bad_scope", field="scope", value=str(scope))
    target = resolve_target(session=session, scope=unit_scope, code=code)
    if target is None:
        raise GoalRefused("unknown_code", field="code", value=code, scope=str(unit_scope))
    if not can_set_goal(session=session, person=person, target=target):
        raise GoalRefused("not_manager_of", field="code", value=code, forbidden=True,
                          target=f"{target.name} ({target.code})")
    return target


def goal_period(period: Period | str) -> Period:
    """A goal period: a year `2026`, a quarter `2026-Q4`, a month `2026-12` or an ISO week `2026-W49`."""
    if isinstance(period, Period):
        return period
    try:
        return parse_period(period)
    except ValueError:
        raise GoalRefused("bad_period", field="period", value=period) from None


def goal_metric(*, session: Session, metric: str) -> FieldDef:
    """The count or money report field a goal measures, by key or any of its labels and aliases."""
    fields = load_fields(session=session)
    by_label: dict[str, FieldDef] = {}
    for name, fdef in [(n, f) for f in fields for n in f.all_labels()] + [(f.key, f) for f in fields]:
        by_label.setdefault(normalize_label(name), fdef)  # labels first: an admin's label never loses to a key
    fdef = by_label.get(normalize_label(metric))
    choices = ", ".join(f.key for f in fields if f.type is not FieldType.TEXT)
    if fdef is None:
        raise GoalRefused("unknown_metric", field="metric", value=metric, choices=choices)
    if fdef.type is FieldType.TEXT:
        raise GoalRefused("text_metric", field="metric", value=metric, choices=choices)
    return fdef


def check_amounts(fdef: FieldDef, *, target: Decimal, floor: Decimal | None = None,
                  stretch: Decimal | None = None) -> None:
    """A target above 0, a floor and stretch of 0 or more, whole numbers for a count, cents at most for money,
    and floor <= target <= stretch."""
    for what, amount in (("target", target), ("floor", floor), ("stretch", stretch)):
        if amount is None:
            continue
        whole = amount == amount.to_integral_value() if amount.is_finite() else False
        if (not amount.is_finite() or amount < 0 or (what == "target" and amount == 0) or amount >= _MAX_AMOUNT
                or (fdef.type is FieldType.COUNT and not whole) or amount != amount.quantize(_CENT)):
            raise GoalRefused("bad_amount", field=what, value=_text(amount), what=what, type=str(fdef.type))
    if floor is not None and floor > target:
        raise GoalRefused("floor_above_target", field="floor", value=_text(floor))
    if stretch is not None and stretch < target:
        raise GoalRefused("stretch_below_target", field="stretch", value=_text(stretch))


def _amounts(goal: Goal | None) -> dict[str, Any] | None:
    return None if goal is None else {"target": goal.target, "floor": goal.floor, "stretch": goal.stretch}


@dataclass(frozen=True)
class GoalSet:
    goal: Goal
    created: bool
    target: GoalTarget
    period: Period
    field: FieldDef


def set_goal_for(*, session: Session, person: Person, scope: GoalScope | str, code: str, period: Period | str,
                 metric: str, target: Decimal, floor: Decimal | None = None, stretch: Decimal | None = None,
                 now: datetime, source: str) -> GoalSet:
    """Set (create or replace) a goal as `person`, with the rules of `/goal set`, and record it in the audit log.

    Raises GoalRefused (nothing written) for a scope, code, period or metric that is wrong, amounts
    that break the rules (`check_amounts`), or a person who may not set this goal (`forbidden`).
    `source` is where the change came from (`services.audit.source_of(platform)`, `console`).
    """
    unit = goal_target(session=session, person=person, scope=scope, code=code)
    when = goal_period(period)
    fdef = goal_metric(session=session, metric=metric)
    check_amounts(fdef, target=target, floor=floor, stretch=stretch)
    before = _amounts(find_goal(session=session, scope=unit.scope, code=unit.code, period=when, metric=fdef.key))
    goal, created = set_goal(session=session, scope=unit.scope, code=unit.code, period=when, metric=fdef.key,
                             target=target, floor=floor, stretch=stretch, now=now)
    audit.record(session, action=audit.Action.GOAL_SET, actor=person, source=source, at=now,
                 target=f"{unit.scope} {unit.code} {when} {fdef.key}", before=before, after=_amounts(goal))
    return GoalSet(goal, created, unit, when, fdef)


def propose_split_for(*, session: Session, person: Person, scope: GoalScope | str, code: str, period: Period | str,
                      metric: str, by: str = "history", now: datetime) -> tuple[GoalProposal, list[SplitSection]]:
    """Propose how a goal breaks down, with the rules of `/goal split`, and store the proposal to apply later.

    `by` is `history` (weighted by last year's results) or `even`. Raises GoalRefused when the
    goal does not exist, has nothing below it, or `person` may not set its goals.
    """
    if by not in SPLIT_METHODS:
        raise GoalRefused("bad_by", field="by", value=by)
    unit = goal_target(session=session, person=person, scope=scope, code=code)
    when = goal_period(period)
    fdef = goal_metric(session=session, metric=metric)
    goal = find_goal(session=session, scope=unit.scope, code=unit.code, period=when, metric=fdef.key)
    if goal is None:
        raise GoalRefused("no_goal", field="code", value=f"{unit.code} {when} {fdef.key}")
    proposal, sections = propose_split(session=session, asker=person, goal=goal, target=unit, by=by, now=now)
    if not sections:
        session.delete(proposal)
        session.flush()
        raise GoalRefused("nothing_to_split", field="code", value=f"{unit.code} {when}")
    return proposal, sections


def apply_split_for(*, session: Session, person: Person, proposal_id: int | str, now: datetime, source: str,
                    adjusted: dict[tuple[str, str, str], dict[str, Decimal | None]] | None = None) -> tuple[
                        GoalProposal, int]:
    """Write the child goals of a split proposal, with the rules of the apply button, and record it.

    Only the person who asked for the split, only once, only while they may still set the goal.
    `adjusted` changes rows before they are written (the console's table): (scope, code, period)
    -> {"target": ..., "floor": ..., "stretch": ...}, each row checked like `/goal set`.
    Returns the proposal and how many goals were written.
    """
    try:
        number = int(str(proposal_id).strip())
    except ValueError:
        number = 0
    proposal = session.get(GoalProposal, number) if 0 < number < 2**31 else None
    if proposal is None:
        raise GoalRefused("no_proposal", field="proposal", value=str(proposal_id)[:20])
    if proposal.asker_id != person.id:
        raise GoalRefused("not_asker", field="proposal", value=str(number), forbidden=True)
    if proposal.applied_at is not None:
        raise GoalRefused("already_applied", field="proposal", value=str(number))
    payload = copy.deepcopy(proposal.payload)
    unit = resolve_target(session=session, scope=GoalScope(payload["scope"]), code=payload["code"])
    if unit is None or not can_set_goal(session=session, person=person, target=unit):
        raise GoalRefused("not_manager_of", field="proposal", value=str(number), forbidden=True,
                          target=f"{payload['name']} ({payload['code']})")
    rows = [row for section in payload.get("sections", []) for row in section["rows"]]
    if adjusted:
        fdef = goal_metric(session=session, metric=payload["metric"])
        known = {(row["scope"], row["code"], row["period"]): row for row in rows}
        for key, amounts in adjusted.items():
            if key not in known:
                raise GoalRefused("unknown_code", field="code", value=" ".join(key), scope=key[0])
            row = {**known[key], **{k: v for k, v in amounts.items() if k in ("target", "floor", "stretch")}}
            if row["target"] is None:
                raise GoalRefused("bad_amount", field="target", value="", what="target", type=str(fdef.type))
            check_amounts(fdef, **{k: None if row.get(k) is None else Decimal(str(row[k]))
                                   for k in ("target", "floor", "stretch")})
            known[key].update({k: None if row.get(k) is None else _text(Decimal(str(row[k])))
                               for k in ("target", "floor", "stretch")})
        proposal.payload = {**payload, "adjusted": True}  # the rows as written (a new object, so it is saved)
    keys = [(GoalScope(row["scope"]), row["code"], row["period"]) for row in rows]

    def state() -> dict[str, Any]:
        return {f"{s} {c} {p}": _amounts(find_goal(session=session, scope=s, code=c, period=p,
                                                   metric=payload["metric"])) for s, c, p in keys}

    before = state()
    written = apply_proposal(session=session, proposal=proposal, now=now)
    audit.record(session, action=audit.Action.GOAL_SPLIT_APPLY, actor=person, source=source, at=now,
                 target=f"{payload['scope']} {payload['code']} {payload['period']} {payload['metric']}",
                 before={"proposal": proposal.id, "by": payload["by"], "goals": before},
                 after={"proposal": proposal.id, "by": payload["by"], "goals": state()})
    return proposal, written
