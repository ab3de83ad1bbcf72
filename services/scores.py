"""Activity scores (0-100) for a week: reports, visits against goal, follow-ups on time, key actions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from models import DailyReport, FollowUp, FollowUpStatus, Goal, GoalScope
from services.calendar import WorkCalendar

# Without a visits goal, a rep is expected to make one visit per workday.
DEFAULT_VISITS_PER_WORKDAY = Decimal(1)


@dataclass
class Score:
    """One person's activity score with its four parts, each a ratio 0..1."""

    person_id: int
    total: int
    reports: Decimal
    visits: Decimal
    followups: Decimal
    plans: Decimal

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prorated_target(*, session: Session, scope: str, code: str, metric: str, start: date, end: date,
                    calendar: WorkCalendar) -> Decimal | None:
    """Return the goal for start..end: a week goal if set, else month goals prorated by workdays."""
    week = start.isocalendar()
    if end - start == timedelta(days=6) and start.weekday() == 0:
        weekly = session.scalar(select(Goal.target).where(
            Goal.scope == scope, Goal.code == code, Goal.metric == metric,
            Goal.period == f"{week.year}-W{week.week:02d}"))
        if weekly is not None:
            return Decimal(weekly)
    months = sorted({(d.year, d.month) for d in _days(start, end)})
    periods = {f"{y}-{m:02d}": (y, m) for y, m in months}
    rows = dict(session.execute(select(Goal.period, Goal.target).where(
        Goal.scope == scope, Goal.code == code, Goal.metric == metric, Goal.period.in_(list(periods)))).all())
    if not rows:
        return None
    total = Decimal(0)
    for period, target in rows.items():
        y, m = periods[period]
        first = date(y, m, 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        month_days = len(calendar.workdays(first, last))
        inside = len(calendar.workdays(max(first, start), min(last, end)))
        if month_days:
            total += Decimal(target) * inside / month_days
    return total.quantize(Decimal("0.01"), ROUND_HALF_UP)


def activity_scores(*, session: Session, settings: Settings, calendar: WorkCalendar, people: Iterable[Any],
                    start: date, end: date) -> dict[int, Score]:
    """Score each person's activity from start to end (both included) by `rules.score_weights`."""
    people = list(people)
    ids = [p.id for p in people]
    if not ids:
        return {}
    workdays = set(calendar.workdays(start, end))
    reports: dict[int, list[DailyReport]] = {i: [] for i in ids}
    for r in session.scalars(select(DailyReport).where(
            DailyReport.person_id.in_(ids), DailyReport.day >= start, DailyReport.day <= end)):
        reports[r.person_id].append(r)
    followups: dict[int, list[FollowUp]] = {i: [] for i in ids}
    for f in session.scalars(select(FollowUp).where(
            FollowUp.owner_id.in_(ids), FollowUp.due >= start, FollowUp.due <= end)):
        if f.owner_id is not None:
            followups[f.owner_id].append(f)
    w = settings.rules.score_weights
    weights = {"reports": w.reports, "visits": w.visits, "followups": w.followups, "plans": w.plans}
    weight_sum = sum(weights.values()) or 1
    out: dict[int, Score] = {}
    for person in people:
        mine = reports[person.id]
        n = len(workdays)
        sent = sum(1 for r in mine if r.day in workdays and r.submitted_at is not None)
        planned = sum(1 for r in mine if r.day in workdays and r.key_actions)
        visits = sum((Decimal(r.visits or 0) for r in mine), Decimal(0))
        goal = prorated_target(session=session, scope=GoalScope.USER, code=person.code, metric="visits",
                               start=start, end=end, calendar=calendar)
        if goal is None:
            goal = DEFAULT_VISITS_PER_WORKDAY * n
        parts = {
            "reports": _ratio(sent, n),
            "visits": _ratio(visits, goal),
            "followups": _on_time(followups[person.id], end),
            "plans": _ratio(planned, n),
        }
        total = sum((parts[k] * weights[k] for k in parts), Decimal(0)) * 100 / weight_sum
        out[person.id] = Score(person_id=person.id, total=int(total.quantize(Decimal(1), ROUND_HALF_UP)), **parts)
    return out


def _on_time(items: list[FollowUp], end: date) -> Decimal:
    """Share of follow-ups due in the period that were done by their due day (none due: full marks)."""
    if not items:
        return Decimal(1)
    kept = 0
    for f in items:
        done = f.done_at.astimezone(UTC).date() if f.done_at is not None else None
        if f.status == FollowUpStatus.DONE and done is not None and done <= f.due + timedelta(days=1):
            kept += 1
    return _ratio(kept, len(items))


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal:
    if not whole:
        return Decimal(1)
    value = Decimal(part) / Decimal(whole)
    return min(Decimal(1), max(Decimal(0), value)).quantize(Decimal("0.001"), ROUND_HALF_UP)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
