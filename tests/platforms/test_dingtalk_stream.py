"""DingTalk Stream mode against a fake gateway on loopback: store before ack, duplicates, two clients,
dropped and silent sockets, refused credentials (`salesbot connect`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.connect import run_connect
from bot.core.clock import FixedClock
from bot.core.connector import Backoff, ConnectorHooks
from bot.core.db import Database
from bot.platforms.dingtalk.port import DingtalkPort
from bot.platforms.dingtalk.stream import DingtalkStream
from bot.wiring import App
from models import DailyReport, InboundEvent
from tests.support.fake_dingtalk import FakeDingtalk, add_dingtalk_ids, dingtalk_settings, robot_message
from tests.support.fake_dingtalk_stream import ROBOT_TOPIC, FakeStream
from tests.support.org import build_org


@dataclass
class StreamEnv:
    api: FakeDingtalk
    gateway: FakeStream
    app: App
    clock: FixedClock
    events: list[tuple[str, str]]

    def client(self, name: str = "dingtalk") -> DingtalkStream:
        stream = DingtalkStream(self.app, ConnectorHooks(on_event=lambda p, e: self.events.append((p, e))),
                                name=name)
        stream.backoff = Backoff(first=0.05, cap=0.2)
        return stream

    def message(self, sender: str, text: str, msg_id: str) -> dict[str, Any]:
        return robot_message(sender=sender, text=text, msg_id=msg_id,
                             create_at_ms=int(self.clock.now().timestamp() * 1000))

    def settle(self) -> None:
        self.app.handling.join()


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[StreamEnv]:
    build_org(db)
    add_dingtalk_ids(db)
    api = FakeDingtalk(clock=lambda: clock.now().timestamp())
    gateway = FakeStream(api)
    with api.running(), gateway.running():
        settings = dingtalk_settings(database_url, api, dingtalk={"mode": "stream", "stream_watchdog_seconds": 0.6})
        port = DingtalkPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"dingtalk": port}, migrate=False)
        yield StreamEnv(api, gateway, app, clock, [])
        app.handling.close()
        port.close()


@contextmanager
def serving(*streams: DingtalkStream) -> Iterator[None]:
    threads = [threading.Thread(target=s.run, daemon=True) for s in streams]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        for s in streams:
            s.stop()
        for t in threads:
            t.join(10)
            assert not t.is_alive()


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def count(db: Database, model: Any) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_a_report_over_the_stream_is_stored_before_its_ack_and_handled_once(env: StreamEnv, db: Database) -> None:
    with serving(env.client()):
        env.gateway.wait_connections(1)
        report = env.message("dt_zhang", "日报\n拜访：4\n签约：3万", "msgSTREAM1")
        mid = env.gateway.push(ROBOT_TOPIC, report, copies=2)  # the same frame twice
        acks = env.gateway.wait_ack(mid, count=2)
        assert {a["code"] for a in acks} == {200}
        assert count(db, InboundEvent) == 1  # stored when the first ack went
        env.gateway.push(ROBOT_TOPIC, report)  # pushed again with a new frame id, same msgId
        until(lambda: len(env.gateway.acks) == 2)
        env.settle()
        until(lambda: len(env.api.texts("dt_zhang")) >= 1)
    assert count(db, InboundEvent) == 1 and count(db, DailyReport) == 1
    assert len(env.api.texts("dt_zhang")) == 1
    assert ("dingtalk", "connected") in env.events


def test_two_clients_share_the_pushes_and_each_message_is_handled_once(env: StreamEnv, db: Database) -> None:
    first, second = env.client("a"), env.client("b")
    with serving(first, second):
        env.gateway.wait_connections(2)
        ids = [env.gateway.push(ROBOT_TOPIC, env.message("dt_li", "/help", f"msgTWO{i}")) for i in range(12)]
        # DingTalk may also deliver one message to both clients.
        env.gateway.push(ROBOT_TOPIC, env.message("dt_li", "/help", "msgTWO0"), everyone=True)
        for mid in ids:
            env.gateway.wait_ack(mid)
        env.settle()
        until(lambda: len(env.api.texts("dt_li")) == 12)
    assert count(db, InboundEvent) == 12
    time.sleep(0.1)
    assert len(env.api.texts("dt_li")) == 12


def test_a_dropped_connection_is_reopened_and_a_message_missed_meanwhile_is_lost(env: StreamEnv,
                                                                              db: Database) -> None:
    stream = env.client()
    with serving(stream):
        env.gateway.wait_connections(1)
        env.gateway.drop_all()
        until(lambda: env.gateway.connections == 0 or stream.sessions >= 2)
        env.gateway.push(ROBOT_TOPIC, env.message("dt_zhang", "/help", "msgWHILEDOWN"))
        until(lambda: stream.sessions >= 2 and env.gateway.connections == 1)
        mid = env.gateway.push(ROBOT_TOPIC, env.message("dt_zhang", "/help", "msgAFTER"))
        env.gateway.wait_ack(mid)
        env.settle()
        until(lambda: len(env.api.texts("dt_zhang")) == 1)
    assert env.gateway.opened >= 2
    # DingTalk never re-pushes a robot message that found no client: that is why the README says run two.
    assert len(env.gateway.lost) <= 1
    assert ("dingtalk", "disconnected") in env.events


def test_a_silent_socket_is_detected_reported_and_replaced(env: StreamEnv, db: Database) -> None:
    stream = env.client()
    with serving(stream):
        env.gateway.wait_connections(1)
        env.gateway.go_silent()
        until(lambda: ("dingtalk", "silent") in env.events, timeout=10)
        until(lambda: stream.sessions >= 2 and stream.connected.is_set(), timeout=10)
        mid = env.gateway.push(ROBOT_TOPIC, env.message("dt_zhang", "/help", "msgAFTERSILENCE"))
        until(lambda: mid in env.gateway.acks, timeout=10)
        env.settle()
        until(lambda: len(env.api.texts("dt_zhang")) == 1)


def test_a_system_ping_is_answered(env: StreamEnv) -> None:
    with serving(env.client()):
        env.gateway.wait_connections(1)
        mid = env.gateway.ping()
        ack = env.gateway.wait_ack(mid)[0]
        assert ack["code"] == 200 and "ping-data" in ack["data"]


def test_connect_exits_non_zero_with_a_clear_message_on_refused_credentials(env: StreamEnv) -> None:
    env.api.client_secret = "rotated-in-the-console"
    said: list[str] = []
    done = threading.Event()
    code: list[int] = []

    def go() -> None:
        code.append(run_connect(env.app, echo=said.append))
        done.set()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    assert done.wait(60)
    assert code == [1]
    assert env.gateway.refused == 1  # not retried in a loop
    text = "\n".join(said)
    assert "dingtalk.client_id" in text and "dingtalk.client_secret" in text
    assert "rotated" not in text and env.app.settings.dingtalk.client_secret.get_secret_value() not in text


def test_connect_without_a_long_connection_says_what_to_set(db: Database, database_url: str,
                                                           clock: FixedClock) -> None:
    from tests.conftest import make_settings

    app = App(make_settings(database_url), db=db, clock=clock, migrate=False)
    said: list[str] = []
    assert run_connect(app, echo=said.append) == 2
    assert "dingtalk.mode" in said[0]
