"""Admins add, alias and rename report fields; a new field goes report -> reply -> form -> export."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import DailyReport, ReportField
from services.transfer import export_rows
from tests.support.chat import Chat
from tests.support.org import build_org


@pytest.fixture()
def chat(settings: Settings, db: Database, clock: FixedClock) -> Chat:
    build_org(db)
    return Chat(settings, db, clock)


def _field_rows(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(ReportField)) or 0


def test_list_shows_defaults(chat: Chat) -> None:
    text = chat.say("admin", "/字段 list")
    for key in ("visits", "new_leads", "signed_amount", "plan", "blockers"):
        assert f"`{key}`" in text
    assert "签约金额" in text and "金额" in text


def test_new_field_round_trip(chat: Chat, db: Database, clock: FixedClock) -> None:
    added = chat.say("admin", '/field add calls count zh:电话 en:calls "phone calls"')
    assert "已新增日报字段 `calls`" in added and "电话" in added and "phone calls" in added
    # a rep uses it in Chinese; the reply shows it
    reply = chat.say("zhang", "日报\n拜访：2\n电话：7\n签约：1万")
    assert "电话：7" in reply or "电话: 7" in reply
    # and in English
    chat.say("bob", "daily report\nvisits: 1\nphone calls: 4")
    with db.unit_of_work() as s:
        rows = {r.person.code: r for r in s.scalars(select(DailyReport))}
        assert rows["zhang"].extra.get("calls") == 7 and rows["zhang"].visits == 2
        assert rows["bob"].extra.get("calls") == 4
        columns, exported = export_rows(session=s, kind="reports", now=clock.now())
    assert "calls" in columns
    by_user = {r["user_code"]: r for r in exported}
    assert by_user["zhang"]["calls"] == 7 and by_user["bob"]["calls"] == 4
    assert by_user["zhang"]["signed_amount"] == Decimal("10000")


def test_new_money_field_is_in_the_slack_form(chat: Chat) -> None:
    chat.say("admin", "/field add deposit money 定金 deposit")
    chat.say("U_ZHANG", "/report", platform="slack", trigger_id="trig-9")
    [msg] = [m for m in chat.outbox("slack") if "form" in m.payload]
    keys = [f["key"] for f in msg.payload["form"]["fields"]]
    assert "deposit" in keys
    reply = chat.say("zhang", "日报\n定金：1.5万")
    assert "定金" in reply


def test_alias_and_rename_a_default_field(chat: Chat, db: Database) -> None:
    assert "已为字段添加别名" in chat.say("admin", "/field alias visits 见客户")
    reply = chat.say("zhang", "日报\n见客户：5")
    assert "5" in reply
    renamed = chat.say("admin", "/field rename visits 客户拜访")
    assert "**客户拜访**" in renamed
    reply = chat.say("zhang", "日报\n客户拜访：6")
    assert "客户拜访：6" in reply
    # the old label is still understood
    chat.say("zhang", "日报\n拜访：8")
    with db.unit_of_work() as s:
        assert s.scalar(select(DailyReport.visits)) == 8
    listing = chat.say("admin", "/field list")
    assert "客户拜访" in listing and "见客户" in listing
    # the rename was in the admin's locale (zh-CN): English keeps its label
    assert "visits: 4" in chat.say("bob", "daily report\nvisits: 4")


@pytest.mark.parametrize(("command", "expected"), [
    ("/field add Calls count 电话", "不是有效的键"),
    ("/field add c count 电话", "不是有效的键"),
    ("/field add visits count 来访", "已经有字段 `visits`"),
    ("/field add calls counts 电话", "不认识的类型 `counts`"),
    ("/field add calls count", "至少给一个标签"),
    ("/field add calls count 拜访", "已属于字段 `visits`"),
    ("/field add calls count zh:电话 en:Signed", "已属于字段 `signed_amount`"),
    ("/field add key_actions text 三件", "保留"),
    ("/field add calls count 日报电话", "不能作为标签"),
    ("/field add calls count 电:话", "不能作为标签"),
    ("/field alias nope 电话", "没有字段 `nope`"),
    ("/field alias visits 签约", "已属于字段 `signed_amount`"),
    ("/field alias visits 拜访量", "已经是 `visits` 的标签"),
    ("/field rename visits 回款", "已属于字段 `collected_amount`"),
    ("/field rename visits", "需要键和新标签"),
    ("/field frob", "不认识的子命令 `frob`"),
])
def test_bad_changes_are_refused_and_nothing_is_stored(chat: Chat, db: Database, command: str,
                                                      expected: str) -> None:
    reply = chat.say("admin", command)
    assert expected in reply and "未做任何修改" in reply
    assert _field_rows(db) == 0


def test_reps_and_managers_cannot_change_fields(chat: Chat, db: Database) -> None:
    for user in ("zhang", "mgr_east"):
        for command in ("/field list", "/field add calls count 电话", "/field alias visits 见客户",
                        "/field rename visits 客户拜访"):
            assert "没有权限" in chat.say(user, command)
    assert _field_rows(db) == 0


def test_english_admin_messages(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        from models import Person

        admin = s.scalar(select(Person).where(Person.code == "admin"))
        assert admin is not None
        admin.locale = "en"
    chat = Chat(settings, db, clock)
    assert "There is already a field `plan`" in chat.say("admin", "/field add plan text thoughts")
    renamed = chat.say("admin", "/field rename blockers obstacles")
    assert "**obstacles**" in renamed
    reply = chat.say("bob", "daily report\nvisits: 1\nobstacles: customer on holiday")
    assert "obstacles: customer on holiday" in reply
