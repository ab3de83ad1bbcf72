"""`salesbot doctor` with DingTalk enabled: credentials checked by getting a token, a used-up quota said in words."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core import kvstate
from bot.core.db import Database
from bot.doctor import run_doctor
from tests.support.fake_dingtalk import FakeDingtalk
from tests.support.org import build_org

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture()
def fake(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeDingtalk]:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("SALESBOT_") and key != "SALESBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SALESBOT_DATABASE__URL", database_url)
    with FakeDingtalk().running() as api:
        yield api


def doctor(api: FakeDingtalk, secret: str) -> tuple[int, str]:
    Path("config.toml").write_text(
        f'[dingtalk]\nclient_id = "{api.client_id}"\nclient_secret = "{secret}"\n'
        f'api_base_url = "{api.url}"\noapi_base_url = "{api.oapi_url}"\n', encoding="utf-8")
    lines: list[str] = []
    code = run_doctor(None, echo=lines.append, now=NOW)
    return code, "\n".join(lines)


def test_good_credentials_are_accepted(fake: FakeDingtalk, db: Database) -> None:
    build_org(db)
    code, out = doctor(fake, fake.client_secret)
    assert "ok    dingtalk: AppKey and AppSecret accepted" in out and "salesbot connect" in out
    assert code == 0 and "FAIL" not in out


def test_a_wrong_secret_fails_in_plain_words_without_the_secret(fake: FakeDingtalk, db: Database) -> None:
    code, out = doctor(fake, "wrong-secret-value-123")
    assert code == 1
    assert "FAIL  dingtalk: DingTalk refused the credentials" in out and "dingtalk.client_secret" in out
    assert "wrong-secret-value-123" not in out


def test_a_used_up_monthly_quota_is_reported(fake: FakeDingtalk, db: Database) -> None:
    kvstate.record_quota_exceeded(db, platform="dingtalk", error="90020 ApiCountLimitForOrg", now=NOW)
    code, out = doctor(fake, fake.client_secret)
    assert code == 1
    assert "monthly API quota is used up (90020)" in out and "2026-11-23T02:00" in out
