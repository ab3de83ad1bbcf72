"""Sums of a report number over any span of days, per person and team, read mostly from the monthly totals.

A region's overview adds up a month and the forecast's 90-day look-back for 10,000 people: about a million
daily reports. report_months (kept up to date as reports are written, models/rollups.py) holds the same sums
a row per person, team and month, so a span is read as

    its whole months from report_months
  + the days of a partly covered month, from the reports, when they are fewer than the days left out
  + or that month's total minus the days left out, from the reports, when those are fewer

which gives exactly what summing the span's submitted reports gives (the tests compare both on every
database): the month of today, for instance, is its total minus the days after today, of which there are none.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Table,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)

from models import MONEY, REPORT_AMOUNTS, DailyReport, ReportMonth, ReportTeamDay
from models.rollups import NUMBERS

__all__ = ["Scope", "daily_by_team", "has_totals", "span_parts", "window"]

_REPORTS: Table = DailyReport.__table__  # type: ignore[assignment]
_MONTHS: Table = ReportMonth.__table__  # type: ignore[assignment]
_TEAM_DAYS: Table = ReportTeamDay.__table__  # type: ignore[assignment]

# Which rows count, as a condition on a table's person_id and team_id columns (both tables have them; a
# report without a team is team 0 in report_months).
Scope = Callable[[Any, Any], ColumnElement[bool]]


def has_totals(metric: str) -> bool:
    """Whether the metric is kept in the totals (the report's own number columns, not an admin's field)."""
    return metric in NUMBERS


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


@dataclass(frozen=True)
class Parts:
    """A span as whole months (from the totals), days to add and days to take away (from the reports)."""

    months: tuple[date, ...]
    add: tuple[tuple[date, date], ...]
    subtract: tuple[tuple[date, date], ...]


def span_parts(start: date, end: date) -> Parts:
    """Split [start, end] into whole months and the cheaper side of each partly covered month."""
    months: list[date] = []
    add: list[tuple[date, date]] = []
    subtract: list[tuple[date, date]] = []
    month = start.replace(day=1)
    while month <= end:
        last = _month_end(month)
        a, b = max(start, month), min(end, last)
        inside = (b - a).days + 1
        outside = (last - month).days + 1 - inside
        if outside == 0:
            months.append(month)
        elif inside <= outside:
            add.append((a, b))
        else:  # the month's total minus the days left out, before and after the span
            months.append(month)
            if a > month:
                subtract.append((month, a - timedelta(days=1)))
            if b < last:
                subtract.append((b + timedelta(days=1), last))
        month = last + timedelta(days=1)
    return Parts(tuple(months), tuple(add), tuple(subtract))


def window(metric: str, start: date, end: date, scope: Scope, *, by_team: bool = True,
           label: str = "w") -> Subquery:
    """Per person (and team, 0 for none) with at least one submitted report in [start, end]: the metric's sum
    (`total`), the reports with it above zero (`days`) and the reports (`reports`). The metric must be one
    of the totals' (has_totals), and start <= end."""
    assert start <= end, (start, end)
    parts = span_parts(start, end)
    column = _REPORTS.c[metric]
    team = func.coalesce(_REPORTS.c.team_id, 0)
    positive = case((column > 0, 1), else_=0)
    submitted = _REPORTS.c.submitted_at.is_not(None)
    selects = []
    if parts.months:
        selects.append(select(_MONTHS.c.person_id, _MONTHS.c.team_id, _MONTHS.c[metric].label("v"),
                              _MONTHS.c[f"{metric}_days"].label("n"), _MONTHS.c.reports.label("r"))
                       .where(_MONTHS.c.month.in_(parts.months), scope(_MONTHS.c.person_id, _MONTHS.c.team_id)))
    for spans, sign in ((parts.add, 1), (parts.subtract, -1)):
        if not spans:
            continue
        days = or_(*(and_(_REPORTS.c.day >= a, _REPORTS.c.day <= b) for a, b in spans))
        selects.append(select(_REPORTS.c.person_id, team.label("team_id"),
                              (func.coalesce(column, 0) * sign).label("v"), (positive * sign).label("n"),
                              literal_column(str(sign)).label("r"))
                       .where(days, submitted, scope(_REPORTS.c.person_id, _REPORTS.c.team_id)))
    rows = union_all(*selects).subquery(f"{label}_rows")
    money = metric in REPORT_AMOUNTS
    keys = [rows.c.person_id, rows.c.team_id] if by_team else [rows.c.person_id]
    total = func.sum(rows.c.v)
    return (select(*keys, (type_coerce(total, MONEY) if money else total).label("total"),
                   func.sum(rows.c.n).label("days"), func.sum(rows.c.r).label("reports"))
            .group_by(*keys).having(func.sum(rows.c.r) > 0).subquery(label))


def daily_by_team(metric: str, team_ids: Any, start: date, end: date) -> Any:
    """(day, sum) of the teams' submitted reports for each day in [start, end] with a report."""
    column = _TEAM_DAYS.c[metric]
    total = func.sum(column)
    return (select(_TEAM_DAYS.c.day, type_coerce(total, MONEY) if metric in REPORT_AMOUNTS else total)
            .where(_TEAM_DAYS.c.team_id.in_(team_ids), _TEAM_DAYS.c.day >= start, _TEAM_DAYS.c.day <= end)
            .group_by(_TEAM_DAYS.c.day))
