"""Workdays: China's official holidays and make-up days, overrides from holidays.csv, team zones."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import refcache
from models import Holiday

log = logging.getLogger("salesbot.calendar")
_warned_years: set[int] = set()


@lru_cache(maxsize=64)
def _cn_year(year: int) -> tuple[frozenset[date], frozenset[date], dict[date, str], bool]:
    """Return (holidays, make-up workdays, names, published) for one year of China's calendar."""
    cn = holidays_lib.country_holidays("CN", years=year)
    off = frozenset(d for d in cn if d.year == year)
    makeup = frozenset(d for d in cn.weekend_workdays if d.year == year)
    names = {d: str(cn.get(d)) for d in off}
    published = bool(makeup)
    if not published and year not in _warned_years:
        _warned_years.add(year)
        log.warning("China's official %d holiday schedule is not published in the holidays library; "
                    "using the rules (no make-up workdays). Import holidays.csv to add it.", year)
    return off, makeup, names, published


class WorkCalendar:
    """Whether a date is a workday; overrides (holidays.csv) always win."""

    def __init__(self, mode: str = "CN", overrides: Mapping[date, str] | None = None) -> None:
        self.mode = mode
        self.overrides = dict(overrides or {})
        self._spans: dict[tuple[date, date], tuple[date, ...]] = {}  # workdays() by span, computed once

    def is_published(self, year: int) -> bool:
        return self.mode != "CN" or _cn_year(year)[3]

    def is_workday(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind == "holiday":
            return False
        if kind == "workday":
            return True
        if self.mode == "CN":
            off, makeup, _, _ = _cn_year(day.year)
            if day in makeup:
                return True
            if day in off:
                return False
        return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """Return the first workday strictly after `day`."""
        d = day + timedelta(days=1)
        for _ in range(400):
            if self.is_workday(d):
                return d
            d += timedelta(days=1)
        return d

    def workdays(self, start: date, end: date) -> list[date]:
        """Return the workdays from start to end, both included."""
        found = self._spans.get((start, end))
        if found is None:
            out, d = [], start
            while d <= end:
                if self.is_workday(d):
                    out.append(d)
                d += timedelta(days=1)
            if len(self._spans) > 4096:  # a long-lived calendar asked for many spans
                self._spans.clear()
            found = self._spans[(start, end)] = tuple(out)
        return list(found)

    def add_workdays(self, day: date, n: int) -> date:
        d = day
        for _ in range(n):
            d = self.next_workday(d)
        return d

    def workdays_since(self, start: date, end: date) -> int:
        """Count workdays after `start` up to and including `end` (0 if end <= start)."""
        if end <= start:
            return 0
        return len(self.workdays(start + timedelta(days=1), end))

    def is_first_workday_of_week(self, day: date) -> bool:
        monday = day - timedelta(days=day.weekday())
        first = next((d for d in self.workdays(monday, monday + timedelta(days=6))), None)
        return first == day


def load_calendar(session: Session, mode: str) -> WorkCalendar:
    """Build the calendar with the organisation's overrides from the database (cached: see refcache)."""

    def load() -> WorkCalendar:
        overrides = {d: k for d, k in session.execute(select(Holiday.day, Holiday.kind))}
        return WorkCalendar("CN" if mode == "CN" else "none", overrides)

    return refcache.get(session, ("calendar", mode), load)


def local_date(moment: datetime, zone: str | ZoneInfo) -> date:
    """Return the calendar date of `moment` in a zone."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return moment.astimezone(tz).date()
