"""Console pages: numbers that match the chat to the yuan, drill-downs, exports, bad input as 400 pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.types import Inbound, InboundKind
from bot.wiring import App
from models import DailyReport, Goal
from services.calendar import load_calendar
from services.goals import GoalScope, GoalTarget, parse_period, region_progress, team_progress, units_progress
from tests.support.org import Org


def _seed(db: Database, org: Org) -> None:
    with db.unit_of_work() as s:
        for code, day, amount in (("zhang", 20, "200000"), ("li", 20, "125000.55"), ("zhang", 18, "33333.33"),
                                  ("wang", 20, "90000")):
            team = "team:sh1" if code != "wang" else "team:gz1"
            s.add(DailyReport(person_id=org.ids[f"user:{code}"], team_id=org.ids[team], day=date(2026, 11, day),
                              signed_amount=Decimal(amount), visits=3, extra={},
                              submitted_at=datetime(2026, 11, day, 9, tzinfo=UTC)))
        s.add(Goal(scope="team", code="sh1", period="2026-11", metric="signed_amount", target=Decimal("1000000"),
                   floor=Decimal("800000")))
        s.add(Goal(scope="region", code="east", period="2026-11", metric="signed_amount",
                   target=Decimal("3000000")))


def test_overview_matches_goal_in_chat(app: App, db: Database, org: Org,
                                       sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    c = sign_in("mgr_east")
    page = c.get("/console/overview?period=2026-11")
    assert page.status_code == 200
    html = page.text
    # the same figures as /goal in chat, through the same formatter
    out = app.out  # type: ignore[attr-defined]
    start = out.tell()
    app.dispatch(Inbound("console", "g1", "mgr_east", InboundKind.COMMAND, text="/目标"))
    chat = out.getvalue()[start:]
    for figure in ("35.83万", "100万", "300万"):  # team actual 358,333.88; team and region targets
        assert figure in chat and figure in html, figure
    run_rate = re.search(r"每天需 ([0-9.]+万)", chat)
    assert run_rate and run_rate[1] in html
    csv = c.get("/console/overview?period=2026-11&format=csv").content.decode("utf-8-sig")
    assert "358333.88" in csv and "1000000.00" in csv and "华东" in csv
    assert "广州" not in csv and "wang" not in csv
    # a region with no goal of its own still shows what its teams did (上海 = 上海一组; 杭州 nothing)
    rows = [line.split(",") for line in csv.splitlines()]
    actual = rows[0].index("实际")
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["上海"][actual] == "358333.88" and by_name["杭州"][actual] in ("0", "0.00"), rows


def test_units_progress_equals_the_services(db: Database, org: Org, settings) -> None:  # noqa: ANN001
    _seed(db, org)
    day = date(2026, 11, 20)
    with db.unit_of_work() as s:
        from models import Region, Team

        calendar = load_calendar(s, "CN")
        team = s.get(Team, org.ids["team:sh1"])
        region = s.get(Region, org.ids["east"])
        targets = [GoalTarget(GoalScope.TEAM, team.code, team.name, team.id, team.region_id),
                   GoalTarget(GoalScope.REGION, region.code, region.name, region.id, region.id)]
        batch = units_progress(session=s, targets=targets, period=parse_period("2026-11"), day=day,
                               calendar=calendar)
        assert batch[("team", "sh1")] == team_progress(session=s, team=team, day=day, calendar=calendar)
        assert batch[("region", "east")] == region_progress(session=s, region=region, day=day, calendar=calendar)
        assert batch[("team", "sh1")][0].actual == Decimal("358333.88")
        # the overview hands it the forecast's team and region actuals instead of summing them again
        from services.forecast import forecast

        for when in (date(2026, 11, 17), day, date(2026, 11, 30)):
            outlook = forecast(session=s, unit=region, period=parse_period("2026-11"), metric="signed_amount",
                               day=when, calendar=calendar, settings=settings, people=False)
            known = {(n.scope, n.code): n.actual for n in outlook.nodes if n.scope != "user"}
            plain = units_progress(session=s, targets=targets, period=parse_period("2026-11"), day=when,
                                   calendar=calendar, metric="signed_amount")
            assert plain[("team", "sh1")] and plain[("region", "east")]
            assert units_progress(session=s, targets=targets, period=parse_period("2026-11"), day=when,
                                  calendar=calendar, metric="signed_amount", known=known) == plain, when
        # a tree of hundreds of teams reads the period's team goals at once rather than by codes: the same
        many = [*targets, *(GoalTarget(GoalScope.TEAM, f"t{i}", f"T{i}", 10_000 + i, region.id) for i in range(600))]
        wide = units_progress(session=s, targets=many, period=parse_period("2026-11"), day=day, calendar=calendar)
        assert wide[("team", "sh1")] == batch[("team", "sh1")] and wide[("region", "east")] == batch[("region", "east")]
        assert wide[("team", "t7")] == []


def test_person_page_reports_and_exports(db: Database, org: Org, sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    c = sign_in("zhang")
    page = c.get("/console/people/zhang?period=2026-11")
    assert page.status_code == 200 and "张伟" in page.text and "20万" in page.text
    assert 'lang="zh-CN"' in page.text
    xlsx = c.get("/console/people/zhang?period=2026-11&format=xlsx&table=reports")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]


def test_bad_input_gets_a_400_page_in_the_persons_language(sign_in: Callable[[str], TestClient]) -> None:
    c = sign_in("mgr_east")
    cases = {
        "/console/overview?period=2026-13": "2026-Q4",
        "/console/overview?period=someday": "2026-W49",
        "/console/overview?metric=profit": "signed_amount",
        "/console/overview?page=999999999": "页码",
        "/console/overview?page=-1": "页码",
        "/console/overview?format=pdf": "csv, xlsx",
        "/console/reports?day=2026-02-30": "YYYY-MM-DD",
        "/console/overview?region=east&team=sh1": "只能选一个",
    }
    for path, expected in cases.items():
        resp = c.get(path)
        assert resp.status_code == 400, path
        assert expected in resp.text and "Traceback" not in resp.text, path
    # a code that does not exist answers as one outside the scope does (404), naming it and the codes to use
    for path, kind in (("/console/overview?region=nope", "区域"), ("/console/overview?team=nope", "团队")):
        resp = c.get(path)
        assert resp.status_code == 404 and f"找不到代码为「nope」的{kind}" in resp.text, path
        assert "华东 (east)" in resp.text or "上海一组 (sh1)" in resp.text, path
        assert "华南" not in resp.text and "gz1" not in resp.text, path
    foreign = c.get("/console/overview?team=gz1")
    assert foreign.status_code == 404 and "找不到代码为「gz1」的团队" in foreign.text and "广州" not in foreign.text
    resp = c.get("/console/people/nobody")
    assert resp.status_code == 404 and "找不到代码为「nobody」的个人" in resp.text
    north = sign_in("mgr_north")
    resp = north.get("/console/overview?period=2026-13")
    assert resp.status_code == 400 and "Expected" in resp.text and 'lang="en"' in resp.text
    resp = north.get("/console/overview?region=nope")
    assert resp.status_code == 404 and 'no region with the code "nope"' in resp.text.replace("&#34;", '"')
    assert "North (north)" in resp.text


def test_reports_page_streaks(db: Database, org: Org, sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    c = sign_in("mgr_east")
    page = c.get("/console/reports?day=2026-11-20&team=sh1")
    assert page.status_code == 200 and "张伟" in page.text and "李娜" in page.text
    csv = c.get("/console/reports?day=2026-11-20&team=sh1&format=csv").content.decode("utf-8-sig")
    assert "按时" in csv and "王芳" not in csv


def test_reports_page_lists_sellers_only(db: Database, org: Org, sign_in: Callable[[str], TestClient]) -> None:
    """Contract section 8 in the console: sh1's manager is listed only in a month with a personal goal."""
    _seed(db, org)
    c = sign_in("mgr_east")
    csv = c.get("/console/reports?day=2026-11-20&team=sh1&format=csv").content.decode("utf-8-sig")
    assert "张伟" in csv and "陈经理" not in csv
    with db.unit_of_work() as s:
        s.add(Goal(scope="user", code="mgr_east", period="2026-Q4", metric="visits", target=Decimal(60)))
    csv = c.get("/console/reports?day=2026-11-20&team=sh1&format=csv").content.decode("utf-8-sig")
    assert "陈经理" in csv  # a player-coach: missing a report, like a rep
    csv = c.get("/console/reports?day=2027-01-05&team=sh1&format=csv").content.decode("utf-8-sig")
    assert "张伟" in csv and "陈经理" not in csv  # January is outside the goal's quarter


