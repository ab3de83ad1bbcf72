"""`salesbot doctor` with Feishu enabled: credentials checked by getting a token, http-mode settings, the quota."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core import kvstate
from bot.core.db import Database
from bot.doctor import run_doctor
from tests.support.fake_feishu import FakeFeishu, add_feishu_ids
from tests.support.org import build_org

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture()
def fake(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeFeishu]:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("SALESBOT_") and key != "SALESBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SALESBOT_DATABASE__URL", database_url)
    with FakeFeishu().running() as api:
        yield api


def doctor(api: FakeFeishu, secret: str, extra: str = "") -> tuple[int, str]:
    Path("config.toml").write_text(
        f'[feishu]\napp_id = "{api.app_id}"\napp_secret = "{secret}"\napi_base_url = "{api.url}"\n{extra}',
        encoding="utf-8")
    lines: list[str] = []
    code = run_doctor(None, echo=lines.append, now=NOW)
    return code, "\n".join(lines)


def test_good_credentials_are_accepted(fake: FakeFeishu, db: Database) -> None:
    add_feishu_ids(db, build_org(db))
    code, out = doctor(fake, fake.app_secret)
    assert "ok    feishu: app id and secret accepted" in out and "salesbot connect" in out
    assert code == 0 and "FAIL" not in out


def test_a_wrong_secret_fails_in_plain_words_without_the_secret(fake: FakeFeishu, db: Database) -> None:
    code, out = doctor(fake, "wrong-secret-value-123")
    assert code == 1
    assert "FAIL  feishu: Feishu refused the credentials (code 10014)" in out and "feishu.app_secret" in out
    assert "wrong-secret-value-123" not in out


def test_http_mode_without_the_encrypt_key_fails(fake: FakeFeishu, db: Database) -> None:
    code, out = doctor(fake, fake.app_secret, 'mode = "http"\nverification_token = "vt-secret-1234"\n')
    assert code == 1 and "feishu.encrypt_key is empty" in out and "vt-secret-1234" not in out


def test_a_used_up_monthly_quota_is_reported(fake: FakeFeishu, db: Database) -> None:
    kvstate.record_quota_exceeded(db, platform="feishu", error="feishu HTTP 429 code 99991403", now=NOW)
    code, out = doctor(fake, fake.app_secret)
    assert code == 1
    assert "monthly API quota is used up (99991403)" in out and "2026-11-23T02:00" in out
