"""Feishu's long connection: the real lark_oapi ws.Client against the fake Feishu on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.connector import ConnectorHooks, ConnectorRefused
from bot.core.db import Database
from bot.platforms.feishu.port import FeishuPort
from bot.platforms.feishu.ws import FeishuConnection, connector
from bot.wiring import App
from models import CollabRequest, DailyReport, InboundEvent
from tests.support.fake_feishu import FakeFeishu, add_feishu_ids, card_buttons, card_text, feishu_settings
from tests.support.feishu_events import card_event, message_event
from tests.support.org import build_org


@dataclass
class WsEnv:
    fake: FakeFeishu
    app: App
    conn: FeishuConnection
    events: list[tuple[str, str]] = field(default_factory=list)
    thread: threading.Thread | None = None
    error: list[BaseException] = field(default_factory=list)

    def start(self) -> None:
        def run() -> None:
            try:
                self.conn.run()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.error.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[WsEnv]:
    add_feishu_ids(db, build_org(db))
    fake = FakeFeishu()
    with fake.running():
        settings = feishu_settings(database_url, fake, mode="ws")
        port = FeishuPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"feishu": port}, migrate=False)
        events: list[tuple[str, str]] = []
        conn = connector(app, ConnectorHooks(on_event=lambda p, e: events.append((p, e))))
        assert isinstance(conn, FeishuConnection)
        env = WsEnv(fake, app, conn, events)
        yield env
        conn.stop()
        if env.thread is not None:
            env.thread.join(15)
            assert not env.thread.is_alive()
        app.handling.close()
        port.close()


def stored(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_a_report_pushed_twice_is_stored_once_and_answered(env: WsEnv, db: Database) -> None:
    env.start()
    assert env.fake.ws.wait_connected()
    event = message_event("ou_zhang", "日报\n拜访: 4\n签约: 3万", message_id="om_ws_1")
    env.fake.ws.push(event, times=2)  # Feishu pushes again when it doubts the first answer
    assert env.fake.ws.wait_acks(2)
    assert all(ack["code"] == 200 for ack in env.fake.ws.acks)
    env.app.handling.join()
    assert stored(db) == 1
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(DailyReport)) == 1
    env.app.outbox.deliver()
    replies = env.fake.to("ou_zhang")
    assert len(replies) == 1 and "签约：3万" in card_text(replies[0].content)
    assert ("feishu", "connected") in env.events


def test_a_dropped_connection_is_reopened_and_nothing_is_missed(env: WsEnv, db: Database) -> None:
    env.start()
    assert env.fake.ws.wait_connected(1)
    env.fake.ws.drop()
    assert env.fake.ws.wait_connected(2, timeout=20)
    env.fake.ws.push(message_event("ou_li", "/help", message_id="om_after_drop"))
    assert env.fake.ws.wait_acks(1)
    env.app.handling.join()
    env.app.outbox.deliver()
    assert len(env.fake.to("ou_li")) == 1
    assert ("feishu", "disconnected") in env.events and env.conn.sessions == 2


def test_a_silent_connection_is_replaced(env: WsEnv, db: Database) -> None:
    env.start()
    assert env.fake.ws.wait_connected(1)
    env.fake.ws.silent = True  # the socket stays open but nothing comes back, not even pongs
    wait_for(lambda: ("feishu", "silent") in env.events, timeout=20)
    env.fake.ws.silent = False
    assert env.fake.ws.wait_connected(2, timeout=20)
    env.fake.ws.push(message_event("ou_wang", "/help", message_id="om_after_silence"))
    assert env.fake.ws.wait_acks(1)
    env.app.handling.join()
    env.app.outbox.deliver()
    assert len(env.fake.to("ou_wang")) == 1


def test_a_card_click_is_stored_before_its_answer(env: WsEnv, db: Database) -> None:
    env.start()
    assert env.fake.ws.wait_connected()
    env.fake.ws.push(card_event("ou_zhang", "nudge_done", "999999", message_id="om_card_x"))
    assert env.fake.ws.wait_acks(1)
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.kind)) == "action"
    env.app.handling.join()


def collab_status(db: Database) -> str:
    with db.unit_of_work() as s:
        return str(s.scalar(select(CollabRequest.status)))


def push_and_handle(env: WsEnv, event: dict[str, Any], *, times: int = 1) -> None:
    """Push an event over the long connection, wait for its answers, its handling and the sends it made."""
    before = len(env.fake.ws.acks)
    env.fake.ws.push(event, times=times)
    assert env.fake.ws.wait_acks(before + times)
    assert [ack["code"] for ack in env.fake.ws.acks[before:]] == [200] * times
    env.app.handling.join()
    env.app.outbox.deliver()


def test_a_collab_request_approved_by_a_card_click_over_the_long_connection(env: WsEnv, db: Database) -> None:
    env.start()
    assert env.fake.ws.wait_connected()
    push_and_handle(env, message_event("ou_zhang", "/协作 远航集团 客户总部在上海，想约采购总监",
                                       message_id="om_ws_collab"))
    [card] = env.fake.to("ou_liu")  # 刘经理 manages 华南, which owns 远航集团
    approve = next(b for b in card_buttons(card.content) if b["action"] == "collab_approve")
    # Someone who may not decide presses it: refused in words, nothing changes.
    push_and_handle(env, card_event("ou_chen", "collab_approve", approve["value"], message_id=card.message_id))
    assert collab_status(db) == "pending" and card.updates == []
    assert len(env.fake.to("ou_chen")) == 1
    # The owning region's manager presses it; Feishu pushes the click twice: decided once.
    push_and_handle(env, card_event("ou_liu", "collab_approve", approve["value"], message_id=card.message_id),
                    times=2)
    assert collab_status(db) == "approved"
    assert len(card.updates) == 1 and card_buttons(card.updates[0]) == []
    assert "批准" in card_text(card.updates[0]) and "刘经理" in card_text(card.updates[0])
    assert len(env.fake.to("ou_liu")) == 1  # the card itself changed: no new message to the manager
    told = [t for t in env.fake.texts("ou_zhang") if "远航集团" in t and "批准" in t]
    assert len(told) == 1


def test_refused_credentials_stop_with_a_clear_message(env: WsEnv) -> None:
    env.fake.app_secret = "rotated"
    with pytest.raises(ConnectorRefused, match="feishu.app_id and feishu.app_secret"):
        env.conn.run()
    assert ("feishu", "refused") in env.events


def test_connect_runs_feishu_and_exits_1_on_refused_credentials(env: WsEnv) -> None:
    from bot.connect import run_connect

    said: list[str] = []
    env.fake.app_secret = "rotated"
    assert run_connect(env.app, echo=said.append) == 1
    assert any("feishu" in line and "app_secret" in line for line in said)
