"""Shared fixtures: a real database (SALESBOT_TEST_DATABASE_URL, else a temp SQLite), an App, an org."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings, load_settings
from models import Base

TEST_URL_ENV = "SALESBOT_TEST_DATABASE_URL"


def test_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get(TEST_URL_ENV)
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return test_database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def migrated_db(database_url: str) -> Iterator[Database]:
    """The test database, emptied and migrated once per session."""
    db = Database(database_url)
    with db.engine.begin() as conn:
        if db.backend == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if db.backend == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    db.upgrade()
    yield db
    db.dispose()


def wipe(db: Database) -> None:
    """Delete every row, children first."""
    with db.engine.begin() as conn:
        if db.backend == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
        if db.backend == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture()
def db(migrated_db: Database) -> Iterator[Database]:
    wipe(migrated_db)
    yield migrated_db


@pytest.fixture()
def clock() -> FixedClock:
    # Monday 2026-11-23 10:00 in Shanghai.
    return FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    data: dict[str, Any] = {"database": {"url": database_url}}
    for key, value in overrides.items():
        data.setdefault(key, {}).update(value)
    return load_settings(None, **data)


@pytest.fixture()
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml
    monkeypatch.delenv("SALESBOT_CONFIG", raising=False)
    return make_settings(database_url)
