"""The overview's forecast column is services.forecast's projection, for every unit of the tree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.rendering import format_money
from bot.core.settings import Settings
from models import Region, Team
from services.calendar import load_calendar
from services.forecast import forecast
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
