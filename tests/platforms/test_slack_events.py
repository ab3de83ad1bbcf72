"""Slack at the HTTP boundary: real signed requests in, calls to a fake Slack Web API out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import HandlerResult, Outbound, ToPerson
from bot.http import create_asgi_app
from bot.wiring import App
from models import InboundEvent, OutboxMessage
from tests.support.fake_slack import FakeSlack
from tests.support.slack_app import SECRET, slack_settings
from tests.support.slack_signing import (
    FORM,
    block_action,
    command_body,
    dm_event,
    event_body,
    signed_headers,
    view_submission,
)


@pytest.fixture()
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_asgi_app(app)) as client:
        yield client


def post(client: TestClient, body: bytes, *, content_type: str = "application/json", timestamp: int | None = None,
         secret: str = SECRET, **headers: str) -> object:
    return client.post("/slack/events", content=body,
                       headers=signed_headers(secret, body, timestamp=timestamp, content_type=content_type,
                                              **headers))


def inbound_count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)) or 0


def outbox_count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_help_as_slash_command_is_posted(client: TestClient, fake: FakeSlack) -> None:
    resp = post(client, command_body("/help", "", user="U_BOB", trigger_id="tr.1"), content_type=FORM)
    assert resp.status_code == 200
    call = fake.wait_for("chat.postMessage")[0]
    assert call.args["channel"] == "U_BOB"
    assert "salesbot help" in call.args["text"] and "Bob Smith" in call.args["text"]
    assert "*salesbot help*" in call.args["text"]  # **bold** became mrkdwn
    assert call.args["metadata"]["event_type"] == "salesbot_outbox"


def test_chinese_slash_command_and_dm(client: TestClient, fake: FakeSlack) -> None:
    post(client, command_body("/帮助", "", user="U_ZHANG", trigger_id="tr.2"), content_type=FORM)
    post(client, dm_event("U_LI", "/help", event_id="Ev_dm_help"))
    calls = fake.wait_for("chat.postMessage", 2)
    by_channel = {c.args["channel"]: c.args["text"] for c in calls}
    assert "张伟" in by_channel["U_ZHANG"] and "使用说明" in by_channel["U_ZHANG"]
    assert "李娜" in by_channel["U_LI"]


def test_same_event_three_times_is_answered_once(client: TestClient, fake: FakeSlack, db: Database) -> None:
    body = dm_event("U_BOB", "/help", event_id="Ev_retry")
    codes = [post(client, body).status_code]
    for n in (1, 2):
        codes.append(post(client, body, **{"X-Slack-Retry-Num": str(n),
                                           "X-Slack-Retry-Reason": "http_timeout"}).status_code)
    assert codes == [200, 200, 200]
    fake.wait_for("chat.postMessage")
    time.sleep(0.2)
    assert len(fake.ok_calls("chat.postMessage")) == 1
    assert inbound_count(db) == 1


def test_retry_whose_first_delivery_never_arrived_is_handled(client: TestClient, fake: FakeSlack) -> None:
    body = dm_event("U_BOB", "/help", event_id="Ev_lost_first")
    resp = post(client, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    assert resp.status_code == 200
    assert "salesbot help" in fake.wait_for("chat.postMessage")[0].args["text"]


@pytest.mark.parametrize("case", ["forged", "stale", "future", "missing", "garbage_ts"])
def test_bad_signature_or_time_is_refused(client: TestClient, fake: FakeSlack, db: Database, case: str) -> None:
    body = dm_event("U_BOB", "/help", event_id=f"Ev_bad_{case}")
    now = int(time.time())
    if case == "forged":
        resp = post(client, body, secret="not-the-secret")
    elif case == "stale":
        resp = post(client, body, timestamp=now - 360)
    elif case == "future":
        resp = post(client, body, timestamp=now + 360)
    elif case == "missing":
        resp = client.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    else:
        headers = signed_headers(SECRET, body)
        headers["X-Slack-Request-Timestamp"] = "yesterday"
        resp = client.post("/slack/events", content=body, headers=headers)
    assert resp.status_code == 401
    time.sleep(0.1)
    assert inbound_count(db) == 0 and outbox_count(db) == 0
    assert fake.all_calls("chat.postMessage") == []


def test_url_verification_challenge(client: TestClient) -> None:
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"}).encode()
    resp = post(client, body)
    assert resp.status_code == 200 and resp.json() == {"challenge": "abc123"}


def test_bot_messages_and_edits_are_ignored(client: TestClient, fake: FakeSlack, db: Database) -> None:
    own = dm_event("U_BOB", "hello", event_id="Ev_bot", bot_id="B_BOT")
    edit = dm_event("U_BOB", "hello", event_id="Ev_edit", subtype="message_changed")
    channel = event_body({"type": "message", "channel": "C_SH1", "channel_type": "channel", "user": "U_BOB",
                          "text": "hi", "ts": "1.2"}, event_id="Ev_chan")
    for body in (own, edit, channel):
        assert post(client, body).status_code == 200
    time.sleep(0.2)
    assert inbound_count(db) == 0 and fake.all_calls("chat.postMessage") == []


def test_thread_broadcast_is_handled(client: TestClient, fake: FakeSlack) -> None:
    post(client, dm_event("U_BOB", "/help", event_id="Ev_tb", subtype="thread_broadcast", thread_ts="1.1"))
    assert "salesbot help" in fake.wait_for("chat.postMessage")[0].args["text"]


def test_stranger_gets_not_in_org(client: TestClient, fake: FakeSlack, db: Database) -> None:
    resp = post(client, dm_event("U_STRANGER", "日报\n拜访: 3", event_id="Ev_stranger"))
    assert resp.status_code == 200
    call = fake.wait_for("chat.postMessage")[0]
    assert call.args["channel"] == "U_STRANGER" and "U_STRANGER" in call.args["text"]
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.person_id)) is None


def test_sixty_kilobytes_gets_too_long(client: TestClient, fake: FakeSlack) -> None:
    resp = post(client, dm_event("U_BOB", "x" * 60_000, event_id="Ev_long"))
    assert resp.status_code == 200
    assert "too long" in fake.wait_for("chat.postMessage")[0].args["text"]
    # the server is still fine afterwards
    assert client.get("/healthz").status_code == 200


def test_unknown_button_gets_unknown_reply(client: TestClient, fake: FakeSlack, db: Database) -> None:
    resp = post(client, block_action("U_BOB", "no_such_action", "7", trigger_id="tr.act"), content_type=FORM)
    assert resp.status_code == 200
    assert "Unknown command" in fake.wait_for("chat.postMessage")[0].args["text"]
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.kind)) == "action"


def test_button_becomes_an_action_inbound(app: App, client: TestClient, fake: FakeSlack) -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def echo(ctx):  # type: ignore[no-untyped-def]
        assert ctx.inbound is not None and ctx.inbound.action is not None and ctx.person is not None
        seen.append((ctx.inbound.action.value, ctx.inbound.trigger_id, ctx.inbound.message_ts))
        return [Outbound(to=ToPerson(ctx.person.id, "slack"), text=f"pressed {ctx.rest}")]

    app.router.action("test_echo", echo)
    # a repeated action id in one message carries a `#n` suffix; the router sees the plain id
    post(client, block_action("U_BOB", "test_echo#3", "42", trigger_id="tr.echo"), content_type=FORM)
    assert fake.wait_for("chat.postMessage")[0].args["text"] == "pressed 42"
    assert seen == [("42", "tr.echo", "1700000001.000100")]


def test_view_submission_with_form_errors(app: App, client: TestClient, fake: FakeSlack, db: Database) -> None:
    def check(ctx):  # type: ignore[no-untyped-def]
        assert ctx.inbound is not None and ctx.person is not None
        if ctx.inbound.form_values.get("amount") != "1":
            return HandlerResult([], form_errors={"amount": "must be 1"})
        return HandlerResult([Outbound(to=ToPerson(ctx.person.id, "slack"),
                                       text=f"saved {ctx.inbound.form_meta}")])

    app.router.form("test_form", check)
    bad = post(client, view_submission("U_BOB", "test_form", {"amount": "x"}, trigger_id="tr.v1"),
               content_type=FORM)
    assert bad.status_code == 200
    assert bad.json() == {"response_action": "errors", "errors": {"amount": "must be 1"}}
    good = post(client, view_submission("U_BOB", "test_form", {"amount": "1"}, trigger_id="tr.v2", meta="m9"),
                content_type=FORM)
    assert good.status_code == 200 and good.json() == {"response_action": "clear"}
    assert fake.wait_for("chat.postMessage")[0].args["text"] == "saved m9"


def test_database_outage_is_not_acknowledged(settings: Settings, database_url: str, fake: FakeSlack,
                                             tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = Database(f"sqlite:///{tmp_path}/missing/dir/x.db")
    app = App(slack_settings(database_url, fake), db=broken, migrate=False)
    with TestClient(create_asgi_app(app)) as client:
        resp = post(client, dm_event("U_BOB", "/help", event_id="Ev_outage"))
        assert resp.status_code >= 500  # Slack retries it later
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "error"
    assert fake.all_calls("chat.postMessage") == []
