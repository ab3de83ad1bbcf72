"""The console's figures are the chat's: the evening post and /goal, and the console's pages for the same day."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from httpx import Response
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.rendering import format_money
from bot.core.types import Inbound, InboundKind
from bot.wiring import App
from jobs.runner import run_job
from models import DailyReport, OutboxMessage
from tests.console.test_pages import _seed
from tests.support.org import Org

EVENING = date(2026, 11, 23)
TODAY = {"zhang": Decimal("123456.78")}  # an amount that needs its cents; 李娜 has not reported today


def _rows(resp: Response) -> list[list[str]]:
    assert resp.status_code == 200, resp.text[:300]
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))


def test_the_console_shows_the_evening_posts_figures(app: App, db: Database, org: Org,
                                                     sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    with db.unit_of_work() as s:
        for code, amount in TODAY.items():
            s.add(DailyReport(person_id=org.ids[f"user:{code}"], team_id=org.ids["team:sh1"], day=EVENING,
                              signed_amount=amount, visits=2, extra={},
                              submitted_at=datetime(2026, 11, 23, 9, tzinfo=UTC)))
    summary = run_job(db=db, settings=app.settings, clock=app.clock, name="evening", team_codes=["sh1"],
                      at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC), outbox=app.outbox)
    assert summary.ran
    with db.unit_of_work() as s:
        posts = [m.payload["text"] for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like(f"job:evening:sh1:{EVENING}:%")))]
    assert posts
    post = posts[0]
    c = sign_in("mgr_east")
    day = EVENING.isoformat()

    # each person's amount today: the post's line and the person page's report of that day, to the cent
    for code, name in (("zhang", "张伟"),):
        line = re.search(rf"\d+\. {name} (\S+)", post)
        assert line, post
        reports = _rows(c.get(f"/console/people/{code}?period={day}&format=csv&table=reports"))
        amount_col = reports[0].index("签约")
        row = next(r for r in reports[1:] if r[0] == day)
        assert Decimal(row[amount_col]) == TODAY[code]
        assert line[1] == format_money(Decimal(row[amount_col]), "zh-CN")

    # the team's month so far against its goal: the post's line and the overview's row for the team
    month = re.search(r"本月目标：(\S+) / (\S+)（(\d+)%）", post)
    assert month, post
    tree = _rows(c.get(f"/console/overview?team=sh1&period={day}&format=csv"))
    header, sh1 = tree[0], next(r for r in tree[1:] if r[0] == "上海一组")
    actual, target = Decimal(sh1[header.index("实际")]), Decimal(sh1[header.index("目标")])
    assert actual == Decimal("358333.88") + sum(TODAY.values())  # to the cent: the seeded month plus today
    assert (format_money(actual, "zh-CN"), format_money(target, "zh-CN")) == (month[1], month[2])
    assert round(Decimal(sh1[header.index("达成率")])) == int(month[3])

    # who has not reported: the post's names and the reports page's, and the overview's count
    missing = re.search(r"未交日报（(\d+)/(\d+)）：(.+)", post)
    assert missing and missing[3] == "李娜", post
    sheet = _rows(c.get(f"/console/reports?day={day}&team=sh1&format=csv"))
    state, name_col = sheet[0].index("状态"), sheet[0].index("人员")
    assert sorted(r[name_col] for r in sheet[1:] if r[state] == "未交") == sorted(missing[3].split("、"))
    html = c.get(f"/console/overview?team=sh1&period={day}").text
    sellers = int(missing[2])
    assert f">{sellers - int(missing[1])}/{sellers}</a>" in html


def test_a_persons_page_shows_their_goal_as_chat_does(app: App, db: Database, org: Org,
                                                      sign_in: Callable[[str], TestClient]) -> None:
    _seed(db, org)
    out = app.out  # type: ignore[attr-defined]
    start = out.tell()
    app.dispatch(Inbound("console", "goal-zhang", "zhang", InboundKind.COMMAND, text="/目标"))
    chat = out.getvalue()[start:]
    line = re.search(r"签约\*\* (\S+) / 目标 (\S+)\n.*?(\d+)%\n\s*保底 (\S+)（\d+%） · 冲刺 (\S+)（\d+%）\n"
                     r"\s*还剩 (\d+) 个工作日，每天需 (\S+)", chat, re.S)
    assert line, chat
    for who in ("zhang", "mgr_east"):
        goals = _rows(sign_in(who).get("/console/people/zhang?period=2026-11&format=csv"))
        header, row = goals[0], next(r for r in goals[1:] if r[0] == "签约")
        value = {label: row[header.index(label)] for label in ("实际", "目标", "保底", "冲刺", "达成率",
                                                                "每天需完成", "剩余工作日")}
        assert Decimal(value["实际"]) == Decimal("233333.33")  # the seeded 200,000 + 33,333.33, to the cent
        assert [format_money(Decimal(value[k]), "zh-CN") for k in ("实际", "目标", "保底", "冲刺")] == \
            [line[1], line[2], line[4], line[5]]
        assert round(Decimal(value["达成率"])) == int(line[3])
        assert int(value["剩余工作日"]) == int(line[6])
        assert format_money(Decimal(value["每天需完成"]), "zh-CN") == line[7]


def test_the_regions_ranking_is_each_sellers_month_wherever_filed(app: App, db: Database, org: Org,
                                                                  sign_in: Callable[[str], TestClient]) -> None:
    """The overview ranks a region's sellers by the forecast's sums of them (the same days): each is the
    seller's month up to the day, counted as plain sums of their reports count it, and every seller is there."""
    _seed(db, org)
    with db.unit_of_work() as s:  # one of 张伟's reports this month was filed in Guangzhou's team
        moved = s.scalars(select(DailyReport).where(DailyReport.person_id == org.ids["user:zhang"],
                                                    DailyReport.day >= date(2026, 11, 1))).first()
        assert moved is not None
        moved.team_id, moved.signed_amount = org.ids["team:gz1"], Decimal("1000.05")
    c = sign_in("mgr_east")
    ranking = _rows(c.get(f"/console/overview?region=east&period={EVENING}&format=csv&table=ranking"))[1:]
    with db.unit_of_work() as s:
        def month(code: str) -> Decimal:
            return sum((r.signed_amount or Decimal(0) for r in s.scalars(select(DailyReport).where(
                DailyReport.person_id == org.ids[f"user:{code}"], DailyReport.day >= date(2026, 11, 1),
                DailyReport.day <= EVENING, DailyReport.submitted_at.is_not(None)))), Decimal(0))

        expected = {"张伟": month("zhang"), "李娜": month("li")}
    assert {row[1]: Decimal(row[3]) for row in ranking} == expected
    assert expected["张伟"] > 0 and [row[1] for row in ranking] == sorted(expected, key=lambda n: -expected[n])
