"""Who is a seller (contract section 8): the one place every job, ranking, split and score asks.

A person is a seller of their team in a month when they are active and either

- have the role `rep`, or
- are a `manager` or `admin` with a personal goal (scope `user`, any metric) for that month: a
  goal for the month itself, for the quarter or the year containing it, or for an ISO week that
  touches it (a player-coach). A quarter or year goal counts because it is a quota carried
  through each of its months; without that rule a player-coach given only a year goal would
  never be ranked or chased.

Over a span of days (a week, a quarter, a year being split), a person is a seller when they are
one in any month the span touches. Only sellers get the morning prompt, the report reminder and
the follow-up nudges, are ranked and listed as not having reported, appear in the weekly review's
per-person table with an activity score, and receive a share when a team's goal is split. What is
addressed to managers (collaboration requests, escalations, stalled-deal risks, weekly reviews)
does not ask this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, literal, or_, select
from sqlalchemy.orm import Session

from models import Goal, GoalScope, Person, Role, Team

__all__ = ["seller_condition", "seller_periods", "sellers"]


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months: list[tuple[int, int]] = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def seller_periods(start: date, end: date) -> list[str]:
    """Return the goal periods that make a manager or admin a seller somewhere in start..end.

    For every month the span touches: the month (`2026-11`), its quarter (`2026-Q4`), its year
    (`2026`) and every ISO week with a day in it (`2026-W44` .. `2026-W48`), spelled as goals store
    them.
    """
    out: dict[str, None] = {}
    for y, m in _months(start, end):
        out[f"{y}-{m:02d}"] = None
        out[f"{y}-Q{(m - 1) // 3 + 1}"] = None
        out[f"{y}"] = None
        first = date(y, m, 1)
        last = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
        monday = first - timedelta(days=first.weekday())
        while monday <= last:
            iso = monday.isocalendar()
            out[f"{iso.year}-W{iso.week:02d}"] = None
            monday += timedelta(days=7)
    return list(out)


def seller_condition(periods: Sequence[str | BindParameter[Any]]) -> ColumnElement[bool]:
    """A WHERE clause on Person: a rep, or someone with a personal goal for one of these periods.

    The goal test is a correlated scalar subquery (LIMIT 1) on goals' unique (scope, code, period,
    metric) index, second in an OR, so only the few people who are not reps cost a lookup. (As an
    EXISTS, PostgreSQL may instead hash every personal goal of the organisation for each query.)
    """
    has_goal = (select(literal(1)).where(Goal.scope == GoalScope.USER.value, Goal.code == Person.code,
                                         Goal.period.in_(periods))
                .limit(1).scalar_subquery())
    return or_(Person.role == Role.REP, has_goal.is_not(None))


def sellers(*, session: Session, team: Team | int, start: date, end: date | None = None) -> list[Person]:
    """Return the active sellers of a team on a day (or over start..end), by code."""
    team_id = team if isinstance(team, int) else team.id
    periods = seller_periods(start, end or start)
    return list(session.scalars(
        select(Person).where(Person.team_id == team_id, Person.active.is_(True), seller_condition(periods))
        .order_by(Person.code)))

