"""DingTalk buttons: interactive cards (createAndDeliver, a click over HTTP or Stream, the card updated with
PUT card/instances), and without a card template the commands to type instead."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.platforms.dingtalk.port import DingtalkPort, callback_route_key
from bot.platforms.dingtalk.stream import DingtalkStream
from bot.wiring import App
from models import CollabRequest
from tests.support.fake_dingtalk import (
    DingtalkEnv,
    FakeDingtalk,
    add_dingtalk_ids,
    card_click,
    dingtalk_env,
    dingtalk_settings,
    robot_message,
)
from tests.support.fake_dingtalk_stream import CARD_TOPIC, ROBOT_TOPIC, FakeStream
from tests.support.org import build_org

TEMPLATE = "a1b2c3d4-salesbot.schema"
PUBLIC = "https://bot.example.com"
ASK = "/协作 远航集团 想联系他们的采购部"


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[DingtalkEnv]:
    build_org(db)
    add_dingtalk_ids(db)
    with dingtalk_env(db, clock, database_url, dingtalk={"card_template_id": TEMPLATE},
                      server={"public_url": PUBLIC}) as e:
        yield e


def request_id(db: Database) -> int:
    with db.unit_of_work() as s:
        rid = s.scalar(select(CollabRequest.id))
        assert rid is not None
        return rid


def status(db: Database) -> str:
    with db.unit_of_work() as s:
        return str(s.scalar(select(CollabRequest.status)))


def test_a_collab_request_is_approved_through_a_card_click_the_card_updated_the_requester_told(
        env: DingtalkEnv, db: Database) -> None:
    assert env.say("dt_zhang", ASK, "msgASK1").status_code == 200
    # The card goes to the manager of the owning region (South), with the click routed back to us.
    register = env.fake.calls_to("v1.0/card/callbacks/register")
    assert len(register) == 1 and register[0].body["callbackUrl"] == f"{PUBLIC}/dingtalk/callback"
    cards = [d for d in env.fake.to("dt_msouth") if d.kind == "card"]
    assert len(cards) == 1
    track = cards[0].call.body["outTrackId"]
    card = env.fake.cards[track]
    assert card["template"] == TEMPLATE and card["callbackType"] == "HTTP"
    assert cards[0].call.body["callbackRouteKey"] == callback_route_key(env.fake.client_id)
    assert cards[0].call.body["openSpaceId"] == "dtv1.card//IM_ROBOT.dt_msouth"
    buttons = json.loads(card["params"]["buttons"])
    rid = request_id(db)
    assert [(b["action"], b["value"]) for b in buttons] == [("collab_approve", str(rid)), ("collab_reject", str(rid))]
    assert all(isinstance(v, str) for v in card["params"].values())  # card variables are strings
    assert "远航集团" in card["params"]["markdown"]

    # Someone else pressing it is refused and changes nothing.
    assert env.post(card_click(user="dt_meast", out_track_id=track, action="collab_approve",
                               value=str(rid))).status_code == 200
    assert status(db) == "pending" and env.fake.cards[track]["updates"] == []
    assert len(env.fake.texts("dt_meast")) == 1

    click = card_click(user="dt_msouth", out_track_id=track, action="collab_approve", value=str(rid))
    assert env.post(click).status_code == 200
    assert env.post(click).status_code == 200  # delivered twice: handled once
    assert status(db) == "approved"
    updates = env.fake.cards[track]["updates"]
    assert len(updates) == 1
    assert updates[0]["done"] == "true" and json.loads(updates[0]["buttons"]) == []
    assert "已批准" in updates[0]["markdown"] and "刘经理" in updates[0]["markdown"]
    told = env.fake.texts("dt_zhang")
    assert any("批准" in t and "远航集团" in t for t in told)


def test_a_forged_card_click_is_refused(env: DingtalkEnv, db: Database) -> None:
    env.say("dt_zhang", ASK, "msgASK2")
    track = next(d for d in env.fake.to("dt_msouth") if d.kind == "card").call.body["outTrackId"]
    click = card_click(user="dt_msouth", out_track_id=track, action="collab_approve", value=str(request_id(db)))
    assert env.post(click, secret="forged").status_code == 401
    assert env.post(click, timestamp_ms=env.now_ms() - 600_000).status_code == 401
    assert status(db) == "pending"


def test_a_card_that_cannot_be_updated_is_answered_with_a_new_message(env: DingtalkEnv, db: Database) -> None:
    from tests.support.fake_dingtalk import CARD_GONE

    env.say("dt_zhang", ASK, "msgASK3")
    track = next(d for d in env.fake.to("dt_msouth") if d.kind == "card").call.body["outTrackId"]
    env.fake.fail_next("v1.0/card/instances", CARD_GONE)
    env.post(card_click(user="dt_msouth", out_track_id=track, action="collab_reject", value=str(request_id(db))))
    assert status(db) == "rejected"
    assert any("已拒绝" in t for t in env.fake.texts("dt_msouth"))


def test_without_a_template_the_buttons_are_commands_and_typing_one_decides(
        db: Database, clock: FixedClock, database_url: str) -> None:
    build_org(db)
    add_dingtalk_ids(db)
    with dingtalk_env(db, clock, database_url) as env:
        env.say("dt_zhang", ASK, "msgASK4")
        rid = request_id(db)
        text = env.fake.texts("dt_msouth")[0]
        assert f"/批准 {rid}" in text and f"/拒绝 {rid}" in text
        assert env.fake.calls_to("v1.0/card/instances/createAndDeliver") == []
        env.say("dt_msouth", f"/批准 {rid}", "msgTYPED")
        assert status(db) == "approved"
        assert any("批准" in t for t in env.fake.texts("dt_zhang")[1:])


def test_a_collab_request_is_approved_through_a_card_click_over_the_stream(db: Database, clock: FixedClock,
                                                                          database_url: str) -> None:
    build_org(db)
    add_dingtalk_ids(db)
    api = FakeDingtalk(clock=lambda: clock.now().timestamp())
    gateway = FakeStream(api)
    with api.running(), gateway.running():
        settings = dingtalk_settings(database_url, api, dingtalk={"mode": "stream", "card_template_id": TEMPLATE})
        port = DingtalkPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"dingtalk": port}, migrate=False)
        stream = DingtalkStream(app)
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()

        def push(topic: str, data: dict[str, object], copies: int = 1) -> None:
            acks = gateway.wait_ack(gateway.push(topic, data, copies=copies), count=copies)
            assert [a["code"] for a in acks] == [200] * copies
            app.handling.join()
            app.outbox.deliver()

        try:
            gateway.wait_connections(1)
            push(ROBOT_TOPIC, robot_message(sender="dt_zhang", text=ASK, msg_id="msgASK5",
                                            create_at_ms=int(clock.now().timestamp() * 1000)))
            card = next(d for d in api.to("dt_msouth") if d.kind == "card")
            assert card.call.body["callbackType"] == "STREAM" and "callbackRouteKey" not in card.call.body
            track = card.call.body["outTrackId"]
            rid = str(request_id(db))
            # Someone else pressing it is refused in words and changes nothing.
            push(CARD_TOPIC, card_click(user="dt_meast", out_track_id=track, action="collab_approve", value=rid))
            assert status(db) == "pending" and api.cards[track]["updates"] == []
            assert len(api.texts("dt_meast")) == 1
            # The owning region's manager presses it; the same frame comes twice: decided once.
            push(CARD_TOPIC, card_click(user="dt_msouth", out_track_id=track, action="collab_approve", value=rid),
                 copies=2)
            assert status(db) == "approved"
            updates = api.cards[track]["updates"]
            assert len(updates) == 1 and updates[0]["done"] == "true" and json.loads(updates[0]["buttons"]) == []
            assert "已批准" in updates[0]["markdown"] and "刘经理" in updates[0]["markdown"]
            told = [t for t in api.texts("dt_zhang") if "批准" in t and "远航集团" in t]
            assert len(told) == 1
        finally:
            stream.stop()
            thread.join(10)
            app.handling.close()
            port.close()
