"""/goal through dispatch: show, set with permissions and validation, split (exact sums, history), apply."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import DailyReport, Goal, GoalProposal, Person, Team
from tests.support.chat import Chat
from tests.support.org import build_org


def _goals(db: Database) -> dict[tuple[str, str, str, str], Goal]:
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(Goal)))
        s.expunge_all()
    return {(g.scope, g.code, g.period, g.metric): g for g in rows}


def _proposal_id(out: str) -> str:
    match = re.search(r"!press goal_apply (\d+)", out)
    assert match, out
    return match[1]


def test_show_my_goals_and_manager_views(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("zhang", "日报 11-20\n签约：20万")
    out = chat.say("zhang", "/目标")
    assert "2026-11 目标进度" in out and "我的目标" in out
    assert "签约** 20万 / 目标 50万" in out and "40%" in out
    assert "保底 30万（67%） · 冲刺 80万（25%）" in out
    # today not yet reported: 6 workdays (23-27, 30 Nov), 300,000 / 6
    assert "还剩 6 个工作日，每天需 5万" in out
    assert "团队" not in out
    out = chat.say("mgr_east", "/目标")
    assert "团队：上海一组" in out and "区域：华东" in out and "本月还没有目标" in out


def test_set_goal_permissions(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("zhang", "/目标 设定 个人 li 2026-12 签约 50万")
    assert "不能为 李娜 (li) 设定目标" in out
    out = chat.say("mgr_south", "/goal set team sh1 2026-12 signed 500k")
    assert "不能为 上海一组 (sh1) 设定目标" in out
    assert _goals(db).keys() == {("user", "zhang", "2026-11", "signed_amount")}
    out = chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 50万 保底=30万 冲刺=80万")
    assert "已设定目标：李娜（li）2026-12" in out and "保底 30万" in out and "冲刺 80万" in out
    out = chat.say("mgr_east", "/目标 设定 区域 hz 2026-Q1 拜访 300")
    assert "杭州（hz）2026-Q1" in out and "目标 300" in out
    out = chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 60万")
    assert "已更新目标" in out
    out = chat.say("admin", "/goal set region north 2026 revenue 1.2亿 floor=1亿")
    assert "已设定目标：North（north）2026" in out
    goals = _goals(db)
    assert goals[("user", "li", "2026-12", "signed_amount")].target == Decimal("600000.00")
    assert goals[("user", "li", "2026-12", "signed_amount")].floor is None  # replaced whole
    assert goals[("region", "hz", "2026-Q1", "visits")].target == Decimal("300")
    assert goals[("region", "north", "2026", "signed_amount")].floor == Decimal("100000000.00")


def test_set_goal_validation(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    cases = {
        "/目标 设定 部门 sh1 2026-12 签约 50万": "范围「部门」不对",
        "/目标 设定 团队 nope 2026-12 签约 50万": "找不到代码为「nope」的团队",
        "/目标 设定 团队 sh1 2026-13 签约 50万": "周期「2026-13」不对",
        "/目标 设定 团队 sh1 2026-12 利润 50万": "没有「利润」这个指标",
        "/目标 设定 团队 sh1 2026-12 计划 50万": "「计划」是文字字段",
        "/目标 设定 团队 sh1 2026-12 签约 很多": "目标「很多」不是有效的金额",
        "/目标 设定 团队 sh1 2026-12 拜访 2.5": "目标「2.5」不是有效的正整数",
        "/目标 设定 团队 sh1 2026-12 签约 50万 保底=60万": "保底「60万」不能高于目标",
        "/目标 设定 团队 sh1 2026-12 签约 50万 冲刺=40万": "冲刺「40万」不能低于目标",
        "/目标 设定 团队 sh1 2026-12 签约 50万 颜色=红": "看不懂参数「颜色=红」",
        "/目标 设定 团队 sh1": "命令格式不对",
        "/目标 随便": "命令格式不对",
    }
    for text, expected in cases.items():
        assert expected in chat.say("admin", text), text
    assert "is not a period" in chat.say("mgr_north", "/goal set team n1 2026-Q5 visits 10")
    assert len(_goals(db)) == 1


def test_split_region_year_evenly_sums_exactly(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("mgr_east", "/目标 设定 区域 east 2026 签约 1000001 保底=700000")
    out = chat.say("mgr_east", "/目标 分解 区域 east 2026 签约 按=平均")
    assert "目标分解" in out and "按平均分配" in out and "按季度" in out and "按月" in out and "按下级" in out
    pid = _proposal_id(out)
    with db.unit_of_work() as s:
        payload = s.get(GoalProposal, int(pid)).payload  # type: ignore[union-attr]
    for section in payload["sections"]:
        assert sum(Decimal(r["target"]) for r in section["rows"]) == Decimal("1000001")
        assert sum(Decimal(r["floor"]) for r in section["rows"]) == Decimal("700000")
    kinds = {s["kind"]: len(s["rows"]) for s in payload["sections"]}
    assert kinds == {"quarters": 4, "months": 12, "members": 2}  # members: sub-regions hz and sh

    # someone else cannot apply it; the asker can, once
    assert "只有发起分解的人" in chat.press("mgr_south", "goal_apply", pid)
    assert ("quarter" not in str(_goals(db).keys())) and len(_goals(db)) == 2
    out = chat.press("mgr_east", "goal_apply", pid)
    assert "(updated)" in out and "目标分解已应用" in out and "已写入 18 个子目标" in out
    goals = _goals(db)
    assert goals[("region", "east", "2026-Q1", "signed_amount")].target in (Decimal("250000"), Decimal("250001"))
    assert sum(goals[("region", "east", f"2026-{m:02d}", "signed_amount")].target for m in range(1, 13)) == 1000001
    assert goals[("region", "hz", "2026", "signed_amount")].target + goals[
        ("region", "sh", "2026", "signed_amount")].target == 1000001
    assert "已经应用过" in chat.press("mgr_east", "goal_apply", pid)


def test_split_by_history_and_even_fallback(settings: Settings, db: Database, clock: FixedClock) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        # last November: zhang 300k, li 100k; mgr_east nothing
        for code, amount in (("zhang", 300000), ("li", 100000)):
            s.add(DailyReport(person_id=org.ids["user:" + code], team_id=org.ids["team:sh1"],
                              day=datetime(2025, 11, 10).date(), signed_amount=Decimal(amount), extra={},
                              submitted_at=datetime(2025, 11, 10, tzinfo=UTC)))
    chat = Chat(settings, db, clock)
    chat.say("mgr_east", "/目标 设定 团队 sh1 2026-12 签约 100万")
    chat.say("mgr_east", "/目标 设定 团队 sh1 2026-11 签约 100万")
    out = chat.say("mgr_east", "/目标 分解 团队 sh1 2026-11 签约")
    assert "按去年同期业绩分配" in out
    assert "张伟：75万" in out and "李娜：25万" in out and "（去年 30万）" in out
    assert "陈经理" not in out  # a manager without a personal goal gets no share
    out = chat.say("mgr_east", "/目标 分解 团队 sh1 2026-12 签约 按=历史")
    assert "去年同期没有数据，改为平均分配" in out
    pid = _proposal_id(out)
    chat.press("mgr_east", "goal_apply", pid)
    goals = _goals(db)
    parts = [goals[("user", c, "2026-12", "signed_amount")].target for c in ("zhang", "li")]
    assert parts == [Decimal(500000), Decimal(500000)]
    assert ("user", "mgr_east", "2026-12", "signed_amount") not in goals


def test_split_errors_and_permissions(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    assert "不能为" in chat.say("zhang", "/目标 分解 个人 zhang 2026-11 签约")
    assert "还没有这个目标" in chat.say("admin", "/目标 分解 团队 sh1 2026-12 签约")
    assert "没有可以分解的下级" in chat.say("admin", "/目标 分解 个人 zhang 2026-11 签约")
    assert "分解方式「随便」不对" in chat.say("admin", "/目标 分解 个人 zhang 2026-11 签约 按=随便")
    assert "找不到这个分解方案" in chat.press("admin", "goal_apply", "999")
    # a manager who lost the region before pressing is refused
    chat.say("mgr_east", "/目标 设定 个人 zhang 2026 签约 600万")
    pid = _proposal_id(chat.say("mgr_east", "/目标 分解 个人 zhang 2026 签约"))
    with db.unit_of_work() as s:
        mgr = s.scalar(select(Person).where(Person.code == "mgr_east"))
        assert mgr is not None
        mgr.managed.clear()
    out = chat.press("mgr_east", "goal_apply", pid)
    assert "不能为 张伟 (zhang) 设定目标" in out
    assert ("user", "zhang", "2026-Q1", "signed_amount") not in _goals(db)


def test_goal_split_on_slack_updates_the_message(database_url: str, db: Database, clock: FixedClock) -> None:
    from tests.support.chat import platform_settings

    build_org(db)
    chat = Chat(platform_settings(database_url), db, clock)
    chat.say("U_MEAST", "/goal set team sh1 2026-Q4 visits 90", platform="slack")
    chat.say("U_MEAST", "/goal split team sh1 2026-Q4 visits by=even", platform="slack")
    rows = chat.outbox("slack")
    split = next(r for r in rows if r.key.startswith("goal_split:"))
    assert split.payload["buttons"][0]["action_id"] == "goal_apply"
    chat.press("U_MEAST", "goal_apply", split.payload["buttons"][0]["value"], platform="slack")
    applied = next(r for r in chat.outbox("slack") if r.key.startswith("goal_applied:"))
    assert applied.update_of == split.key and "buttons" not in applied.payload
    with db.unit_of_work() as s:
        team = s.scalar(select(Team).where(Team.code == "sh1"))
        assert team is not None
    assert _goals(db)[("team", "sh1", "2026-10", "visits")].target == Decimal(30)
