"""Sums of a report number over any span of days, per person and team, read mostly from kept totals.

A region's overview adds up a month and the forecast's 90-day look-back for 10,000 people: about a million
daily reports. report_months and report_blocks (kept up to date as reports are written, models/rollups.py) hold
the same sums a row per person, team and month, and per person, team and block of a month (days 1-5, 6-10,
11-15, 16-20, 21-25, 26 to the end). A span is read as

    its whole months from report_months
  + for a month it covers in part: the days it covers, as whole blocks and (at the blocks' edges) days from the
    reports, or the month less the days it leaves out (as blocks and days), whichever reads fewer rows

which gives exactly what summing the span's submitted reports gives (the tests compare both on every
database). The 90-day look-back from 23 November reads August's last block, September, October and November
less its block 26-30 and days 24-25 (of which, seen that evening, there are no reports): a few rows a person.
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

from models import MONEY, REPORT_AMOUNTS, DailyReport, ReportBlock, ReportMonth, ReportTeamDay
from models.rollups import NUMBERS, block_end, block_start

__all__ = ["Scope", "daily_by_team", "has_totals", "span_parts", "window"]

_REPORTS: Table = DailyReport.__table__  # type: ignore[assignment]
_MONTHS: Table = ReportMonth.__table__  # type: ignore[assignment]
_BLOCKS: Table = ReportBlock.__table__  # type: ignore[assignment]
_TEAM_DAYS: Table = ReportTeamDay.__table__  # type: ignore[assignment]

# Which rows count, as a condition on a table's person_id and team_id columns (both tables have them; a
# report without a team is team 0 in report_months).
Scope = Callable[[Any, Any], ColumnElement[bool]]


def has_totals(metric: str) -> bool:
    """Whether the metric is kept in the totals (the report's own number columns, not an admin's field)."""
    return metric in NUMBERS


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


Days = tuple[date, date]


@dataclass(frozen=True)
class Parts:
    """A span as whole months and blocks from the totals, and days from the reports, each added or taken away
    (sign 1 or -1)."""

    months: tuple[date, ...]
    blocks: tuple[tuple[date, int], ...]
    days: tuple[tuple[Days, int], ...]

    @property
    def cost(self) -> int:
        """Rows read per person, about: one a month or block, one a day of reports."""
        return len(self.months) + len(self.blocks) + sum((b - a).days + 1 for (a, b), _ in self.days)


def _in_month(a: date, b: date, sign: int) -> Parts:
    """Days a..b of one month from its blocks: each block whole, or its days inside, or the block less its days
    outside, whichever reads fewer rows."""
    blocks: list[tuple[date, int]] = []
    days: list[tuple[Days, int]] = []
    start = block_start(a)
    while start <= b:
        end = block_end(start)
        lo, hi = max(a, start), min(b, end)
        inside, outside = (hi - lo).days + 1, (end - start).days - (hi - lo).days
        if outside == 0:
            blocks.append((start, sign))
        elif inside <= 1 + outside:
            days.append(((lo, hi), sign))
        else:
            blocks.append((start, sign))
            if lo > start:
                days.append(((start, lo - timedelta(days=1)), -sign))
            if hi < end:
                days.append(((hi + timedelta(days=1), end), -sign))
        start = end + timedelta(days=1)
    return Parts((), tuple(blocks), tuple(days))


def span_parts(start: date, end: date, latest: date | None = None) -> Parts:
    """Split [start, end] into whole months, and for a month partly covered the cheaper of its days from blocks
    and days, or the month less the days left out (from blocks and days). `latest`: the last day any report is
    for, if known; the days after it hold nothing to add or take away (the month of today is then whole)."""
    months: list[date] = []
    blocks: list[tuple[date, int]] = []
    days: list[tuple[Days, int]] = []
    month = start.replace(day=1)
    while month <= end:
        last = _month_end(month)
        if latest is not None and latest < last:
            last = max(latest, min(end, _month_end(month)))  # nothing after `latest`: as if the month ended there
        a, b = max(start, month), min(end, last)
        if (a, b) == (month, last):
            months.append(month)
        else:
            inside = _in_month(a, b, 1)
            before = _in_month(month, a - timedelta(days=1), -1) if a > month else Parts((), (), ())
            after = _in_month(b + timedelta(days=1), last, -1) if b < last else Parts((), (), ())
            if inside.cost <= 1 + before.cost + after.cost:
                blocks += inside.blocks
                days += inside.days
            else:
                months.append(month)
                blocks += before.blocks + after.blocks
                days += before.days + after.days
        month = _month_end(month) + timedelta(days=1)
    return Parts(tuple(months), tuple(blocks), tuple(days))


def _rows(metric: str, parts: Parts, scope: Scope, shape: Callable[[Any, Any, Any], list[Any]]) -> list[Any]:
    """One SELECT per source of a span's parts (months, blocks, days; added or taken away), each row shaped by
    `shape(value, days above zero, reports)` after person_id and team_id."""
    column = _REPORTS.c[metric]
    selects = []
    totals = [(_MONTHS, _MONTHS.c.month, [(m, 1) for m in parts.months]), (_BLOCKS, _BLOCKS.c.start, list(parts.blocks))]
    for table, key, wanted in totals:
        for sign in (1, -1):
            starts = [d for d, s in wanted if s == sign]
            if starts:
                selects.append(select(table.c.person_id, table.c.team_id,
                                      *shape(table.c[metric] * sign, table.c[f"{metric}_days"] * sign,
                                             table.c.reports * sign))
                               .where(key.in_(starts), scope(table.c.person_id, table.c.team_id)))
    for sign in (1, -1):
        spans = [span for span, s in parts.days if s == sign]
        if spans:
            days = or_(*(and_(_REPORTS.c.day >= a, _REPORTS.c.day <= b) for a, b in spans))
            selects.append(select(_REPORTS.c.person_id, func.coalesce(_REPORTS.c.team_id, 0).label("team_id"),
                                  *shape(func.coalesce(column, 0) * sign, case((column > 0, 1), else_=0) * sign,
                                         literal_column(str(sign))))
                           .where(days, _REPORTS.c.submitted_at.is_not(None),
                                  scope(_REPORTS.c.person_id, _REPORTS.c.team_id)))
    return selects


def _typed(metric: str, total: Any) -> Any:
    return type_coerce(total, MONEY) if metric in REPORT_AMOUNTS else total


def window(metric: str, start: date, end: date, scope: Scope, *, by_team: bool = True,
           latest: date | None = None) -> Subquery:
    """Per person (and team, 0 for none) with at least one submitted report in [start, end]: the metric's sum
    (`total`), the reports with it above zero (`days`) and the reports (`reports`). The metric must be one
    of the totals' (has_totals), and start <= end. `latest`: as for span_parts."""
    assert start <= end, (start, end)
    selects = _rows(metric, span_parts(start, end, latest), scope,
                    lambda v, n, r: [v.label("v"), n.label("n"), r.label("r")])
    rows = union_all(*selects).subquery("w_rows")
    keys = [rows.c.person_id, rows.c.team_id] if by_team else [rows.c.person_id]
    return (select(*keys, _typed(metric, func.sum(rows.c.v)).label("total"),
                   func.sum(rows.c.n).label("days"), func.sum(rows.c.r).label("reports"))
            .group_by(*keys).having(func.sum(rows.c.r) > 0).subquery("w"))


def daily_by_team(metric: str, team_ids: Any, start: date, end: date,
                  among: Callable[[Any, Any], ColumnElement[bool]] | None = None) -> Any:
    """(day, sum) of the teams' submitted reports for each day in [start, end] with a report. `among` builds
    the team condition (default: IN)."""
    column = _TEAM_DAYS.c[metric]
    total = func.sum(column)
    teams = among(_TEAM_DAYS.c.team_id, team_ids) if among is not None else _TEAM_DAYS.c.team_id.in_(team_ids)
    return (select(_TEAM_DAYS.c.day, type_coerce(total, MONEY) if metric in REPORT_AMOUNTS else total)
            .where(teams, _TEAM_DAYS.c.day >= start, _TEAM_DAYS.c.day <= end)
            .group_by(_TEAM_DAYS.c.day))
