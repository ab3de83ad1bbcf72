"""POST /feishu/events with real encrypted, signed events, against the fake Feishu API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.platforms.feishu.convert import message_text
from bot.platforms.feishu.crypto import decrypt
from models import DailyReport, InboundEvent, OutboxMessage
from tests.support.fake_feishu import FeishuEnv, add_feishu_ids, card_text, feishu_env
from tests.support.feishu_events import (
    ENCRYPT_KEY,
    SAMPLE_ENCRYPTED,
    SAMPLE_KEY,
    SAMPLE_PLAIN,
    VERIFICATION_TOKEN,
    encrypt,
    message_event,
    signed_request,
)
from tests.support.org import build_org


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[FeishuEnv]:
    org = build_org(db)
    add_feishu_ids(db, org)
    with feishu_env(db, clock, database_url) as e:
        yield e


def inbound_count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_our_decryption_reads_feishus_documented_sample() -> None:
    assert decrypt(SAMPLE_ENCRYPTED, SAMPLE_KEY) == SAMPLE_PLAIN
    assert decrypt(encrypt(SAMPLE_PLAIN, SAMPLE_KEY), SAMPLE_KEY) == SAMPLE_PLAIN
    with pytest.raises(ValueError):
        decrypt(encrypt(SAMPLE_PLAIN, SAMPLE_KEY), "another key")


def test_the_url_check_answers_the_challenge(env: FeishuEnv) -> None:
    check = {"challenge": "ajls384kdjx98XX", "token": VERIFICATION_TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": encrypt(json.dumps(check), ENCRYPT_KEY)})
    resp = env.http.post("/feishu/events", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.json() == {"challenge": "ajls384kdjx98XX"}
    wrong = {"challenge": "x", "token": "not-the-token", "type": "url_verification"}
    body = json.dumps({"encrypt": encrypt(json.dumps(wrong), ENCRYPT_KEY)})
    assert env.http.post("/feishu/events", content=body).status_code == 401


def test_a_daily_report_is_stored_once_under_duplicate_delivery_and_answered(env: FeishuEnv, db: Database) -> None:
    text = "日报\n拜访: 3\n签约: 12.5万\n明日计划: 拜访远航集团"
    # Feishu re-pushes a message (even after a 200) with a new event_id and a new signature.
    for n in range(3):
        event = message_event("ou_zhang", text, message_id="om_report_1", event_id=f"ev_{n}",
                              create_ms=env.now_ts() * 1000)
        resp = env.post_event(event, nonce=f"nonce{n}")
        assert resp.status_code == 200 and resp.json() == {}
    assert inbound_count(db) == 1
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(DailyReport)) == 1
    replies = env.fake.to("ou_zhang")
    assert len(replies) == 1
    sent = env.fake.calls_to("im/v1/messages")[0]
    assert sent.query == {"receive_id_type": "open_id"} and sent.body["msg_type"] == "interactive"
    assert len(sent.body["uuid"]) <= 50
    assert "收到" in card_text(replies[0].content) and "签约：12.5万" in card_text(replies[0].content)


@pytest.mark.parametrize("how", ["bad_signature", "stale", "future", "wrong_key", "wrong_token", "unencrypted"])
def test_a_forged_or_stale_event_is_refused_and_nothing_is_stored(env: FeishuEnv, db: Database, how: str) -> None:
    event = message_event("ou_zhang", "/help", message_id=f"om_{how}",
                          token="forged" if how == "wrong_token" else VERIFICATION_TOKEN)
    ts = {"stale": env.now_ts() - 400, "future": env.now_ts() + 400}.get(how, env.now_ts())
    body, headers = signed_request(event, timestamp=ts, bad_signature=how == "bad_signature",
                                   key="another key" if how == "wrong_key" else ENCRYPT_KEY,
                                   encrypted=how != "unencrypted")
    resp = env.http.post("/feishu/events", content=body, headers=headers)
    env.app.handling.join()
    assert resp.status_code == 401 and "Traceback" not in resp.text
    assert inbound_count(db) == 0
    assert env.fake.calls == []


def test_junk_is_refused(env: FeishuEnv, db: Database) -> None:
    for body in (b"junk", b"[]", json.dumps({"encrypt": "bm90IGJhc2U2NA=="}).encode()):
        assert env.http.post("/feishu/events", content=body).status_code == 401
    assert inbound_count(db) == 0


def test_a_stranger_is_told_they_are_not_in_the_organisation(env: FeishuEnv, db: Database) -> None:
    assert env.post_event(message_event("ou_ghost", "你好")).status_code == 200
    assert len(env.fake.to("ou_ghost")) == 1
    assert "还没有" in card_text(env.fake.to("ou_ghost")[0].content)
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.person_id)) is None


def test_a_group_mention_is_stripped_and_the_command_answered_to_the_person(env: FeishuEnv) -> None:
    event = message_event("ou_li", "@_user_1 /帮助", chat_type="group",
                          mentions=[{"key": "@_user_1", "name": "salesbot", "id": {"open_id": "ou_bot"}}])
    assert env.post_event(event).status_code == 200
    assert "使用说明" in card_text(env.fake.to("ou_li")[0].content)


def test_mentions_inside_a_text_become_names() -> None:
    message = {"message_type": "text", "content": json.dumps({"text": "@_user_1 /visit 远航集团 和 @_user_2 一起"}),
               "mentions": [{"key": "@_user_1", "name": "bot"}, {"key": "@_user_2", "name": "王芳"}]}
    assert message_text(message) == "/visit 远航集团 和 @王芳 一起"
    post = {"message_type": "post", "content": json.dumps({"zh_cn": {"title": "", "content": [
        [{"tag": "text", "text": "日报"}], [{"tag": "text", "text": "拜访: "}, {"tag": "text", "text": "2"}]]}})}
    assert message_text(post) == "日报\n拜访: 2"


def test_other_events_are_acknowledged_and_ignored(env: FeishuEnv, db: Database) -> None:
    event = message_event("ou_zhang", "x")
    event["header"]["event_type"] = "im.chat.member.bot.added_v1"
    assert env.post_event(event).status_code == 200
    assert inbound_count(db) == 0 and env.fake.calls == []


def test_a_database_outage_answers_500_so_feishu_delivers_again(env: FeishuEnv, db: Database) -> None:
    env.app.db = Database("sqlite:////nonexistent-dir/x.db")
    env.app.dispatcher.db = env.app.db
    event = message_event("ou_zhang", "/help", message_id="om_down")
    resp = env.post_event(event)
    assert resp.status_code == 500 and "Traceback" not in resp.text
    env.app.db = env.app.dispatcher.db = db
    assert env.post_event(event, nonce="again").status_code == 200
    assert len(env.fake.to("ou_zhang")) == 1
    with db.unit_of_work() as s:
        assert s.scalar(select(OutboxMessage.status)) == "sent"
