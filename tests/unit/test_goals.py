"""Goal periods, exact splits, actual totals and progress from the services, on the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.db import Database
from models import DailyReport, GoalScope, Person, Region, Team
from services.calendar import WorkCalendar
from services.goals import (
    PeriodKind,
    allocate,
    metric_totals,
    parse_period,
    person_progress,
    region_progress,
    set_goal,
    team_progress,
)
from tests.support.org import build_org

NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)


@pytest.mark.parametrize(("text", "kind", "start", "end"), [
    ("2026", PeriodKind.YEAR, date(2026, 1, 1), date(2026, 12, 31)),
    ("2026-Q4", PeriodKind.QUARTER, date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-02", PeriodKind.MONTH, date(2026, 2, 1), date(2026, 2, 28)),
    ("2026年3月", PeriodKind.MONTH, date(2026, 3, 1), date(2026, 3, 31)),
    ("2026-W49", PeriodKind.WEEK, date(2026, 11, 30), date(2026, 12, 6)),
    ("2026-w01", PeriodKind.WEEK, date(2025, 12, 29), date(2026, 1, 4)),
])
def test_periods(text: str, kind: PeriodKind, start: date, end: date) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)
    assert parse_period(str(period)) == period


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026-W54", "26", "next year", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_periods_nest() -> None:
    year = parse_period("2026")
    assert [str(q) for q in year.quarters()] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert len(year.months()) == 12 and year.months()[0].start == year.start and year.months()[-1].end == year.end
    assert [str(m) for m in parse_period("2026-Q2").months()] == ["2026-04", "2026-05", "2026-06"]
    assert parse_period("2026-05").months() == [] and parse_period("2026-W10").quarters() == []
    assert parse_period("2024-02").last_year() == (date(2023, 2, 1), date(2023, 2, 28))


def test_allocate_examples() -> None:
    assert allocate(Decimal(100), [Decimal(1)] * 3) == [Decimal(34), Decimal(33), Decimal(33)]
    assert sum(allocate(Decimal(10), [Decimal(3), Decimal(1)])) == 10
    assert allocate(Decimal(90), [Decimal(0), Decimal(0)]) == [Decimal(45), Decimal(45)]  # no history: even
    assert allocate(Decimal("100.01"), [Decimal(1)] * 3, Decimal("0.01")) == [
        Decimal("33.34"), Decimal("33.34"), Decimal("33.33")]


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_allocate_adds_up_exactly(total: int, weights: list[int]) -> None:
    parts = allocate(Decimal(total), [Decimal(w) for w in weights])
    assert sum(parts) == total and len(parts) == len(weights)
    assert all(p >= 0 and p == p.to_integral_value() for p in parts)


def _report(s, person: str, team: str, day: date, **values: object) -> None:  # type: ignore[no-untyped-def]
    org_person = s.query(Person).filter_by(code=person).one()
    org_team = s.query(Team).filter_by(code=team).one()
    s.add(DailyReport(person_id=org_person.id, team_id=org_team.id, day=day, extra=values.pop("extra", {}),
                      submitted_at=NOW, **values))


def test_totals_and_progress_roll_up(db: Database) -> None:
    build_org(db)
    cal = WorkCalendar("CN")
    with db.unit_of_work() as s:
        _report(s, "zhang", "sh1", date(2026, 11, 2), signed_amount=Decimal(100000), visits=3, extra={"demos": 2})
        _report(s, "zhang", "sh1", date(2026, 11, 23), signed_amount=Decimal(50000), visits=1)
        _report(s, "li", "sh1", date(2026, 11, 5), signed_amount=Decimal(70000))
        _report(s, "wang", "gz1", date(2026, 11, 5), signed_amount=Decimal(90000))
        _report(s, "li", "sh1", date(2026, 10, 31), signed_amount=Decimal(999999))  # last month
        s.add(DailyReport(person_id=s.query(Person).filter_by(code="li").one().id, day=date(2026, 11, 6),
                          signed_amount=Decimal(1), extra={}, key_actions=["x"]))  # not submitted
        s.flush()
        ids = {p.code: p.id for p in s.query(Person)}
        totals = metric_totals(session=s, person_ids=[ids["zhang"], ids["li"], ids["bob"]], metric="signed_amount",
                               start=date(2026, 11, 1), end=date(2026, 11, 30))
        assert totals == {ids["zhang"]: 150000, ids["li"]: 70000, ids["bob"]: 0}
        assert metric_totals(session=s, person_ids=[ids["zhang"]], metric="demos", start=date(2026, 11, 1),
                             end=date(2026, 11, 30)) == {ids["zhang"]: 2}

        zhang = s.query(Person).filter_by(code="zhang").one()
        [p] = person_progress(session=s, person=zhang, day=date(2026, 11, 23), calendar=cal)
        assert (p.actual, p.pct_target, p.pct_floor, p.pct_stretch) == (
            Decimal(150000), Decimal("30.0"), Decimal("50.0"), Decimal("18.8"))
        assert p.remaining_workdays == 5 and p.run_rate == Decimal("70000.00")  # today reported: 24-30 Nov

        set_goal(session=s, scope=GoalScope.TEAM, code="sh1", period="2026-11", metric="signed_amount",
                 target=Decimal(400000), now=NOW)
        set_goal(session=s, scope=GoalScope.REGION, code="east", period="2026-11", metric="signed_amount",
                 target=Decimal(1000000), now=NOW)
        set_goal(session=s, scope=GoalScope.REGION, code="south", period="2026-11", metric="signed_amount",
                 target=Decimal(100000), floor=Decimal(50000), now=NOW)
        [t] = team_progress(session=s, team=s.query(Team).filter_by(code="sh1").one(), day=date(2026, 11, 23),
                            calendar=cal)
        assert t.actual == 220000 and t.remaining_workdays == 6  # today still counts for a team
        [east] = region_progress(session=s, region=s.query(Region).filter_by(code="east").one(),
                                 day=date(2026, 11, 23), calendar=cal)
        [south] = region_progress(session=s, region=s.query(Region).filter_by(code="south").one(),
                                  day=date(2026, 11, 23), calendar=cal)
        assert east.actual == 220000 and south.actual == 90000 and south.pct_floor == Decimal("180.0")
        assert region_progress(session=s, region=s.query(Region).filter_by(code="north").one(),
                               day=date(2026, 11, 23), calendar=cal) == []
