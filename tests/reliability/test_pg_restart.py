"""Restart PostgreSQL under inbound load: every acknowledged request is processed once, nothing half-written.

Soak only (it restarts the shared server). `SALESBOT_PG_RESTART_CMD` replaces the restart command
(e.g. `true` for a dry run of the test itself).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from models import DailyReport, InboundEvent, OutboxMessage, Person
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.org import build_org
from tests.support.slack_signing import dm_event, signed_headers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pg-restart-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")
REPORT = "日报\n拜访: 2\n签约: 3万\n明日计划: 回访"


def restart_command() -> list[str]:
    custom = os.environ.get("SALESBOT_PG_RESTART_CMD")
    if custom:
        return shlex.split(custom)
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def server(database_url: str, db: Database, fake: FakeSlack, tmp_path: Path) -> Iterator[str]:
    build_org(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "SALESBOT_DATABASE__URL": database_url, "SALESBOT_SLACK__BOT_TOKEN": "xoxb-pg",
           "SALESBOT_SLACK__SIGNING_SECRET": SECRET, "SALESBOT_SLACK__API_URL": fake.url,
           "PYTHONPATH": str(ROOT)}
    env.pop("SALESBOT_CONFIG", None)
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-scheduler"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class Loader:
    """Post signed report DMs; retry 5xx and connection errors like Slack does (same event id)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: dict[str, str] = {}  # event id -> user
        self.failed: dict[str, int] = {}  # event id -> last status, never acknowledged
        self.retries = 0
        self.stop = threading.Event()

    def one(self, client: httpx.Client, n: int) -> None:
        user = USERS[n % len(USERS)]
        event_id = f"Ev{uuid.uuid4().hex}"
        body = dm_event(user, REPORT, event_id=event_id, ts=f"{time.time():.6f}")
        status = 0
        for attempt in range(6):
            try:
                extra = {"X-Slack-Retry-Num": str(attempt)} if attempt else {}
                status = client.post(self.url, content=body, headers=signed_headers(SECRET, body, **extra)).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                self.acked[event_id] = user
                return
            self.retries += 1
            time.sleep(0.5 * (attempt + 1))
        self.failed[event_id] = status

    def run(self, rate: float) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                self.one(client, n)
                n += 1
                time.sleep(1 / rate)


@pytest.mark.soak
def test_postgresql_restart_under_inbound_load(database_url: str, db: Database, server: str,
                                               fake: FakeSlack) -> None:
    if db.backend != "postgresql":
        pytest.skip("needs the test database to be PostgreSQL")
    loaders = [Loader(server + "/slack/events") for _ in range(3)]
    threads = [threading.Thread(target=ld.run, args=(10,), daemon=True) for ld in loaders]
    for t in threads:
        t.start()
    time.sleep(5)
    before = sum(len(ld.acked) for ld in loaders)
    subprocess.run(restart_command(), check=True, timeout=120)
    time.sleep(10)
    for ld in loaders:
        ld.stop.set()
    for t in threads:
        t.join(60)
    acked = {e: u for ld in loaders for e, u in ld.acked.items()}
    assert before > 0 and len(acked) > before, "the load really ran, before and after the restart"
    # The outbox worker catches up after the restart: it sends what failed, and handles the events
    # stored while their handling failed (and their retries, acked as already stored) after 15 s.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with db.unit_of_work() as s:
            pending = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_(["pending", "sending"])))
            unhandled = s.scalar(select(func.count()).select_from(InboundEvent).where(
                InboundEvent.processed_at.is_(None)))
        if not pending and not unhandled:
            break
        time.sleep(1)
    with db.unit_of_work() as s:
        events = dict(s.execute(select(InboundEvent.event_key, func.count()).where(
            InboundEvent.platform == "slack").group_by(InboundEvent.event_key)).all())
        replies: dict[str, int] = {}
        for key in s.scalars(select(OutboxMessage.key).where(OutboxMessage.platform == "slack")):
            event = key.split(":")[2] if key.startswith("in:slack:") else key
            replies[event] = replies.get(event, 0) + 1
        reporters = set(s.scalars(select(Person.code).join(DailyReport, DailyReport.person_id == Person.id)))
        statuses = dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    lost = [e for e in acked if e not in events]
    assert lost == [], f"{len(lost)} acknowledged requests were never processed"
    assert all(n == 1 for n in events.values())
    # Nothing half-written: every processed event has its reply, and every reply its event.
    assert set(events) == set(replies), (set(events) ^ set(replies))
    assert all(n == 1 for n in replies.values())
    assert reporters >= {"zhang", "li", "bob", "mgr_east", "mgr_north"}
    assert statuses == {"sent": len(replies)}, statuses
    posted = [k.split(":")[2] for k in fake.posted_keys()]
    assert set(posted) == set(replies)
