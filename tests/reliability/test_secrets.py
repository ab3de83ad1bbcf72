"""Secrets never show: not in logs at DEBUG, not in `salesbot doctor`, not in anything sent to chat."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.http import create_asgi_app
from models import OutboxMessage
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.fake_wecom import AES_KEY, CALLBACK_TOKEN, HTTP_500, wecom_env
from tests.support.org import build_org
from tests.support.slack_app import SECRET, TOKEN, slack_app, slack_settings
from tests.support.slack_signing import dm_event, signed_headers
from tests.support.wecom_crypto import text_xml

APP_TOKEN = "xapp-1-A0SECRET-123456789-abcdefabcdef"
WECOM_SECRET = "s3cret-value"  # FakeWecom's default secret


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


def payloads(db: Database) -> str:
    with db.unit_of_work() as s:
        return "\n".join(json.dumps(p, ensure_ascii=False) for p in s.scalars(select(OutboxMessage.payload)))


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


def test_slack_exchange_and_failing_sends_log_no_secret(settings: Settings, database_url: str, db: Database,
                                                         fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    build_org(db)
    caplog.set_level(logging.DEBUG)
    app = slack_app(slack_settings(database_url, fake, slack={"app_token": APP_TOKEN}), db)
    fake.fail_next(1, "500", methods=("chat.postMessage",))
    fake.fail_next(1, "invalid_auth", methods=("chat.postMessage",))
    with TestClient(create_asgi_app(app)) as client:
        for n, text in enumerate(["日报\n拜访: 3\n签约: 1万", "/help", "日报\n拜访: x"]):
            body = dm_event("U_ZHANG", text, event_id=f"Ev_secret_{n}")
            assert client.post("/slack/events", content=body, headers=signed_headers(SECRET, body)).status_code == 200
        forged = dm_event("U_ZHANG", "/help", event_id="Ev_secret_forged")
        client.post("/slack/events", content=forged, headers=signed_headers("wrong", forged))
        time.sleep(0.3)
        app.outbox.deliver()
    secrets = [TOKEN, SECRET, APP_TOKEN]
    assert "chat.postMessage" in caplog.text  # the SDK's DEBUG lines were captured
    assert len(fake.all_calls("chat.postMessage")) >= 3  # the failures really happened
    assert any(r.levelno >= logging.WARNING for r in caplog.records) or "retry" in caplog.text
    assert leaks(caplog.text, secrets) == []
    assert leaks(payloads(db), secrets) == []
    assert leaks(json.dumps([c.args for c in fake.all_calls()], ensure_ascii=False, default=str), secrets) == []


def test_wecom_exchange_and_failing_sends_log_no_secret(db: Database, clock: FixedClock, database_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    build_org(db)
    caplog.set_level(logging.DEBUG)
    with wecom_env(db, clock, database_url) as env:
        env.fake.fail_next("message/send", HTTP_500)
        for n, text in enumerate(["日报\n拜访: 3\n签约: 1万", "/help"]):
            xml = text_xml(sender="zhangwei", content=text, msg_id=f"m-secret-{n}", create_time=env.now_ts(),
                           corp_id=env.fake.corp_id)
            assert env.post_xml(xml).status_code == 200
        env.post_xml(text_xml(sender="zhangwei", content="/help", msg_id="m-forged", create_time=env.now_ts(),
                              corp_id=env.fake.corp_id), bad_signature=True)
        clock.advance(seconds=600)
        env.app.outbox.deliver()
        sent = [c for c in env.fake.calls if c.path != "gettoken"]
    secrets = [WECOM_SECRET, CALLBACK_TOKEN, AES_KEY]
    assert "message/send" in caplog.text or "send failed" in caplog.text or "retry" in caplog.text
    assert any(c.outcome == "http500" for c in env.fake.calls) or len(sent) >= 3
    assert leaks(caplog.text, secrets) == []
    assert leaks(payloads(db), secrets) == []
    assert leaks(json.dumps([c.body for c in sent], ensure_ascii=False, default=str), secrets) == []


def test_doctor_prints_no_secret(tmp_path: Path, database_url: str, fake: FakeSlack,
                                 caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.doctor import run_doctor

    monkeypatch.delenv("SALESBOT_CONFIG", raising=False)
    caplog.set_level(logging.DEBUG)
    fake.fail_next(5, "invalid_auth")
    config = tmp_path / "config.toml"
    config.write_text(f"""
[database]
url = "{database_url}"
[slack]
bot_token = "{TOKEN}"
signing_secret = "{SECRET}"
app_token = "{APP_TOKEN}"
api_url = "{fake.url}"
[wecom]
corp_id = "ww_test_corp"
agent_id = "1000002"
secret = "{WECOM_SECRET}"
token = "{CALLBACK_TOKEN}"
encoding_aes_key = "{AES_KEY}"
api_base_url = "http://127.0.0.1:9/cgi-bin/"
""", encoding="utf-8")
    lines: list[str] = []
    code = run_doctor(str(config), echo=lines.append)
    output = "\n".join(lines)
    assert code == 1 and output  # both platforms fail: the doctor says so
    assert leaks(output + caplog.text, [TOKEN, SECRET, APP_TOKEN, WECOM_SECRET, CALLBACK_TOKEN, AES_KEY]) == []
