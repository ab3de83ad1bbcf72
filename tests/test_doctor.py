"""`salesbot doctor`: one line per check, plain words, exit 1 on a failure, never a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from bot.core.db import Database
from bot.doctor import run_doctor
from tests.support.fake_http import LoopbackServer
from tests.support.org import build_org

SLACK_TOKEN = "xoxb-1111-2222-doctorsecrettoken"
SIGNING = "signing0secret0value0abcdef"
WECOM_SECRET = "WeComSecret-abcdefghijklmnop-0123456789"
WECOM_TOKEN = "callbackTokenXYZ123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class _Fake(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, dict[str, str]]] = []

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _html(self) -> None:  # what a proxy or a wrong base URL answers
        data = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Fake.calls.append(("POST", self.path, dict(self.headers)))
        if self.path.startswith("/html/"):
            self._html()
        elif self.path == "/api/auth.test":
            good = self.headers.get("Authorization") == f"Bearer {SLACK_TOKEN}"
            self._answer({"ok": True, "user": "salesbot", "team": "Acme Sales"} if good
                         else {"ok": False, "error": "invalid_auth"})
        else:
            self._answer({"ok": False, "error": "unknown_method"})

    def do_GET(self) -> None:  # noqa: N802
        _Fake.calls.append(("GET", self.path, dict(self.headers)))
        if self.path.startswith("/html/"):
            self._html()
        elif self.path.startswith("/cgi-bin/gettoken"):
            self._answer({"errcode": 40001, "errmsg": "invalid credential, hint: [1700000000_1]"})
        else:
            self._answer({"errcode": 404})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def fake_api() -> Iterator[str]:
    server = LoopbackServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Fake.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(config: Path | None = None) -> tuple[int, str]:
    lines: list[str] = []
    code = run_doctor(str(config) if config else None, echo=lines.append, now=NOW)
    return code, "\n".join(lines)


@pytest.fixture()
def env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SALESBOT_CONFIG", raising=False)
    for key in list(os.environ):
        if key.startswith("SALESBOT_") and key != "SALESBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SALESBOT_DATABASE__URL", database_url)
    return tmp_path


def test_no_platforms_all_ok(env: Path, db: Database) -> None:
    build_org(db)
    code, out = _run()
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("ok    config:")
    assert any(line.startswith("ok    database:") and "migrated" in line for line in lines)
    assert any(line.startswith("ok    platforms: none configured") for line in lines)
    assert any(line.startswith("ok    teams: 3 team(s)") for line in lines)
    assert any(line.startswith("ok    calendar: China's official 2026") for line in lines)
    assert not any(line.startswith("FAIL") for line in lines)


def test_slack_fake_answers_auth_test(env: Path, db: Database, fake_api: str) -> None:
    build_org(db)
    config = env / "config.toml"
    config.write_text(f'[slack]\nbot_token = "{SLACK_TOKEN}"\nsigning_secret = "{SIGNING}"\n'
                      f'api_url = "{fake_api}/api/"\n', encoding="utf-8")
    code, out = _run(config)
    assert code == 0, out
    assert "ok    slack: bot token accepted by auth.test as salesbot in workspace Acme Sales" in out
    assert ("POST", "/api/auth.test") in [(m, p) for m, p, _ in _Fake.calls]
    # gz1 posts through a WeCom robot only: on Slack it has no channel
    assert "warn  teams: team gz1 has no slack_channel" in out
    assert SLACK_TOKEN not in out and SIGNING not in out


def test_wecom_wrong_secret_fails_in_plain_words(env: Path, db: Database, fake_api: str) -> None:
    build_org(db)
    config = env / "config.toml"
    config.write_text(f'[wecom]\ncorp_id = "ww0123456789"\nagent_id = "1000002"\nsecret = "{WECOM_SECRET}"\n'
                      f'token = "{WECOM_TOKEN}"\nencoding_aes_key = "{AES_KEY}"\n'
                      f'api_base_url = "{fake_api}/cgi-bin/"\n', encoding="utf-8")
    code, out = _run(config)
    assert code == 1
    fail = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and fail[0].startswith("FAIL  wecom:")
    assert "the WeCom secret (or corp id) is wrong: check wecom.secret" in fail[0]
    for secret in (WECOM_SECRET, WECOM_TOKEN, AES_KEY):
        assert secret not in out
    assert any(p.startswith("/cgi-bin/gettoken?") for _, p, _ in _Fake.calls)


def test_slack_refused_token_and_bad_config(env: Path, db: Database, fake_api: str) -> None:
    config = env / "config.toml"
    config.write_text(f'[slack]\nbot_token = "xoxb-wrong-token-value"\nsigning_secret = "{SIGNING}"\n'
                      f'api_url = "{fake_api}/api/"\n', encoding="utf-8")
    code, out = _run(config)
    assert code == 1 and "FAIL  slack: Slack refused the bot token (invalid_auth)" in out
    assert "xoxb-wrong-token-value" not in out
    assert "warn  teams: no teams yet" in out
    config.write_text('[org]\ntimezone = "Mars/Base"\n', encoding="utf-8")
    code, out = _run(config)
    assert code == 1 and out.startswith("FAIL  config:") and "org.timezone" in out
    code, out = _run(env / "missing.toml")
    assert code == 1 and "not found" in out


def test_unreachable_database_fails_without_traceback(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "SALESBOT_DATABASE__URL": "postgresql+psycopg://salesbot:dbpassword123@127.0.0.1:1/nowhere",
           "SALESBOT_WECOM__SECRET": WECOM_SECRET}
    proc = subprocess.run([sys.executable, "-m", "bot", "doctor"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=60)
    assert proc.returncode == 1
    assert "FAIL  database: cannot connect to postgresql+psycopg://salesbot:***@127.0.0.1:1/nowhere" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "dbpassword123" not in proc.stdout + proc.stderr and WECOM_SECRET not in proc.stdout + proc.stderr


_PLATFORM_CONFIG = {
    "slack": ('[slack]\nbot_token = "{t}"\nsigning_secret = "{s}"\napi_url = "{url}"\n', "slack.api_url", "Slack"),
    "wecom": ('[wecom]\ncorp_id = "ww0123456789"\nagent_id = "1000002"\nsecret = "{w}"\ntoken = "{wt}"\n'
              'encoding_aes_key = "{k}"\napi_base_url = "{url}"\n', "wecom.api_base_url", "WeCom"),
    "feishu": ('[feishu]\napp_id = "cli_doctor"\napp_secret = "{w}"\napi_base_url = "{url}"\n',
               "feishu.api_base_url", "Feishu"),
    "dingtalk": ('[dingtalk]\nclient_id = "dingdoctor"\nclient_secret = "{w}"\napi_base_url = "{url}"\n',
                 "dingtalk.api_base_url", "DingTalk"),
}


@pytest.mark.parametrize("platform", list(_PLATFORM_CONFIG))
def test_an_api_that_cannot_be_reached_or_answers_html_is_named_with_the_setting(
        platform: str, env: Path, db: Database, fake_api: str) -> None:
    build_org(db)
    text, setting, title = _PLATFORM_CONFIG[platform]
    config = env / "config.toml"
    closed = LoopbackServer(("127.0.0.1", 0), _Fake)  # bound, then closed: nothing listens there
    dead = f"http://127.0.0.1:{closed.server_address[1]}/"
    closed.server_close()
    for url, expected in ((dead, f"cannot reach the {title} API at {dead} (ConnectError): check the network, "
                                 f"a proxy, or {setting}"),
                          (f"{fake_api}/html/", f"answered HTTP 502 without JSON: check {setting}")):
        config.write_text(text.format(t=SLACK_TOKEN, s=SIGNING, w=WECOM_SECRET, wt=WECOM_TOKEN, k=AES_KEY, url=url),
                          encoding="utf-8")
        code, out = _run(config)
        fails = [line for line in out.splitlines() if line.startswith(f"FAIL  {platform}:")]
        assert code == 1 and len(fails) == 1 and expected in fails[0], out
        assert "Traceback" not in out and WECOM_SECRET not in out and SLACK_TOKEN not in out
