"""The period-end forecast (services/forecast.py) on the real database, against hand-computed figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bot.core.db import Database
from bot.core.settings import Settings
from models import Customer, DailyReport, Goal, Person, Region, ReportField, Team
from services.calendar import WorkCalendar
from services.forecast import assumptions, forecast
from services.goals import metric_totals, parse_period, person_progress, region_progress, team_progress
from tests.conftest import make_settings
from tests.support.org import build_org

NOW = datetime(2025, 10, 15, 10, tzinfo=UTC)
CAL = WorkCalendar("CN")
OCT = parse_period("2025-10")  # 1-8 Oct off (National Day), Sat 11 Oct a make-up workday: 18 workdays
Q4 = parse_period("2025-Q4")  # 18 + 20 (Nov) + 23 (Dec) = 61 workdays


def _report(s, person: str, day: date, team: str | None = None, **values: object) -> None:  # type: ignore[no-untyped-def]
    p = s.query(Person).filter_by(code=person).one()
    team_id = s.query(Team).filter_by(code=team).one().id if team else p.team_id
    s.add(DailyReport(person_id=p.id, team_id=team_id, day=day, extra=values.pop("extra", {}), submitted_at=NOW,
                      **values))


def _customer(s, name: str, owner: str, stage: str, signed_on: date | None = None) -> None:  # type: ignore[no-untyped-def]
    p = s.query(Person).filter_by(code=owner).one()
    region_id = s.query(Team).filter_by(id=p.team_id).one().region_id
    s.add(Customer(name=name, name_key=name, region_id=region_id, owner_id=p.id, stage=stage, signed_on=signed_on))


def _unit(s, model, code: str):  # type: ignore[no-untyped-def]
    return s.query(model).filter_by(code=code).one()


def test_calendar_of_the_case() -> None:
    days = CAL.workdays(OCT.start, OCT.end)
    assert len(days) == 18 and date(2025, 10, 11) in days and date(2025, 10, 8) not in days
    assert len(CAL.workdays(Q4.start, Q4.end)) == 61


def test_run_rate_straight_line_over_workdays_with_a_holiday_and_a_make_up_day(db: Database,
                                                                                 settings: Settings) -> None:
    """Visits are a count: the straight line actual / workdays gone * workdays, by hand."""
    build_org(db)
    with db.unit_of_work() as s:
        # a report on a holiday counts in the actual but the holiday is no workday
        _report(s, "zhang", date(2025, 10, 3), visits=2)
        _report(s, "zhang", date(2025, 10, 11), visits=4)  # the make-up Saturday
        _report(s, "zhang", date(2025, 10, 14), visits=6)
        _report(s, "li", date(2025, 10, 15), visits=9)
        s.flush()
        zhang, li = _unit(s, Person, "zhang"), _unit(s, Person, "li")
        day = date(2025, 10, 15)
        # zhang has not reported today: gone = 9, 10, 11, 13, 14 Oct = 5 workdays, 13 left
        z = forecast(session=s, unit=zhang, period=OCT, metric="visits", day=day, calendar=CAL,
                     settings=settings).root
        assert (z.actual, z.workdays, z.workdays_gone, z.workdays_left) == (12, 18, 5, 13)
        assert z.run_rate == Decimal("2.40") and z.run_rate_projection == Decimal("43.20")  # 12 * 18 / 5
        assert z.projection == z.run_rate_projection and z.pipeline_part == 0  # a count: no pipeline
        # li has: today is gone (6 workdays), 9 * 18 / 6 = 27
        li_f = forecast(session=s, unit=li, period=OCT, metric="visits", day=day, calendar=CAL,
                        settings=settings).root
        assert (li_f.workdays_gone, li_f.run_rate_projection, li_f.projection) == (6, Decimal(27), Decimal(27))
        # the team adds up its people's straight lines, each over their own workdays gone
        team = forecast(session=s, unit=_unit(s, Team, "sh1"), period=OCT, metric="visits", day=day,
                        calendar=CAL, settings=settings)
        assert team.root.actual == 21 and team.root.projection == Decimal("70.20")
        assert team.root.workdays_left == 13  # a team's today counts as left, as in /goal
        # a money metric with no customer signed anywhere: the straight line too, and it says so
        _report(s, "zhang", date(2025, 10, 13), signed_amount=Decimal(50000))
        s.flush()
        money = forecast(session=s, unit=zhang, period=OCT, metric="signed_amount", day=day, calendar=CAL,
                         settings=settings)
        assert not money.uses_pipeline and money.root.projection == Decimal(180000)  # 50,000 * 18 / 5
        assert any("无法估算商机价值" in line for line in assumptions(outlook=money, locale="zh-CN"))


def _pipeline_org(db: Database) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        # zhang: 3 customers signed in the look-back window, 300,000 signed in it: 100,000 a won deal
        for i, d in enumerate((date(2025, 8, 20), date(2025, 9, 10), date(2025, 9, 25))):
            _customer(s, f"won{i}", "zhang", "after_sale" if i == 0 else "signed", signed_on=d)
        _report(s, "zhang", date(2025, 8, 20), signed_amount=Decimal(120000))
        _report(s, "zhang", date(2025, 9, 10), signed_amount=Decimal(80000))
        _report(s, "zhang", date(2025, 10, 13), signed_amount=Decimal(100000))
        _report(s, "zhang", date(2025, 5, 1), signed_amount=Decimal(999999))  # before the window
        _customer(s, "won_long_ago", "zhang", "signed", signed_on=date(2025, 5, 1))  # before the window
        # zhang's open pipeline: 2 needs, 1 proposal, 1 negotiation, a lead; a lost and a signed one are not open
        for name, stage in (("n1", "needs"), ("n2", "needs"), ("p1", "proposal"), ("g1", "negotiation"),
                            ("l1", "lead"), ("x1", "lost")):
            _customer(s, name, "zhang", stage)
        # li: one won deal of her own (too few), an open negotiation: valued at the team's average
        _customer(s, "li_won", "li", "signed", signed_on=date(2025, 9, 30))
        _report(s, "li", date(2025, 9, 30), signed_amount=Decimal(60000))
        _customer(s, "li_neg", "li", "negotiation")
        _report(s, "li", date(2025, 10, 15), signed_amount=Decimal(30000))
        # wang (south, gz1): no won deal in his team: valued at the organisation's average
        _customer(s, "wang_prop", "wang", "proposal")


def test_pipeline_part_with_given_weights(db: Database, database_url: str) -> None:
    settings = make_settings(database_url, forecast={
        "stage_weights": {"lead": 0, "needs": 0.2, "proposal": 0.5, "negotiation": 0.8},
        "pipeline_workdays": 10, "lookback_days": 90, "min_deals": 3})
    _pipeline_org(db)
    with db.unit_of_work() as s:
        day = date(2025, 10, 15)
        outlook = forecast(session=s, unit=_unit(s, Region, "east"), period=OCT, metric="signed_amount", day=day,
                           calendar=CAL, settings=settings)
        assert outlook.uses_pipeline
        z = outlook.node("user", "zhang")
        assert z is not None
        # window 18 Jul - 15 Oct: 120,000 + 80,000 + 100,000 over 3 won deals
        assert (z.deal_value, z.deal_basis, z.won_deals) == (Decimal(100000), "person", 3)
        assert z.open_by_stage == {"lead": 1, "needs": 2, "proposal": 1, "negotiation": 1}
        # weighted: 2 * 0.2 + 1 * 0.5 + 1 * 0.8 = 1.7 opportunities of 100,000
        assert z.pipeline_value == Decimal(170000)
        # 5 workdays gone (not reported today), 13 left, 18 in all:
        # run-rate part = 13 * 100,000 / 18; pipeline part = 13 * (13/18) * 170,000 / 10
        assert z.run_rate_part == Decimal("72222.22")
        assert z.pipeline_part == Decimal("159611.11")
        assert z.projection == Decimal("331833.33")
        assert z.run_rate_projection == Decimal(360000)  # the straight line: 100,000 * 18 / 5
        # li: 1 customer marked signed but 2 reports with a signed amount: 2 deals, too few of her own;
        # the team sh1 has 5 (zhang 3 + li 2) for 300,000 + 60,000 + 30,000: 78,000 each
        li = outlook.node("user", "li")
        assert li is not None and (li.deal_value, li.deal_basis, li.won_deals) == (Decimal(78000), "team", 5)
        # li reported today: 6 gone, 12 left; pipeline 0.8 * 78,000 = 62,400; 12 * 12/18 * 62,400 / 10
        assert li.pipeline_value == Decimal(62400) and li.pipeline_part == Decimal(49920)
        assert li.run_rate_part == Decimal(20000)  # 12 * 30,000 / 18
        # every line of the assumptions is there, in both languages
        for locale, word in (("zh-CN", "商务谈判 80%"), ("en", "negotiation 80%")):
            lines = assumptions(outlook=outlook, locale=locale, node=z)
            assert any(word in line for line in lines), lines
            assert any("10" in line for line in lines)
        team_lines = assumptions(outlook=outlook, locale="en", node=li)
        assert any("the team's 5" in line for line in team_lines), team_lines
        south = forecast(session=s, unit=_unit(s, Region, "south"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings)
        wang = south.node("user", "wang")
        # no deal in gz1: everyone's 5 deals (zhang 3, li 2) and the whole organisation's amounts
        assert wang is not None and (wang.deal_basis, wang.won_deals) == ("organisation", 5)
        assert wang.deal_value == Decimal(78000)  # (120,000 + 80,000 + 100,000 + 60,000 + 30,000) / 5
        # the same person forecast alone values the same way (the team's and everyone's figures queried)
        alone = forecast(session=s, unit=_unit(s, Person, "li"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings).root
        assert (alone.deal_value, alone.deal_basis, alone.won_deals, alone.projection) == (
            li.deal_value, li.deal_basis, li.won_deals, li.projection)
        alone = forecast(session=s, unit=_unit(s, Person, "wang"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings).root
        assert (alone.deal_value, alone.deal_basis, alone.won_deals) == (Decimal(78000), "organisation", 5)


def test_roll_up_person_team_region(db: Database, database_url: str) -> None:
    settings = make_settings(database_url, forecast={"pipeline_workdays": 10})
    _pipeline_org(db)
    with db.unit_of_work() as s:
        # a manager's report in sh1 counts for the team; bob reports in the north
        _report(s, "mgr_east", date(2025, 10, 10), signed_amount=Decimal(40000))
        _report(s, "bob", date(2025, 10, 9), signed_amount=Decimal(20000))
        s.flush()
        day = date(2025, 10, 15)
        top = Region(code="all", name="All")
        s.add(top)
        s.flush()
        for code in ("east", "south", "north"):
            _unit(s, Region, code).parent_id = top.id
        s.flush()
        outlook = forecast(session=s, unit=top, period=OCT, metric="signed_amount", day=day, calendar=CAL,
                           settings=settings)
        keys = [n.key for n in outlook.nodes]
        assert keys[0] == "region:all" and keys.index("region:east") < keys.index("region:sh") \
            < keys.index("team:sh1") < keys.index("user:zhang")
        at = keys.index("team:sh1")  # a team, then its sellers (by code), then the next unit
        assert keys[at:at + 3] == ["team:sh1", "user:li", "user:zhang"]
        assert "user:mgr_east" not in keys  # a manager without a personal goal is no seller (contract 8)
        assert keys.index("region:hz") < keys.index("region:sh")  # sub-regions by code
        assert "user:admin" not in keys  # an admin is nobody's seller
        for parent in outlook.nodes:
            kids = outlook.children(parent)
            if parent.scope == "region":
                fields = ("actual", "run_rate_projection", "run_rate_part", "pipeline_part", "projection",
                          "pipeline_value")
                for name in fields:
                    total = sum((getattr(k, name) for k in kids if k.scope != "user"), Decimal(0))
                    assert abs(getattr(parent, name) - total) <= Decimal("0.05"), (parent.key, name)
            elif parent.scope == "team":
                # a team's pipeline is its people's; its actual is every report filed in it
                assert parent.pipeline_part == sum((k.pipeline_part for k in kids), Decimal(0))
                for stage in parent.open_by_stage:
                    assert parent.open_by_stage[stage] == sum(k.open_by_stage[stage] for k in kids)
        sh1 = outlook.node("team", "sh1")
        assert sh1 is not None and sh1.actual == 170000  # zhang 100,000 + li 30,000 + mgr_east 40,000
        # ... whose reports in the team still count, and carry on at his rate (he is still in the team)
        sellers_line = sum((k.run_rate_projection for k in outlook.children(sh1)), Decimal(0))
        assert sh1.run_rate_projection == sellers_line + Decimal(40000) * 18 / 5
        s.add(Goal(scope="user", code="mgr_east", period="2025-Q4", metric="visits", target=Decimal(10)))
        s.flush()
        coach = forecast(session=s, unit=top, period=OCT, metric="signed_amount", day=day, calendar=CAL,
                         settings=settings)
        assert coach.node("user", "mgr_east") is not None  # a player-coach is a seller
        east, total = outlook.node("region", "east"), outlook.root
        assert east is not None and east.actual == 170000 and total.actual == 190000
        # the same unit forecast on its own gives the same figures as inside the tree
        alone = forecast(session=s, unit=_unit(s, Team, "sh1"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings).root
        assert (alone.actual, alone.projection, alone.pipeline_part) == (sh1.actual, sh1.projection,
                                                                         sh1.pipeline_part)
        zhang = forecast(session=s, unit=_unit(s, Person, "zhang"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings).root
        # without the people's nodes, the same teams and regions
        lean = forecast(session=s, unit=top, period=OCT, metric="signed_amount", day=day, calendar=CAL,
                        settings=settings, people=False)
        assert lean.nodes == [n for n in outlook.nodes if n.scope != "user"]
        # and each listed seller's actual, which the console's ranking reuses (the player-coach is one now)
        people = [n for n in coach.nodes if n.scope == "user"]
        assert "mgr_east" in {n.code for n in people}
        assert {_unit(s, Person, n.code).id: n.actual for n in people} == lean.seller_actuals
        inside = outlook.node("user", "zhang")
        assert inside is not None and zhang.parent is None and inside.parent == "team:sh1"
        assert replace(zhang, parent=inside.parent) == inside


def test_a_person_who_moved_counts_for_each_team_as_goals_do(db: Database, settings: Settings) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        _report(s, "wang", date(2025, 10, 9), team="sh1", signed_amount=Decimal(10000))  # filed in sh1
        _report(s, "wang", date(2025, 10, 14), signed_amount=Decimal(20000))  # then in gz1
        s.flush()
        day = date(2025, 10, 15)
        sh1 = forecast(session=s, unit=_unit(s, Team, "sh1"), period=OCT, metric="signed_amount", day=day,
                       calendar=CAL, settings=settings).root
        assert sh1.actual == 10000 and sh1.projection == 10000  # no longer his team: done, no more to come
        south = forecast(session=s, unit=_unit(s, Region, "south"), period=OCT, metric="signed_amount", day=day,
                         calendar=CAL, settings=settings)
        wang = south.node("user", "wang")
        assert wang is not None and wang.actual == 30000  # a person's actual is all their reports
        assert south.root.actual == 20000  # a region's is what was filed in its teams


def test_empty_month_and_no_goal(db: Database, settings: Settings) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        outlook = forecast(session=s, unit=_unit(s, Region, "north"), period=OCT, metric="signed_amount",
                           day=date(2025, 10, 15), calendar=CAL, settings=settings)
        for n in outlook.nodes:
            assert (n.actual, n.projection, n.run_rate_projection, n.pipeline_part) == (0, 0, 0, 0)
            assert n.target is None and n.pct_target is None
        bob = outlook.node("user", "bob")
        assert bob is not None and bob.run_rate == 0 and bob.deal_basis == ""
        # before the month starts: nothing done, no rate, every workday left
        early = forecast(session=s, unit=_unit(s, Person, "bob"), period=OCT, metric="visits",
                         day=date(2025, 9, 20), calendar=CAL, settings=settings).root
        assert (early.workdays_gone, early.workdays_left, early.run_rate, early.projection) == (0, 18, None, 0)
        for locale in ("zh-CN", "en"):
            lines = assumptions(outlook=outlook, locale=locale)
            assert len(lines) >= 3 and all("{" not in line for line in lines)
        with pytest.raises(ValueError):
            forecast(session=s, unit=_unit(s, Person, "bob"), period=OCT, metric="plan", day=date(2025, 10, 15),
                     calendar=CAL, settings=settings)


def test_goal_and_pct_and_a_person_without_one(db: Database, settings: Settings) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        s.add(Goal(scope="user", code="zhang", period="2025-10", metric="visits", target=Decimal(60),
                   floor=Decimal(40), stretch=Decimal(80)))
        _report(s, "zhang", date(2025, 10, 14), visits=10)
        _report(s, "li", date(2025, 10, 14), visits=5)
        s.flush()
        outlook = forecast(session=s, unit=_unit(s, Team, "sh1"), period=OCT, metric="visits",
                           day=date(2025, 10, 15), calendar=CAL, settings=settings)
        zhang, li = outlook.node("user", "zhang"), outlook.node("user", "li")
        assert zhang is not None and (zhang.target, zhang.floor, zhang.stretch) == (60, 40, 80)
        assert zhang.projection == 36 and zhang.pct_target == Decimal("60.0")  # 10 * 18 / 5 = 36 of 60
        assert li is not None and li.target is None and li.pct_target is None and li.projection == 18


def test_quarter_end_projection(db: Database, settings: Settings) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        _report(s, "zhang", date(2025, 10, 20), signed_amount=Decimal(36000))
        _report(s, "zhang", date(2025, 11, 17), signed_amount=Decimal(22000), visits=4)
        s.flush()
        zhang = _unit(s, Person, "zhang")
        day = date(2025, 11, 17)  # reported today
        gone = len(CAL.workdays(date(2025, 10, 1), day))
        assert gone == 29  # 18 in October, 11 in November up to the 17th
        q = forecast(session=s, unit=zhang, period=Q4, metric="signed_amount", day=day, calendar=CAL,
                     settings=settings).root
        assert (q.workdays, q.workdays_gone, q.workdays_left) == (61, 29, 32)
        assert q.actual == 58000 and q.projection == Decimal(122000)  # 58,000 * 61 / 29
        month = forecast(session=s, unit=zhang, period=parse_period("2025-11"), metric="signed_amount", day=day,
                         calendar=CAL, settings=settings).root
        assert month.actual == 22000 and month.projection == Decimal(40000)  # 22,000 * 20 / 11
        # a past quarter as of later: nothing left, the forecast is the actual
        past = forecast(session=s, unit=zhang, period=Q4, metric="signed_amount", day=date(2026, 2, 1),
                        calendar=CAL, settings=settings).root
        assert (past.workdays_left, past.projection, past.run_rate_projection) == (0, 58000, 58000)


def test_actual_equals_goal_progress(db: Database, settings: Settings) -> None:
    """The forecast's actual is /goal's actual to the yuan, for a person, a team and a region."""
    build_org(db)
    with db.unit_of_work() as s:
        for i, (who, amount) in enumerate((("zhang", "12345.67"), ("li", "800.5"), ("zhang", "99.99"),
                                           ("wang", "5000"), ("mgr_east", "250.25"))):
            _report(s, who, date(2025, 10, 9 + i), signed_amount=Decimal(amount))
        _report(s, "li", date(2025, 9, 30), signed_amount=Decimal(777))  # last month
        s.add(DailyReport(person_id=_unit(s, Person, "zhang").id, team_id=_unit(s, Team, "sh1").id,
                          day=date(2025, 10, 14), signed_amount=Decimal(1), extra={}))  # not submitted
        for code, scope in (("zhang", "user"), ("sh1", "team"), ("east", "region")):
            s.add(Goal(scope=scope, code=code, period="2025-10", metric="signed_amount", target=Decimal(100000)))
        s.flush()
        day = date(2025, 10, 15)
        zhang, sh1, east = _unit(s, Person, "zhang"), _unit(s, Team, "sh1"), _unit(s, Region, "east")
        outlook = forecast(session=s, unit=east, period=OCT, metric="signed_amount", day=day, calendar=CAL,
                           settings=settings)
        [p] = person_progress(session=s, person=zhang, day=day, calendar=CAL)
        [t] = team_progress(session=s, team=sh1, day=day, calendar=CAL)
        [r] = region_progress(session=s, region=east, day=day, calendar=CAL)
        node = outlook.node("user", "zhang")
        assert node is not None and node.actual == p.actual == Decimal("12445.66")
        assert node.workdays_left == p.remaining_workdays
        team_node = outlook.node("team", "sh1")
        assert team_node is not None and team_node.actual == t.actual == Decimal("13496.41")
        assert team_node.workdays_left == t.remaining_workdays
        assert outlook.root.actual == r.actual and outlook.root.workdays_left == r.remaining_workdays
        q = forecast(session=s, unit=zhang, period=Q4, metric="signed_amount", day=day, calendar=CAL,
                     settings=settings).root
        assert q.actual == metric_totals(session=s, person_ids=[zhang.id], metric="signed_amount",
                                         start=Q4.start, end=day)[zhang.id]


def test_a_field_an_admin_added(db: Database, settings: Settings) -> None:
    """A count field kept in the reports' JSON is projected like a column."""
    build_org(db)
    with db.unit_of_work() as s:
        s.add(ReportField(key="demos", type="count", labels_zh=["演示"], labels_en=["demos"], aliases=[]))
        _report(s, "zhang", date(2025, 10, 13), extra={"demos": 3})
        _report(s, "zhang", date(2025, 10, 15), extra={"demos": 3})
        _report(s, "zhang", date(2025, 9, 30), extra={"demos": 50})  # last month
        s.flush()
        outlook = forecast(session=s, unit=_unit(s, Person, "zhang"), period=OCT, metric="demos",
                           day=date(2025, 10, 15), calendar=CAL, settings=settings)
        assert outlook.kind == "count" and outlook.labels == {"zh-CN": "演示", "en": "demos"}
        assert outlook.root.actual == 6 and outlook.root.projection == 18  # 6 * 18 / 6
        assert any("演示是数量" in line for line in assumptions(outlook=outlook, locale="zh-CN"))
