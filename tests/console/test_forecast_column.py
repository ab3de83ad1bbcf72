"""The overview's forecast column is services.forecast's projection, for every unit of the tree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from html import escape

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.rendering import format_money
from bot.core.settings import Settings
from models import Person, Region, Team
from services.calendar import load_calendar
from services.forecast import assumptions, forecast
from services.goals import parse_period
from tests.console.test_pages import _seed
from tests.support.org import Org


def test_overview_shows_the_forecast(db: Database, org: Org, settings: Settings,
                                     sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    day = date(2026, 11, 23)  # the app's clock
    with db.unit_of_work() as s:
        calendar = load_calendar(s, "CN")
        east = forecast(session=s, unit=s.get(Region, org.ids["east"]), period=parse_period("2026-11"),
                        metric="signed_amount", day=day, calendar=calendar, settings=settings)
        team = forecast(session=s, unit=s.get(Team, org.ids["team:sh1"]), period=parse_period("2026-11"),
                        metric="signed_amount", day=day, calendar=calendar, settings=settings)
    sh1 = east.node("team", "sh1")
    zhang = team.node("user", "zhang")
    assert sh1 is not None and zhang is not None and sh1.projection > sh1.actual > 0
    c = sign_in("mgr_east")
    html = c.get("/console/overview?period=2026-11").text
    assert "月末预测" in html
    for node in (east.root, sh1):
        assert format_money(node.projection, "zh-CN") in html, node.key
    csv = c.get("/console/overview?period=2026-11&format=csv").content.decode("utf-8-sig")
    assert f"{sh1.projection:.2f}" in csv and f"{east.root.projection:.2f}" in csv
    # a team's page: the team and its people
    html = c.get("/console/overview?period=2026-11&team=sh1").text
    assert format_money(zhang.projection, "zh-CN") in html
    # another region's forecast is never computed into the page
    assert "广州" not in c.get("/console/overview?period=2026-11&format=csv").content.decode("utf-8-sig")


def _lines_in(lines: list[str], html: str) -> None:
    assert lines
    for line in lines:
        assert escape(line, quote=False) in html or escape(line) in html, line


def test_the_overview_says_how_its_forecast_is_made(db: Database, org: Org, settings: Settings,
                                                    sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    with db.unit_of_work() as s:
        east = forecast(session=s, unit=s.get(Region, org.ids["east"]), period=parse_period("2026-11"),
                        metric="signed_amount", day=date(2026, 11, 23), calendar=load_calendar(s, "CN"),
                        settings=settings, people=False)
        sh1 = forecast(session=s, unit=s.get(Team, org.ids["team:sh1"]), period=parse_period("2026-11"),
                       metric="signed_amount", day=date(2026, 11, 23), calendar=load_calendar(s, "CN"),
                       settings=settings)
    c = sign_in("mgr_east")
    html = c.get("/console/overview?period=2026-11&region=east").text
    assert "预测依据" in html
    _lines_in(assumptions(outlook=east, locale="zh-CN"), html)
    html = c.get("/console/overview?period=2026-11&team=sh1").text
    _lines_in(assumptions(outlook=sh1, locale="zh-CN", node=sh1.root), html)


def test_the_forecast_heading_follows_the_period(db: Database, org: Org, settings: Settings,
                                                 sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    c = sign_in("mgr_east")
    for period, heading in (("2026-11", "月末预测"), ("2026-11-20", "月末预测"), ("2026-Q4", "季末预测"),
                            ("2026", "年末预测"), ("2026-W47", "全周预测")):
        html = c.get(f"/console/overview?period={period}").text
        assert heading in html, period
        others = {"月末预测", "季末预测", "年末预测", "全周预测"} - {heading}
        assert not any(o in html for o in others), period
    # the quarter's figure is the quarter's projection, not the month's
    with db.unit_of_work() as s:
        quarter = forecast(session=s, unit=s.get(Region, org.ids["east"]), period=parse_period("2026-Q4"),
                           metric="signed_amount", day=date(2026, 11, 23), calendar=load_calendar(s, "CN"),
                           settings=settings, people=False)
    csv = c.get("/console/overview?period=2026-Q4&format=csv").content.decode("utf-8-sig")
    assert "季末预测" in csv.splitlines()[0].split(",")
    assert f"{quarter.root.projection:.2f}" in csv
    english = sign_in("mgr_north").get("/console/overview?period=2026-Q4").text
    assert "Quarter-end forecast" in english and "Month-end forecast" not in english
    assert "How the forecast is made" in english


def test_the_person_page_shows_their_forecast_and_its_assumptions(db: Database, org: Org, settings: Settings,
                                                                  sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    with db.unit_of_work() as s:
        zhang = s.scalar(select(Person).where(Person.code == "zhang"))
        month, quarter = (forecast(session=s, unit=zhang, period=parse_period(p), metric="signed_amount",
                                   day=date(2026, 11, 23), calendar=load_calendar(s, "CN"), settings=settings)
                          for p in ("2026-11", "2026-Q4"))
    assert month.root.projection > month.root.actual > 0
    assert quarter.root.projection != month.root.projection
    for who in ("zhang", "mgr_east"):  # the person, and their manager
        c = sign_in(who)
        html = c.get("/console/people/zhang?period=2026-11").text
        assert "月末预测" in html and format_money(month.root.projection, "zh-CN") in html
        _lines_in(assumptions(outlook=month, locale="zh-CN", node=month.root), html)
        html = c.get("/console/people/zhang?period=2026-Q4").text
        assert "季末预测" in html and "月末预测" not in html
        assert format_money(quarter.root.projection, "zh-CN") in html
    # the goals table carries the forecast of the goal's metric (zhang has a month goal for signed_amount)
    csv = sign_in("zhang").get("/console/people/zhang?period=2026-11&format=csv").content.decode("utf-8-sig")
    assert "月末预测" in csv.splitlines()[0].split(",") and f"{month.root.projection:.2f}" in csv
