"""Fixtures shared by the Slack platform tests: a fake Slack Web API and an App with the org on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core.db import Database
from bot.core.settings import Settings
from bot.wiring import App
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.org import build_org
from tests.support.slack_app import slack_app, slack_settings


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def app(settings: Settings, database_url: str, db: Database, fake: FakeSlack) -> Iterator[App]:
    build_org(db)
    app = slack_app(slack_settings(database_url, fake), db)
    yield app
    app.outbox.ports.clear()
