from __future__ import annotations

from datetime import date

import pytest

from services.calendar import WorkCalendar


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 10, 10), True),   # make-up Saturday after National Day
        (date(2026, 9, 20), True),    # make-up Sunday
        (date(2026, 2, 14), True),
        (date(2026, 10, 1), False),   # National Day
        (date(2026, 10, 7), False),
        (date(2026, 10, 9), True),    # ordinary Friday
        (date(2026, 11, 21), False),  # ordinary Saturday
        (date(2026, 11, 23), True),
        (date(2027, 1, 1), False),    # rules: New Year's Day
        (date(2027, 3, 15), True),    # an ordinary 2027 Monday
        (date(2027, 3, 13), False),
    ],
)
def test_cn_calendar(day: date, workday: bool) -> None:
    assert WorkCalendar("CN").is_workday(day) is workday


def test_overrides_win() -> None:
    cal = WorkCalendar("CN", {date(2026, 11, 23): "holiday", date(2026, 11, 21): "workday"})
    assert not cal.is_workday(date(2026, 11, 23))
    assert cal.is_workday(date(2026, 11, 21))


def test_none_mode_is_plain_weekdays() -> None:
    cal = WorkCalendar("none")
    assert cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 10))


def test_unpublished_year_never_raises() -> None:
    cal = WorkCalendar("CN")
    assert not cal.is_published(2031)
    assert len(cal.workdays(date(2031, 1, 1), date(2031, 12, 31))) > 200


def test_next_and_first_workday() -> None:
    cal = WorkCalendar("CN")
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.is_first_workday_of_week(date(2026, 10, 8))  # Mon-Wed of that week are holidays
    assert not cal.is_first_workday_of_week(date(2026, 10, 9))
    assert cal.is_first_workday_of_week(date(2026, 11, 23))
    assert cal.workdays_since(date(2026, 11, 20), date(2026, 11, 24)) == 2
