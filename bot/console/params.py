"""Query parameters of console pages: parsed, or a BadInput naming what is wrong and what would be right."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.console.web import BadInput, View
from services.calendar import load_calendar
from services.fields import FieldDef, FieldType
from services.goals import Period, PeriodKind, month_period, parse_period
from services.report_fields import load_fields

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Span:
    """The period a page shows, and the day it is seen from (today, the period's end, or the day asked for)."""

    period: Period
    as_of: date
    text: str  # as typed in the URL (empty: the default)

    @property
    def start(self) -> date:
        return self.period.start

    @property
    def end(self) -> date:
        return min(self.as_of, self.period.end)


def period(view: View, name: str = "period") -> Span:
    """`?period=` a goals period (2026, 2026-Q4, 2026-12, 2026-W49) or a day (the month up to that day)."""
    raw = view.param(name)
    today = view.today()
    if not raw:
        return Span(month_period(today), today, "")
    if _DAY.fullmatch(raw):
        day = _parse_day(view, name, raw)
        return Span(month_period(day), day, raw)
    try:
        found = parse_period(raw)
    except ValueError:
        raise BadInput(name, raw, view.t("expected.period")) from None
    return Span(found, min(today, found.end), raw)


def _parse_day(view: View, name: str, raw: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadInput(name, raw, view.t("expected.day")) from None
    if not 1900 <= day.year <= 2999:
        raise BadInput(name, raw, view.t("expected.day"))
    return day


def day(view: View, name: str = "day") -> tuple[date, str]:
    """`?day=YYYY-MM-DD`, default today."""
    raw = view.param(name)
    if not raw:
        return view.today(), ""
    if not _DAY.fullmatch(raw):
        raise BadInput(name, raw, view.t("expected.day"))
    return _parse_day(view, name, raw), raw


def metric(view: View, name: str = "metric", default: str = "signed_amount") -> tuple[FieldDef, str]:
    """`?metric=` a count or money report field key."""
    fields = [f for f in load_fields(session=view.session) if f.type is not FieldType.TEXT]
    raw = view.param(name)
    key = raw or default
    found = next((f for f in fields if f.key == key), None)
    if found is None:
        raise BadInput(name, raw, ", ".join(f.key for f in fields))
    return found, raw


def metrics(view: View) -> list[FieldDef]:
    return [f for f in load_fields(session=view.session) if f.type is not FieldType.TEXT]


def previous(period: Period) -> Period:
    """The period just before one of the same kind."""
    if period.kind is PeriodKind.YEAR:
        return Period(PeriodKind.YEAR, period.year - 1)
    if period.kind is PeriodKind.QUARTER:
        assert period.index is not None
        return Period(PeriodKind.QUARTER, period.year - 1, 4) if period.index == 1 else \
            Period(PeriodKind.QUARTER, period.year, period.index - 1)
    if period.kind is PeriodKind.MONTH:
        return month_period(period.start - timedelta(days=1))
    iso = (period.start - timedelta(days=7)).isocalendar()
    return Period(PeriodKind.WEEK, iso.year, iso.week)


def calendar(view: View):  # noqa: ANN201 - services.calendar.WorkCalendar
    return load_calendar(view.session, view.settings.org.holidays)
