"""Outbox delivery through the real SlackPort to a fake Slack: waits, retries, give-ups, exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import Outbox, enqueue
from bot.core.settings import Settings
from bot.core.types import Outbound, ToTarget
from bot.metrics import SENDS, install
from bot.platforms.slack.port import SlackPort
from bot.wiring import App
from models import OutboxMessage, OutboxStatus
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.slack_app import slack_settings


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def slack(settings: Settings, database_url: str, fake: FakeSlack) -> Settings:
    # whole-second backoff: MariaDB DATETIME keeps no fractions, so a sub-second wait would be due at once
    return slack_settings(database_url, fake, outbox={"base_backoff_seconds": 2})


def put(db: Database, settings: Settings, clock: FixedClock, count: int, *, prefix: str = "m") -> list[str]:
    messages = [Outbound(to=ToTarget("slack", "channel", f"C_{i % 7}"), text=f"message **{i}**",
                         key=f"{prefix}:{i}") for i in range(count)]
    with db.unit_of_work() as s:
        return enqueue(s, messages, base_key="test", settings=settings, now=clock.now())


def status(db: Database, key: str) -> OutboxMessage:
    with db.unit_of_work() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
        assert row is not None
        return row


def outbox(db: Database, settings: Settings, clock: FixedClock) -> Outbox:
    return Outbox(db, {"slack": SlackPort(settings)}, settings, clock)


def test_429_waits_for_retry_after_then_sends(db: Database, slack: Settings, clock: FixedClock,
                                              fake: FakeSlack) -> None:
    (key,) = put(db, slack, clock, 1)
    box = outbox(db, slack, clock)
    fake.fail_next(1, "429", retry_after=30)
    assert box.deliver() == (0, 1)
    row = status(db, key)
    assert row.status == OutboxStatus.PENDING and "ratelimited" in (row.last_error or "")
    assert (row.next_attempt_at - clock.now()).total_seconds() == pytest.approx(30, abs=1)
    clock.advance(seconds=20)
    assert box.deliver() == (0, 0)  # still waiting, nothing sent
    clock.advance(seconds=11)
    assert box.deliver() == (1, 0)
    assert fake.posted_keys() == [key]
    row = status(db, key)
    assert row.status == OutboxStatus.SENT and row.ref_channel == "C_0" and row.ref_id


@pytest.mark.parametrize("kind", ["500", "502", "503", "fatal_error"])
def test_server_errors_are_retried(db: Database, slack: Settings, clock: FixedClock, fake: FakeSlack,
                                   kind: str) -> None:
    (key,) = put(db, slack, clock, 1)
    box = outbox(db, slack, clock)
    fake.fail_next(2, kind)
    assert box.deliver() == (0, 1)
    clock.advance(seconds=301)
    assert box.deliver() == (0, 1)
    clock.advance(seconds=301)
    assert box.deliver() == (1, 0)
    assert fake.posted_keys() == [key]
    assert status(db, key).attempts == 3


def test_rate_limits_are_waited_out_past_max_attempts_but_not_for_ever(db: Database, slack: Settings,
                                                                       clock: FixedClock, fake: FakeSlack) -> None:
    first, second = put(db, slack, clock, 2)
    box = outbox(db, slack, clock)
    limit = slack.outbox.max_attempts
    fake.fail_next(limit * 2, "429", retry_after=30)  # a long limit: twice as many rounds as max_attempts
    for _ in range(limit):
        box.deliver()
        clock.advance(seconds=31)
    assert status(db, first).status == OutboxStatus.PENDING and status(db, first).attempts == 0
    assert box.deliver() == (2, 0)
    assert sorted(fake.posted_keys()) == sorted([first, second])
    # A limit that has not lifted after a day ends like any other failure, after max_attempts tries.
    (late,) = put(db, slack, clock, 1, prefix="late")
    clock.advance(days=1)
    fake.fail_next(limit + 5, "429", retry_after=30)
    for _ in range(limit):
        box.deliver()
        clock.advance(seconds=31)
    row = status(db, late)
    assert row.status == OutboxStatus.DEAD and "ratelimited" in (row.last_error or "")
    assert late not in fake.posted_keys()


@pytest.mark.parametrize("kind", ["invalid_auth", "channel_not_found"])
def test_permanent_errors_are_dead_at_once(db: Database, slack: Settings, clock: FixedClock, fake: FakeSlack,
                                           kind: str) -> None:
    (key,) = put(db, slack, clock, 1)
    box = outbox(db, slack, clock)
    fake.fail_next(1, kind)
    box.deliver()
    clock.advance(seconds=3600)
    box.deliver()
    row = status(db, key)
    assert row.status == OutboxStatus.DEAD and row.last_error == kind and row.attempts == 1
    assert len(fake.all_calls("chat.postMessage")) == 1


def test_metrics_count_sends_by_outcome(settings: Settings, db: Database, slack: Settings, clock: FixedClock,
                                        fake: FakeSlack) -> None:
    app = App(slack, db=db, migrate=False, clock=clock)
    install(app)

    def value(outcome: str) -> float:
        return SENDS.labels(platform="slack", outcome=outcome)._value.get()

    before = {o: value(o) for o in ("sent", "queued_for_retry", "failed")}
    put(db, slack, clock, 2)
    fake.fail_next(1, "500")
    fake.fail_next(1, "invalid_auth")
    app.outbox.deliver()
    assert {o: value(o) - before[o] for o in before} == {"sent": 0, "queued_for_retry": 1, "failed": 1}


def test_fan_out_with_random_failures_delivers_each_exactly_once(db: Database, slack: Settings,
                                                                 clock: FixedClock, fake: FakeSlack) -> None:
    keys = put(db, slack, clock, 200, prefix="fan")
    box = outbox(db, slack, clock)
    fake.failure_rate(0.15, seed=7)
    for _ in range(30):
        box.deliver()
        if box.backlog() == 0:
            break
        clock.advance(seconds=301)
    assert box.backlog() == 0
    failed = [c for c in fake.all_calls("chat.postMessage") if not c.ok]
    assert len(failed) > 10  # the failures really happened
    counts = Counter(fake.posted_keys())
    assert set(counts) == set(keys) and set(counts.values()) == {1}
    with db.unit_of_work() as s:
        statuses = set(s.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.SENT}


def test_two_deliverers_at_once_never_send_a_key_twice(db: Database, slack: Settings, clock: FixedClock,
                                                       fake: FakeSlack) -> None:
    keys = put(db, slack, clock, 120, prefix="par")
    fake.delay = 0.002
    boxes = [outbox(db, slack, clock), outbox(db, slack, clock)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(box: Outbox) -> None:
        try:
            start.wait()
            box.deliver(limit=10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    counts = Counter(fake.posted_keys())
    assert set(counts) == set(keys) and set(counts.values()) == {1}
