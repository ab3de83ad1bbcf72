"""Helpers for port tests: enqueue and deliver through an env's App, read the outbox, drain it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Outbound
from models import OutboxMessage, Person


def person_id(db: Database, code: str) -> int:
    with db.unit_of_work() as s:
        pid = s.scalar(select(Person.id).where(Person.code == code))
        assert pid is not None
        return pid


def send(env: Any, *messages: Outbound, base: str = "t") -> list[str]:
    """Enqueue messages through `env.app` (at `env.clock`) and deliver them at once; return their keys."""
    with env.app.db.unit_of_work() as s:
        keys = enqueue(s, list(messages), base_key=base, settings=env.app.settings, now=env.clock.now())
    env.app.outbox.deliver(keys)
    return keys


def rows(db: Database) -> dict[str, OutboxMessage]:
    with db.unit_of_work() as s:
        return {r.key: r for r in s.scalars(select(OutboxMessage))}


def drain(env: Any, *, step: float = 65, rounds: int = 60) -> None:
    """Deliver what is due, moving the clock on by `step` seconds, until the outbox is empty."""
    for _ in range(rounds):
        env.app.outbox.deliver()
        if env.app.outbox.backlog() == 0:
            return
        env.clock.advance(seconds=step)
    raise AssertionError("outbox not drained")