def test_several_top_regions_get_cards_of_their_sum(db: Database, org: Org,
                                                    sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    html = sign_in("admin").get("/console/overview?period=2026-11").text  # 华东, 华南 and North at the top
    cards = html.split('class="cards"')[1].split("</section>")[0]
    assert "我负责的全部区域" in html.split("</h1>")[0]
    assert "44.83万" in cards  # 华东 358,333.88 + 华南 90,000 (North reported nothing)
    assert "本期没有目标" in cards  # 华南 has no goal: no sum of goals is made up
    assert "300万" not in cards
    with db.unit_of_work() as s:
        s.add(Goal(scope="region", code="south", period="2026-11", metric="signed_amount", target=Decimal("500000")))
        s.add(Goal(scope="region", code="north", period="2026-11", metric="signed_amount", target=Decimal("200000")))
    cards = sign_in("admin").get("/console/overview?period=2026-11").text.split('class="cards"')[1]
    assert "目标 370万" in cards and ">12%" in cards, cards  # 448,333.88 of 3,000,000 + 500,000 + 200,000
    east = sign_in("mgr_east").get("/console/overview?period=2026-11").text  # one region: its own cards
    assert "我负责的全部区域" not in east.split("</h1>")[0] and "华东" in east.split("</h1>")[0]
