"""GET/POST /wecom/callback with real encrypted callbacks, against the fake WeCom API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Action, Button, HandlerResult, Inbound, InboundKind, Outbound, ToPerson
from models import InboundEvent, OutboxMessage
from tests.support.fake_wecom import WecomEnv, wecom_env
from tests.support.org import build_org
from tests.support.wecom_crypto import card_click_xml, event_xml, text_xml


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[WecomEnv]:
    build_org(db)
    with wecom_env(db, clock, database_url) as e:
        yield e


def inbound_count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_url_verification_echoes_the_decrypted_echostr(env: WecomEnv) -> None:
    resp = env.http.get(f"/wecom/callback?{env.signer.verify_query('echo-8843', timestamp=env.now_ts())}")
    assert resp.status_code == 200
    assert resp.text == "echo-8843"
    assert resp.headers["content-type"].startswith("text/plain")


def test_bad_signature_or_stale_timestamp_is_refused_and_nothing_stored(env: WecomEnv, db: Database) -> None:
    stale = env.now_ts() - 400
    assert env.http.get(f"/wecom/callback?{env.signer.verify_query('x', timestamp=stale)}").status_code == 403
    query = env.signer.verify_query("x", timestamp=env.now_ts()).replace("msg_signature=", "msg_signature=0")
    assert env.http.get(f"/wecom/callback?{query}").status_code == 403
    xml = text_xml(sender="zhangwei", content="/help", msg_id="m-bad", create_time=env.now_ts(),
                   corp_id=env.fake.corp_id)
    assert env.post_xml(xml, bad_signature=True).status_code == 403
    assert env.post_xml(xml, timestamp=stale).status_code == 403
    assert env.post_xml(xml, timestamp=env.now_ts() + 400).status_code == 403
    assert env.http.post("/wecom/callback?msg_signature=a&timestamp=1&nonce=2", content=b"junk").status_code == 403
    assert inbound_count(db) == 0
    assert env.fake.calls == []


def test_help_from_a_known_user_is_sent_to_that_user(env: WecomEnv, db: Database) -> None:
    xml = text_xml(sender="zhangwei", content="/帮助", msg_id="m1", create_time=env.now_ts(),
                   corp_id=env.fake.corp_id)
    resp = env.post_xml(xml)
    assert resp.status_code == 200 and resp.content == b""
    sends = env.fake.calls_to("message/send")
    assert len(sends) == 1
    body = sends[0].body
    assert body["touser"] == "zhangwei" and body["msgtype"] == "markdown" and body["agentid"] == 1000002
    assert "使用说明" in body["markdown"]["content"]
    assert len(env.fake.calls_to("gettoken")) == 1
    with db.unit_of_work() as s:
        row = s.scalar(select(OutboxMessage))
        assert row is not None and row.status == "sent" and (row.ref_id or "").startswith("MSG")
        assert s.scalar(select(InboundEvent.kind)) == "command"


def test_the_same_msgid_three_times_is_answered_once(env: WecomEnv, db: Database) -> None:
    xml = text_xml(sender="lina", content="/help", msg_id="m-same", create_time=env.now_ts(),
                   corp_id=env.fake.corp_id)
    for nonce in ("1", "2", "3"):  # WeCom's retries carry new nonces and signatures
        assert env.post_xml(xml, nonce=nonce).status_code == 200
    assert len(env.fake.calls_to("message/send")) == 1
    assert inbound_count(db) == 1


def test_a_stranger_is_told_they_are_not_in_the_organisation(env: WecomEnv, db: Database) -> None:
    xml = text_xml(sender="ghost007", content="你好", msg_id="m-ghost", create_time=env.now_ts(),
                   corp_id=env.fake.corp_id)
    assert env.post_xml(xml).status_code == 200
    sends = env.fake.calls_to("message/send")
    assert [c.body["touser"] for c in sends] == ["ghost007"]
    content = sends[0].body["markdown"]["content"]
    assert "ghost007" in content and "还没有" in content  # the organisation's default locale
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.person_id)) is None


def test_other_events_are_acknowledged_and_ignored(env: WecomEnv, db: Database) -> None:
    for event in ("enter_agent", "subscribe"):
        xml = event_xml(sender="zhangwei", event=event, create_time=env.now_ts(), corp_id=env.fake.corp_id)
        assert env.post_xml(xml).status_code == 200
    assert inbound_count(db) == 0 and env.fake.calls == []


def test_a_card_click_is_an_action_and_its_response_code_is_stored(env: WecomEnv, db: Database) -> None:
    seen: list[Inbound] = []

    def on_done(ctx):  # type: ignore[no-untyped-def]
        seen.append(ctx.inbound)
        return HandlerResult([])

    env.app.router.action("probe_click", on_done)
    with db.unit_of_work() as s:
        from models import Person

        zhang = s.scalar(select(Person.id).where(Person.code == "zhang"))
        keys = enqueue(s, [Outbound(to=ToPerson(zhang), text="**跟进** 远航集团", key="nudge:1",
                                    buttons=(Button("完成", "probe_click", "17"), Button("推迟", "probe_other", "17")))],
                       base_key="t", settings=env.app.settings, now=env.clock.now())
    env.app.outbox.deliver(keys)
    card = env.fake.calls_to("message/send")[0].body["template_card"]
    code = env.fake.issue_response_code()
    xml = card_click_xml(sender="zhangwei", event_key="probe_click:17", task_id=card["task_id"], response_code=code,
                         create_time=env.now_ts(), corp_id=env.fake.corp_id)
    assert env.post_xml(xml).status_code == 200
    assert env.post_xml(xml, nonce="again").status_code == 200  # a retry: handled once
    assert len(seen) == 1
    assert seen[0].kind == InboundKind.ACTION and seen[0].action == Action("probe_click", "17")
    assert seen[0].response_code == code
    with db.unit_of_work() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.key == keys[0]))
        assert row is not None and row.ref_id == card["task_id"]
        assert row.response_code == code and row.response_code_at == env.clock.now()
        assert s.scalar(select(InboundEvent.kind)) == "action"


def test_a_database_outage_answers_500_so_wecom_retries(env: WecomEnv, db: Database) -> None:
    env.app.db = Database("sqlite:////nonexistent-dir/x.db")
    env.app.dispatcher.db = env.app.db
    xml = text_xml(sender="zhangwei", content="/help", msg_id="m-down", create_time=env.now_ts(),
                   corp_id=env.fake.corp_id)
    resp = env.post_xml(xml)
    assert resp.status_code == 500 and "Traceback" not in resp.text
    env.app.db = env.app.dispatcher.db = db
    assert env.post_xml(xml, nonce="retry").status_code == 200
    assert len(env.fake.calls_to("message/send")) == 1
