"""kill -9 a sender halfway through a fan-out, start another: nothing lost, repeats bounded by in-flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core import outbox as outbox_module
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Outbound, ToTarget
from models import OutboxMessage, OutboxStatus
from tests.reliability.sender import sender_settings
from tests.support.fake_slack import FakeSlack, running_fake_slack

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 4
LEASE = 5
# Sent but not yet recorded when the process dies: one in flight per sending thread, plus the results
# the outbox holds before writing them down (a few rows per transaction).
IN_FLIGHT = CONCURRENCY + getattr(outbox_module, "RECORD_BATCH", 0)


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        fake.delay = 0.02  # a fan-out that takes a few seconds, so there is a middle to kill it in
        yield fake


def fan_out(db: Database, database_url: str, fake: FakeSlack, count: int) -> list[str]:
    settings = sender_settings(database_url, fake.url, concurrency=CONCURRENCY, lease_seconds=LEASE)
    messages = [Outbound(to=ToTarget("slack", "channel", f"C_{i % 50:02d}"), text=f"晨报 {i}",
                         key=f"crash:{i}") for i in range(count)]
    with db.unit_of_work() as s:
        return enqueue(s, messages, base_key="crash", settings=settings, now=datetime.now(UTC))


def start_sender(database_url: str, fake: FakeSlack) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.sender", database_url, fake.url,
                             str(CONCURRENCY), str(LEASE)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_when_seen(proc: subprocess.Popen[str], fake: FakeSlack, seen: int, timeout: float = 60) -> int:
    """kill -9 the sender once the fake has received `seen` messages; return how many it had."""
    deadline = time.monotonic() + timeout
    while len([k for k in fake.posted_keys() if k.startswith("crash:")]) < seen:
        assert proc.poll() is None, f"the sender ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "the sender made no progress"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return len(fake.posted_keys())


def run_to_the_end(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "done" in out, err[-2000:]


def check(db: Database, fake: FakeSlack, keys: list[str], kills: int) -> Counter[str]:
    # Only our fan-out: a row left by another test's background thread may ride along.
    counts = Counter(k for k in fake.posted_keys() if k.startswith("crash:"))
    assert set(counts) == set(keys), f"lost: {sorted(set(keys) - set(counts))[:10]}"
    repeats = sum(n - 1 for n in counts.values())
    # A message is repeated only if the fake answered ok and the sender died before recording it.
    assert repeats <= IN_FLIGHT * kills, f"{repeats} repeats after {kills} kill(s), bound {IN_FLIGHT} each"
    with db.unit_of_work() as s:
        statuses = dict(s.execute(select(OutboxMessage.status, func.count()).where(
            OutboxMessage.key.like("crash:%")).group_by(OutboxMessage.status)).all())
    assert statuses == {OutboxStatus.SENT: len(keys)}
    return counts


def test_kill_9_halfway_through_a_fan_out(db: Database, database_url: str, fake: FakeSlack) -> None:
    keys = fan_out(db, database_url, fake, 200)
    first = start_sender(database_url, fake)
    at_kill = kill_when_seen(first, fake, 100)
    assert at_kill < len(keys), "killed too late to prove anything"
    run_to_the_end(start_sender(database_url, fake))
    check(db, fake, keys, kills=1)


@pytest.mark.soak
def test_kill_9_again_and_again_during_a_big_fan_out(db: Database, database_url: str, fake: FakeSlack) -> None:
    fake.delay = 0.005
    keys = fan_out(db, database_url, fake, 3000)
    kills = 0
    for share in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
        kill_when_seen(start_sender(database_url, fake), fake, int(len(keys) * share))
        kills += 1
    run_to_the_end(start_sender(database_url, fake))
    check(db, fake, keys, kills=kills)
