"""The HTTP server for real: uvicorn on loopback, /healthz, /metrics and a signed Slack command."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from bot.core.db import Database
from bot.core.settings import Settings
from bot.http import create_asgi_app
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.org import build_org
from tests.support.slack_app import SECRET, slack_app, slack_settings
from tests.support.slack_signing import FORM, command_body, signed_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def server(settings: Settings, database_url: str, db: Database, fake: FakeSlack) -> Iterator[str]:
    """Our ASGI app on a real uvicorn server, with the outbox worker running."""
    build_org(db)
    app = slack_app(slack_settings(database_url, fake), db)
    port = free_port()
    config = uvicorn.Config(create_asgi_app(app, run_worker=True), host="127.0.0.1", port=port,
                            log_config=None, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_real_server_health_metrics_and_a_command(server: str, fake: FakeSlack) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok", "platforms": ["slack"], "outbox_backlog": 0}

        body = command_body("/help", "", user="U_BOB", trigger_id="tr.real")
        resp = client.post("/slack/events", content=body, headers=signed_headers(SECRET, body, content_type=FORM))
        assert resp.status_code == 200
        assert "salesbot help" in fake.wait_for("chat.postMessage")[0].args["text"]

        forged = client.post("/slack/events", content=body,
                             headers=signed_headers("wrong", body, content_type=FORM))
        assert forged.status_code == 401

        # The fake sees the post before the outbox records it (and counts it): wait for the count.
        sent = 'salesbot_outbox_sends_total{outcome="sent",platform="slack"}'
        deadline = time.monotonic() + 10
        while sent not in (text := client.get("/metrics").text) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 'salesbot_inbound_requests_total{kind="command",platform="slack"}' in text
        assert 'salesbot_inbound_requests_total{kind="rejected",platform="slack"}' in text
        assert "salesbot_handling_seconds_bucket" in text
        assert sent in text
        assert re.search(r"^salesbot_outbox_backlog \d", text, re.M)


def test_outbox_worker_retries_in_the_background(server: str, fake: FakeSlack) -> None:
    fake.fail_next(1, "500", methods=("chat.postMessage",))
    body = command_body("/help", "", user="U_BOB", trigger_id="tr.retry")
    with httpx.Client(base_url=server, timeout=10) as client:
        resp = client.post("/slack/events", content=body, headers=signed_headers(SECRET, body, content_type=FORM))
        assert resp.status_code == 200
        fake.wait_for("chat.postMessage", timeout=15)  # the worker's retry, about a second later
    assert [c.ok for c in fake.all_calls("chat.postMessage")] == [False, True]


def test_slack_not_configured_is_404(settings: Settings, db: Database) -> None:
    from starlette.testclient import TestClient

    from bot.wiring import App

    app = App(settings, db=db, migrate=False)
    with TestClient(create_asgi_app(app)) as client:
        assert client.post("/slack/events", content=b"{}").status_code == 404
        assert client.get("/healthz").json()["platforms"] == ["console"]
