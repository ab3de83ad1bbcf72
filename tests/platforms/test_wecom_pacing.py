"""WeCom's per-member limit counts messages: a row sent as several messages must be paced as several."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Outbound, ToPerson
from models import Person
from tests.support.fake_wecom import WecomEnv, wecom_env
from tests.support.org import build_org

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[WecomEnv]:
    build_org(db)
    with wecom_env(db, clock, database_url) as e:
        yield e


def test_twenty_texts_with_a_chart_are_forty_messages_and_none_is_dropped(env: WecomEnv, db: Database) -> None:
    # A regional manager's weekly reviews: one row per team, each a text and a chart (2 message/send).
    with db.unit_of_work() as s:
        manager = s.scalar(select(Person.id).where(Person.code == "mgr_east"))
        assert manager is not None
        enqueue(s, [Outbound(to=ToPerson(manager), text=f"**周报** 第{i}组", image=PNG, key=f"weekly{i}")
                    for i in range(20)], base_key="weekly", settings=env.app.settings, now=env.clock.now())
    for _ in range(10):
        env.app.outbox.deliver()
        if env.app.outbox.backlog() == 0:
            break
        env.clock.advance(seconds=20)
    assert env.app.outbox.backlog() == 0
    assert env.fake.dropped == []
    assert len([c for c in env.fake.delivered if c.body.get("touser") == "chenjl"]) == 40
    assert env.fake.max_in_window("chenjl") <= 30


def test_one_message_rows_still_fill_the_minute(env: WecomEnv, db: Database) -> None:
    with db.unit_of_work() as s:
        zhang = s.scalar(select(Person.id).where(Person.code == "zhang"))
        assert zhang is not None
        enqueue(s, [Outbound(to=ToPerson(zhang), text=f"提醒 {i}", key=f"r{i}") for i in range(31)],
                base_key="r", settings=env.app.settings, now=env.clock.now())
    env.app.outbox.deliver()
    assert len(env.fake.delivered) == 30 and env.app.outbox.backlog() == 1
