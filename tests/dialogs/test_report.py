"""Daily reports through dispatch: typed in zh and en, replaced, refused with reasons, admin fields."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import DailyReport, ReportField, UnreadReport
from tests.support.chat import Chat
from tests.support.org import build_org

GOOD_ZH = """日报
拜访：3
新线索: 2
签约：12.5万
回款：¥30,000
明日计划：拜访远航集团
  再约一次技术交流
问题：无"""


def _reports(db: Database) -> list[DailyReport]:
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(DailyReport).order_by(DailyReport.day)))
        s.expunge_all()
    return rows


def _unread(db: Database) -> list[UnreadReport]:
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(UnreadReport).order_by(UnreadReport.id)))
        s.expunge_all()
    return rows


def test_good_report_in_chinese(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("zhang", GOOD_ZH)
    assert "收到 2026-11-23 的日报" in out
    assert "签约：12.5万" in out and "回款：3万" in out and "拜访：3" in out
    assert "再约一次技术交流" in out
    # zhang's goal: 500,000 signed in November, floor 300,000, stretch 800,000
    assert "目标 50万" in out and "25%" in out and "保底 42%" in out and "冲刺 16%" in out
    # 5 workdays after today (24-30 Nov), today is reported: (500,000 - 125,000) / 5
    assert "还剩 5 个工作日，每天需 7.5万" in out
    [row] = _reports(db)
    assert row.day == date(2026, 11, 23) and row.visits == 3 and row.new_leads == 2
    assert row.signed_amount == Decimal("125000.00") and row.collected_amount == Decimal("30000.00")
    assert row.plan == "拜访远航集团\n再约一次技术交流"
    assert row.raw_text == GOOD_ZH and row.submitted_at is not None


def test_good_report_in_english(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("bob", "Daily report\nvisits: 4\nsigned: 125k\nplan: demo for ACME")
    # Bob's team is in New York: 2026-11-22 21:00 local
    assert "got your report for 2026-11-22" in out
    assert "signed: 125,000" in out and "visits: 4" in out and "demo for ACME" in out
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in out)
    [row] = _reports(db)
    assert row.day == date(2026, 11, 22) and row.signed_amount == Decimal("125000.00")


def test_resend_replaces_and_says_so(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("zhang", GOOD_ZH)
    out = chat.say("zhang", "日报\n拜访：5\n签约：20万")
    assert "已**更新**" in out and "替换" in out
    [row] = _reports(db)
    assert row.visits == 5 and row.signed_amount == Decimal("200000.00")
    assert row.new_leads is None and row.plan is None  # a resend replaces the whole report


def test_dated_reports(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    assert "2026-11-22 的日报" in chat.say("zhang", "日报 昨天\n拜访：1")
    assert "2026-11-20 的日报" in chat.say("zhang", "日报 11-20\n拜访：2")
    assert "2026-11-19 的日报" in chat.say("li", "daily report 2026-11-19\nvisits: 2")
    assert [(r.day, r.visits) for r in _reports(db)] == [
        (date(2026, 11, 19), 2), (date(2026, 11, 20), 2), (date(2026, 11, 22), 1)]


def test_future_and_too_old_dates_are_refused(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("zhang", "日报 2026-11-25\n拜访：1")
    assert "第 1 行" in out and "还没到" in out and "没有保存" in out
    out = chat.say("zhang", "日报 2026-11-01\n拜访：1")
    assert "太早了" in out and "最近 7 天" in out
    out = chat.say("bob", "daily report 2026-10-01\nvisits: 1")
    assert "line 1" in out and "too far back" in out and "last 7 days" in out
    assert _reports(db) == []
    assert len(_unread(db)) == 3


def test_every_error_is_named_and_nothing_is_stored(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("zhang", "日报\n拜访：2")
    out = chat.say("zhang", "日报\n拜访：三\n签约：很多\n拜仿：3\n新客户 2\n拜访：4\n商机：2.5\n随便写写")
    assert "第 2 行" in out and "阿拉伯数字" in out and "`3`" in out
    assert "第 3 行" in out and "「签约」的金额「很多」看不懂" in out and "12.5万" in out
    assert "第 4 行" in out and "不认识的字段「拜仿」" in out and "是不是「拜访」" in out
    assert "第 5 行" in out and "「新客户」后面要加冒号" in out
    assert "第 6 行" in out and "写了两次" in out
    assert "第 7 行" in out and "要填整数" in out
    assert "第 8 行" in out and "不是「字段：值」的格式" in out
    assert "例如" in out and "日报 2026-11-23" in out
    [row] = _reports(db)
    assert row.visits == 2  # the earlier report is untouched
    [unread] = _unread(db)
    assert "随便写写" in unread.raw_text
    assert [p["code"] for p in unread.problems] == [
        "chinese_numeral", "bad_money", "unknown_label", "no_separator", "duplicate_label", "bad_count",
        "no_separator"]


def test_errors_in_english(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("bob", "Daily report\nvisits: lots\nsigned: heaps\nfoo: 1")
    assert "not saved" in out
    assert 'line 2: "visits" needs a whole number' in out
    assert 'line 3: "signed": cannot read the amount "heaps"' in out
    assert 'line 4: unknown field "foo"' in out
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in out)
    out = chat.say("bob", "Daily report")
    assert "no fields yet" in out
    assert _reports(db) == []


def test_admin_field_is_stored_in_extra(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        s.add(ReportField(key="demos", type="count", labels_zh=["演示"], labels_en=["demos"], aliases=[]))
        s.add(ReportField(key="quotes", type="money", labels_zh=["报价"], labels_en=["quotes"], aliases=[]))
    chat = Chat(settings, db, clock)
    out = chat.say("zhang", "日报\n拜访：1\n演示：2\n报价：3万")
    assert "演示：2" in out and "报价：3万" in out
    [row] = _reports(db)
    assert row.extra == {"demos": 2, "quotes": "30000.00"}
    form = chat.say("zhang", "/日报")
    assert "演示：" in form and "报价：" in form


def test_report_command_shows_the_template(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    out = chat.say("zhang", "/日报")
    assert "日报\n拜访：\n新线索：" in out and "需要支持" not in out and "问题：" in out
    out = chat.say("bob", "/report")
    assert "Daily report\nvisits:\nnew leads:" in out
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(DailyReport)) == 0
