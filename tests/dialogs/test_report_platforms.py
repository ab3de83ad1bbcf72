"""Reports and key actions from Slack and WeCom users: the modal, its submission, threads, outbox rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from models import DailyReport, OutboxMessage
from tests.support.chat import Chat, platform_settings
from tests.support.org import build_org


@pytest.fixture()
def chat(database_url: str, db: Database, clock: FixedClock) -> Chat:
    build_org(db)
    return Chat(platform_settings(database_url), db, clock)


def _report(db: Database, code_id: int | None = None) -> list[DailyReport]:
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(DailyReport)))
        s.expunge_all()
    return rows


def test_report_from_wecom_and_slack(chat: Chat, db: Database) -> None:
    chat.say("zhangwei", "日报\n拜访：3\n签约：12.5万", platform="wecom")
    [row] = chat.outbox("wecom")
    assert row.target_kind == "user" and row.target == "zhangwei"
    assert "签约：12.5万" in row.payload["text"] and "收到 2026-11-23 的日报" in row.payload["text"]
    assert chat.outbox("slack") == []  # the reply goes back where the report came from
    chat.say("U_ZHANG", "日报\n拜访：4\n签约：13万", platform="slack")
    [srow] = chat.outbox("slack")
    assert "已**更新**" in srow.payload["text"]
    [report] = _report(db)
    assert report.visits == 4 and report.signed_amount == Decimal("130000.00")


def test_slack_report_command_opens_a_modal(chat: Chat) -> None:
    chat.say("U_BOB", "/report", platform="slack", trigger_id="trig-1")
    [row] = chat.outbox("slack")
    assert row.target_kind == "trigger" and row.target == "trig-1"
    form = row.payload["form"]
    assert form["form_id"] == "report_form" and form["meta"] == "2026-11-22"  # Bob is in New York
    assert form["title"] == "Daily report 2026-11-22" and form["submit"] == "Submit"
    fields = {f["key"]: f for f in form["fields"]}
    assert fields["visits"]["label"] == "visits" and not fields["visits"]["multiline"]
    assert fields["plan"]["multiline"] and fields["blockers"]["multiline"]
    assert "whole number" in fields["visits"]["hint"]


def test_wecom_report_command_shows_the_template(chat: Chat) -> None:
    chat.say("zhangwei", "/日报", platform="wecom")
    [row] = chat.outbox("wecom")
    assert "form" not in row.payload and "日报\n拜访：" in row.payload["text"]


def test_modal_submission_bad_values_then_good(chat: Chat, db: Database) -> None:
    res = chat.form("U_ZHANG", "report_form", {"visits": "三", "signed_amount": "lots", "plan": "x"}, "2026-11-23")
    assert res.form_errors is not None
    assert "阿拉伯数字" in res.form_errors["visits"] and "`3`" in res.form_errors["visits"]
    assert "「签约」的金额「lots」看不懂" in res.form_errors["signed_amount"]
    assert set(res.form_errors) == {"visits", "signed_amount"}
    assert _report(db) == []
    res = chat.form("U_ZHANG", "report_form", {"visits": "3", "signed_amount": "12.5万", "plan": "拜访远航\n报价"},
                    "2026-11-23")
    assert res.form_errors is None
    [row] = _report(db)
    assert row.visits == 3 and row.signed_amount == Decimal("125000.00") and row.plan == "拜访远航\n报价"
    assert row.raw_text is not None and row.raw_text.startswith("日报 2026-11-23\n拜访：3")
    [reply] = chat.outbox("slack")
    assert reply.target_kind == "user" and "签约：12.5万" in reply.payload["text"]


def test_modal_for_a_day_too_old(chat: Chat, db: Database) -> None:
    res = chat.form("U_ZHANG", "report_form", {"visits": "3"}, "2026-10-01")
    assert res.form_errors is not None and "太早了" in res.form_errors["visits"]
    assert _report(db) == []


def test_key_actions_by_message(chat: Chat, db: Database) -> None:
    chat.say("zhangwei", "今日三件事\n1. 拜访远航集团\n2. 给新线索发方案\n3、跟进回款", platform="wecom")
    [row] = chat.outbox("wecom")
    assert "已记下 2026-11-23 的三件事" in row.payload["text"] and "3. 跟进回款" in row.payload["text"]
    chat.say("zhangwei", "日报\n拜访：2", platform="wecom")
    reply = chat.outbox("wecom")[-1].payload["text"]
    assert "今日三件事" in reply and "1. 拜访远航集团" in reply and "拜访：2" in reply
    [report] = _report(db)
    assert report.key_actions == ["拜访远航集团", "给新线索发方案", "跟进回款"] and report.visits == 2


def test_key_actions_in_the_morning_thread(chat: Chat, db: Database) -> None:
    with db.unit_of_work() as s:
        s.add(OutboxMessage(key="job:morning:sh1:2026-11-23:zhang:slack", platform="slack", target_kind="user",
                            target="U_ZHANG", payload={"text": "早"}, status="sent", ref_channel="D1",
                            ref_id="1700000000.000100"))
    chat.say("U_ZHANG", "- 见客户\n- 写方案", platform="slack", thread_ts="1700000000.000100")
    reply = chat.outbox("slack")[-1]
    assert "已记下" in reply.payload["text"] and "2. 写方案" in reply.payload["text"]
    [report] = _report(db)
    assert report.day == date(2026, 11, 23) and report.key_actions == ["见客户", "写方案"]
    assert report.submitted_at is None  # key actions alone are no report
    # a reply in some other thread is not taken as key actions
    chat.say("U_ZHANG", "好的", platform="slack", thread_ts="1699999999.000001")
    assert "没看懂" in chat.outbox("slack")[-1].payload["text"]
    chat.say("U_ZHANG", "today\n- call ACME", platform="slack")
    assert "已更新" in chat.outbox("slack")[-1].payload["text"]
