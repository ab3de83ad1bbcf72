"""A fan-out is sent in chunks, the next one claimed while this one goes out: nothing lost, nothing
twice, one person's messages in order, and rows that are not due stay for the worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Outbound, ToTarget
from bot.wiring import App
from jobs import runner
from models import OutboxMessage
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.slack_app import slack_app, slack_settings


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def app(database_url: str, db: Database, fake: FakeSlack) -> Iterator[App]:
    app = slack_app(slack_settings(database_url, fake), db)
    yield app
    app.outbox.ports.clear()


def test_chunks_claimed_ahead_keep_each_persons_order_and_send_each_once(
        app: App, db: Database, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "DELIVER_CHUNK", 3)
    messages = [Outbound(to=ToTarget("slack", "user", f"U{i % 2}"), text=f"m{i}") for i in range(11)]
    with db.unit_of_work() as s:
        keys = enqueue(s, messages, base_key="job:test:chunks", settings=app.settings, now=app.clock.now())
        # One row is not due yet (a retry waiting out its backoff): it stays for the worker.
        s.execute(update(OutboxMessage).where(OutboxMessage.key == keys[4])
                  .values(next_attempt_at=app.clock.now().replace(year=2100)))
    ticks: list[tuple[int, int]] = []
    sent, failed = runner.deliver_keys(app.outbox, keys, lambda done, total: ticks.append((done, total)))
    assert (sent, failed) == (10, 0)
    assert ticks == [(3, 11), (6, 11), (9, 11), (11, 11)]
    posted = fake.posted_keys()
    assert sorted(posted) == sorted(k for k in keys if k != keys[4])  # each once, the one not due not yet
    for user in ("U0", "U1"):
        texts = [c.args["text"] for c in fake.ok_calls("chat.postMessage") if c.args["channel"] == user]
        assert texts == sorted(texts, key=lambda t: int(t[1:]))
    with db.unit_of_work() as s:
        status = dict(s.execute(select(OutboxMessage.key, OutboxMessage.status)).all())
    assert status[keys[4]] == "pending" and all(status[k] == "sent" for k in keys if k != keys[4])


def test_a_batch_of_sends_is_recorded_with_each_rows_own_platform_message_id(
        app: App, db: Database, fake: FakeSlack) -> None:
    messages = [Outbound(to=ToTarget("slack", "user", f"U{i:02d}"), text=f"m{i}") for i in range(60)]
    with db.unit_of_work() as s:
        keys = enqueue(s, messages, base_key="job:test:ids", settings=app.settings, now=app.clock.now())
    assert runner.deliver_keys(app.outbox, keys) == (60, 0)  # 60 rows: three statements of up to 25
    with db.unit_of_work() as s:
        rows = list(s.execute(select(OutboxMessage.key, OutboxMessage.target, OutboxMessage.ref_channel,
                                     OutboxMessage.ref_id, OutboxMessage.status)))
    assert len(rows) == 60 and all(r.status == "sent" and r.ref_channel == "D" + r.target[1:] for r in rows)
    assert len({r.ref_id for r in rows}) == 60 and None not in {r.ref_id for r in rows}
