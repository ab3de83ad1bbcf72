"""Acknowledge first, handle after: an acked event is stored, handled once, even if the process dies."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.core import handling
from bot.core.db import Database
from bot.core.types import Inbound, Outbound, ToTarget
from bot.platforms.slack.app import SlackAdapter
from bot.wiring import App
from bot.worker import OutboxWorker
from models import DailyReport, InboundEvent, OutboxMessage
from tests.support.fake_slack import FakeSlack
from tests.support.slack_app import SECRET
from tests.support.slack_signing import dm_event, signed_headers

REPORT = "日报\n拜访: 3\n新线索: 2\n签约: 12.5万\n明日计划: 回访远航集团"


@pytest.fixture()
def adapter(app: App) -> Iterator[SlackAdapter]:
    adapter = SlackAdapter(app)
    yield adapter
    adapter.close()


def counts(db: Database) -> tuple[int, int, int]:
    with db.unit_of_work() as s:
        return (s.scalar(select(func.count()).select_from(InboundEvent)) or 0,
                s.scalar(select(func.count()).select_from(DailyReport)) or 0,
                s.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def send(adapter: SlackAdapter, event_id: str) -> None:
    body = dm_event("U_ZHANG", REPORT, event_id=event_id)
    assert adapter.handle_http(body, signed_headers(SECRET, body)).status == 200


class Held:
    """Hold the background handling threads (as a busy or dying process would) until released."""

    def __init__(self, app: App) -> None:
        self.gate = threading.Event()
        self.original = app.dispatcher.process
        app.dispatcher.process = self.process  # type: ignore[method-assign]

    def process(self, *args: object, **kw: object) -> object:
        self.gate.wait(10)
        return self.original(*args, **kw)


def test_the_ack_goes_out_with_the_event_stored_and_the_work_after(app: App, adapter: SlackAdapter,
                                                                   db: Database, fake: FakeSlack) -> None:
    held = Held(app)
    send(adapter, "Ev_ACK1")  # returned: acknowledged
    assert counts(db) == (1, 0, 0)  # stored, not yet handled
    with db.unit_of_work() as s:
        row = s.scalar(select(InboundEvent))
        assert row.processed_at is None and row.payload and "拜访" in row.payload
    held.gate.set()
    assert app.handling.join(10)
    assert counts(db) == (1, 1, 1)
    with db.unit_of_work() as s:
        row = s.scalar(select(InboundEvent))
        assert row.processed_at is not None and row.payload is None and row.person_id is not None
    assert "12.5" in fake.wait_for("chat.postMessage")[0].args["text"]


def test_a_retry_after_the_ack_is_neither_stored_nor_handled_twice(app: App, adapter: SlackAdapter,
                                                                   db: Database, fake: FakeSlack) -> None:
    send(adapter, "Ev_ACK2")
    send(adapter, "Ev_ACK2")
    assert app.handling.join(10)
    assert counts(db) == (1, 1, 1)
    fake.wait_for("chat.postMessage")
    assert len(fake.ok_calls("chat.postMessage")) == 1


def test_an_event_whose_process_died_after_the_ack_is_handled_once_by_the_worker(
        app: App, db: Database, fake: FakeSlack) -> None:
    inbound = Inbound("slack", "Ev_ACK3", "U_ZHANG", text=REPORT, channel="DZHANG")
    event_id = app.receive(inbound)  # stored and acked; the process dies before handling it
    assert event_id is not None and counts(db) == (1, 0, 0)
    assert app.dispatcher.process_stale(older_than_seconds=60) == 0  # too young: maybe still running
    assert app.dispatcher.process_stale(older_than_seconds=0) == 1
    OutboxWorker(app).run_once()
    assert counts(db) == (1, 1, 1)
    assert len(fake.wait_for("chat.postMessage")) == 1
    # the original handler wakes up late: it finds the event claimed and does nothing
    assert app.process(event_id, inbound).duplicate
    assert app.dispatcher.process_stale(older_than_seconds=0) == 0
    assert counts(db) == (1, 1, 1)
    assert len(fake.ok_calls("chat.postMessage")) == 1


def test_a_database_error_before_the_ack_means_no_ack(app: App, adapter: SlackAdapter, db: Database) -> None:
    app.dispatcher.db = Database("sqlite:////nonexistent-dir/x.db")
    try:
        body = dm_event("U_ZHANG", REPORT, event_id="Ev_ACK4")
        assert adapter.handle_http(body, signed_headers(SECRET, body)).status != 200  # Slack retries it
    finally:
        app.dispatcher.db = db
    assert counts(db) == (0, 0, 0)


def test_handling_gives_way_to_a_burst_of_acks_but_is_never_starved(app: App, db: Database) -> None:
    inbound = Inbound("slack", "Ev_ACK5", "U_ZHANG", text=REPORT, channel="DZHANG")
    with contextlib.ExitStack() as burst:
        for _ in range(handling.BURST):  # a burst of requests being acknowledged
            burst.enter_context(app.handling.acking())
        app.handle_later(app.receive(inbound), inbound)
        time.sleep(handling.YIELD_SECONDS / 3)
        assert counts(db)[1] == 0  # the handling thread waits its turn...
        assert app.handling.join(5)  # ...but not for ever, though the burst goes on
        assert counts(db) == (1, 1, 1)


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_reply_is_written_claimed_and_sent_after_the_commit_without_a_second_claim(
        app: App, db: Database, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = Inbound("slack", "Ev_CLAIM1", "U_ZHANG", text=REPORT, channel="DZHANG")
    event_id = app.receive(inbound)
    assert event_id is not None
    # The process dies between the handling commit and the send.
    monkeypatch.setattr(app.outbox, "send_claimed", lambda envelopes: (0, 0))
    result = app.process(event_id, inbound)
    assert [env.key for env in result.claimed] == list(result.keys) and len(result.keys) == 1
    (row,) = outbox_rows(db)
    assert (row.status, row.attempts) == ("sending", 1) and row.lease_until is not None
    # Nobody else sends it while its lease holds...
    assert app.outbox.deliver() == (0, 0)
    assert fake.ok_calls("chat.postMessage") == []
    # ...and once the lease runs out (the sender is gone), the next sender does, once.
    with db.unit_of_work() as s:
        s.execute(update(OutboxMessage).values(lease_until=app.clock.now() - timedelta(seconds=1)))
    assert app.outbox.deliver() == (1, 0)
    assert app.outbox.deliver() == (0, 0)
    assert len(fake.ok_calls("chat.postMessage")) == 1
    (row,) = outbox_rows(db)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_reply_sent_right_after_handling_is_sent_once_with_one_attempt(app: App, db: Database,
                                                                          fake: FakeSlack) -> None:
    inbound = Inbound("slack", "Ev_CLAIM2", "U_ZHANG", text=REPORT, channel="DZHANG")
    result = app.process(app.receive(inbound), inbound)
    assert len(result.claimed) == 1
    (row,) = outbox_rows(db)
    assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)
    assert len(fake.ok_calls("chat.postMessage")) == 1
    assert app.outbox.deliver() == (0, 0)


def test_only_replies_keyed_by_their_event_on_a_platform_we_send_are_written_claimed(app: App, db: Database) -> None:
    messages = [
        Outbound(to=ToTarget("slack", "user", "DZHANG"), text="one"),
        Outbound(to=ToTarget("slack", "user", "DZHANG"), text="two", key="own-key"),  # may exist already
        Outbound(to=ToTarget("slack", "user", "DZHANG"), text="three", update_of="own-key"),
        Outbound(to=ToTarget("wecom", "user", "zhangwei"), text="four"),  # no WeCom port here
    ]
    with db.unit_of_work() as s:
        keys, claimed = app.outbox.enqueue_claimed(s, messages, base_key="in:test:Ev_CLAIM3", now=app.clock.now())
    assert [env.key for env in claimed] == ["in:test:Ev_CLAIM3:0:slack"]
    assert len(keys) == 4
    status = {row.key: row.status for row in outbox_rows(db)}
    assert status == {"in:test:Ev_CLAIM3:0:slack": "sending", "own-key:slack": "pending",
                      "in:test:Ev_CLAIM3:2:slack": "pending", "in:test:Ev_CLAIM3:3:wecom": "pending"}
