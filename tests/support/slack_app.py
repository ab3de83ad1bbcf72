"""Build an App with Slack enabled against a FakeSlack, for the HTTP boundary tests."""

from __future__ import annotations

from typing import Any

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.wiring import App
from tests.conftest import make_settings
from tests.support.fake_slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"


def slack_settings(database_url: str, fake: FakeSlack, **overrides: Any) -> Settings:
    """Settings with Slack on (token, signing secret, the fake's URL) and fast retries."""
    data: dict[str, Any] = {"slack": {"bot_token": TOKEN, "signing_secret": SECRET, "api_url": fake.url},
                            "outbox": {"base_backoff_seconds": 0.05, "http_timeout_seconds": 5}}
    for key, value in overrides.items():
        data.setdefault(key, {}).update(value)
    return make_settings(database_url, **data)


def slack_app(settings: Settings, db: Database, *, clock: Clock | None = None) -> App:
    return App(settings, db=db, migrate=False, clock=clock)
