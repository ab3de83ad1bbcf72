"""`salesbot demo`: a believable organisation, idempotent, with 60 workdays of history."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.demo import HISTORY_WORKDAYS, run_demo
from bot.platforms.console import ConsolePort
from bot.wiring import App
from models import (
    Base,
    CollabRequest,
    Customer,
    DailyReport,
    FollowUp,
    Person,
    Team,
    Visit,
)
from services.calendar import load_calendar
from services.transfer import import_rows, read_table
from tests.test_transfer import DATA, EXAMPLES, NOW


def _app(settings: Settings, db: Database, clock: FixedClock) -> App:
    return App(settings, db=db, clock=clock, ports={"console": ConsolePort(io.StringIO())}, migrate=False)


def _counts(db: Database) -> dict[str, int]:
    with db.unit_of_work() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def test_demo_fills_a_believable_organisation_once(settings: Settings, db: Database, clock: FixedClock,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = run_demo(_app(settings, db, clock))
    assert first.history_added
    out = capsys.readouterr().out
    assert "salesbot chat --user zhangwei" in out and "salesbot run-job evening --team sh1" in out
    counts = _counts(db)
    second = run_demo(_app(settings, db, clock))
    assert not second.history_added
    assert _counts(db) == counts
    with db.unit_of_work() as s:
        teams = {t.code: t for t in s.scalars(select(Team))}
        assert set(teams) == {"sh1", "gz1", "n1"} and teams["n1"].locale == "en"
        assert s.scalar(select(func.count()).select_from(Person).where(Person.role == "rep")) >= 12
        assert s.scalar(select(func.count()).select_from(Customer)) == 40
        sub = s.scalars(select(Customer).where(Customer.name == "远航集团上海分公司")).one()
        assert sub.parent is not None and sub.parent.name == "远航集团" and sub.parent.region_id != sub.region_id
        assert len({c.tier for c in s.scalars(select(Customer))}) == 3
        assert len({c.stage for c in s.scalars(select(Customer))}) == 7
        calendar = load_calendar(s, settings.org.holidays)
        days = sorted(d for (d,) in s.execute(select(DailyReport.day).where(DailyReport.team_id == teams["sh1"].id)
                                              .distinct()))
        assert len(days) == HISTORY_WORKDAYS and all(calendar.is_workday(d) for d in days)
        assert days[-1] < clock.now().date()
        assert all(r.key_actions and len(r.key_actions) == 3 for r in s.scalars(select(DailyReport).limit(20)))
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.without_permission.is_(True))) == 3
        assert {c.status for c in s.scalars(select(CollabRequest))} == {"pending", "approved", "rejected"}
        assert s.scalar(select(func.count()).select_from(FollowUp)) > 20


def _import(db: Database, folder: Path) -> None:
    for kind in ("regions", "teams", "users", "customers", "goals"):
        header, rows = read_table((folder / f"{kind}.csv").read_bytes())
        with db.unit_of_work() as s:
            import_rows(session=s, kind=kind, header=header, rows=rows, now=NOW)


def test_demo_coexists_with_the_example_organisation(settings: Settings, db: Database, clock: FixedClock) -> None:
    _import(db, EXAMPLES)
    before = _counts(db)
    run_demo(_app(settings, db, clock))
    after = _counts(db)
    assert after["people"] == before["people"] + 16 and after["customers"] == before["customers"] + 40
    with db.unit_of_work() as s:
        assert s.scalars(select(Person).where(Person.code == "zhao")).one().name == "赵磊"


def test_demo_never_changes_rows_it_did_not_create(settings: Settings, db: Database, clock: FixedClock) -> None:
    _import(db, DATA)  # shares team codes sh1/gz1 and customer 远航集团 with the demo
    run_demo(_app(settings, db, clock))
    with db.unit_of_work() as s:
        sh1 = s.scalars(select(Team).where(Team.code == "sh1")).one()
        assert sh1.region.code == "sh" and sh1.name == "上海一组"
        yh = s.scalars(select(Customer).where(Customer.name == "远航集团")).one()
        assert yh.region.code == "gz" and yh.owner is not None and yh.owner.code == "sun"
