"""POST /dingtalk/callback (HTTP mode) with signed requests, against the fake DingTalk API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from models import DailyReport, InboundEvent, OutboxMessage
from tests.support.fake_dingtalk import DingtalkEnv, add_dingtalk_ids, dingtalk_env, robot_message
from tests.support.org import build_org

REPORT = "日报\n拜访：3\n新线索: 2\n签约：12.5万\n明日计划：回访远航集团"


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[DingtalkEnv]:
    build_org(db)
    add_dingtalk_ids(db)
    with dingtalk_env(db, clock, database_url) as e:
        yield e


def inbound_count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_a_signed_daily_report_is_stored_once_under_duplicate_delivery_and_answered(env: DingtalkEnv,
                                                                                     db: Database) -> None:
    for _ in range(3):  # DingTalk may deliver the same msgId more than once
        resp = env.say("dt_zhang", REPORT, "msgREPORT1")
        assert resp.status_code == 200
    assert inbound_count(db) == 1
    with db.unit_of_work() as s:
        reports = list(s.scalars(select(DailyReport)))
        assert len(reports) == 1 and reports[0].visits == 3
    sends = env.fake.calls_to("v1.0/robot/oToMessages/batchSend")
    assert len(sends) == 1
    body = sends[0].body
    assert body["userIds"] == ["dt_zhang"] and body["msgKey"] == "sampleMarkdown"
    assert body["robotCode"] == env.fake.client_id
    text = sends[0].param["text"]
    assert "12.5万" in text or "125,000" in text
    assert "|" not in text  # no tables on DingTalk
    assert len(env.fake.calls_to("v1.0/oauth2/accessToken")) == 1


def test_a_forged_or_stale_request_is_refused_and_nothing_stored(env: DingtalkEnv, db: Database) -> None:
    body = robot_message(sender="dt_zhang", text="/help", msg_id="msgFORGED", create_at_ms=env.now_ms())
    assert env.post(body, secret="not-the-secret").status_code == 401
    assert env.post(body, timestamp_ms=env.now_ms() - 400_000).status_code == 401
    assert env.post(body, timestamp_ms=env.now_ms() + 400_000).status_code == 401
    assert env.post(body, headers={"Content-Type": "application/json"}).status_code == 401
    assert env.post(body, headers={"timestamp": "abc", "sign": "x"}).status_code == 401
    assert inbound_count(db) == 0
    assert env.fake.calls == []
    # Within five minutes it is accepted.
    assert env.post(body, timestamp_ms=env.now_ms() - 290_000).status_code == 200
    assert inbound_count(db) == 1


def test_a_group_message_that_ats_the_bot_starts_with_a_space_and_is_a_command(env: DingtalkEnv) -> None:
    assert env.say("dt_li", "/帮助", "msgGROUP1", group="cidGROUPsh1").status_code == 200
    texts = env.fake.texts("dt_li")
    assert len(texts) == 1 and "/日报" in texts[0]


def test_a_stranger_is_told_they_are_not_in_the_organisation(env: DingtalkEnv, db: Database) -> None:
    assert env.say("dt_ghost", "你好", "msgGHOST").status_code == 200
    texts = env.fake.texts("dt_ghost")
    assert len(texts) == 1 and "dt_ghost" in texts[0]
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.person_id)) is None


def test_a_picture_gets_the_not_understood_reply(env: DingtalkEnv) -> None:
    body = robot_message(sender="dt_zhang", text="", msg_id="msgPIC", create_at_ms=env.now_ms())
    body.pop("text")
    body["msgtype"] = "picture"
    body["content"] = {"downloadCode": "abc"}
    assert env.post(body).status_code == 200
    assert len(env.fake.texts("dt_zhang")) == 1


def test_a_database_outage_answers_500_and_a_second_delivery_is_handled(env: DingtalkEnv, db: Database) -> None:
    env.app.db = Database("sqlite:////nonexistent-dir/x.db")
    env.app.dispatcher.db = env.app.db
    resp = env.say("dt_zhang", "/help", "msgDOWN")
    assert resp.status_code == 500 and "Traceback" not in resp.text
    env.app.db = env.app.dispatcher.db = db
    assert env.say("dt_zhang", "/help", "msgDOWN").status_code == 200
    assert len(env.fake.texts("dt_zhang")) == 1
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_the_console_link_arrives_as_a_dingtalk_message_to_the_asker_only(env: DingtalkEnv) -> None:
    assert env.say("dt_meast", "/看板", "msgCONSOLE", group="cidGROUPsh1").status_code == 200
    texts = env.fake.texts("dt_meast")
    assert len(texts) == 1 and "/console/login/" in texts[0]
    assert env.fake.to("cidGROUPsh1") == []  # never to the group it was asked in
