"""The reference-data cache: never serves what this process has overwritten, even through another engine."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete

from bot.core import refcache
from bot.core.db import Database
from models import Holiday
from services.calendar import load_calendar

SATURDAY = date(2026, 11, 28)


def test_a_write_through_another_database_object_is_seen_at_once(db: Database) -> None:
    with db.unit_of_work() as s:
        assert not load_calendar(s, "CN").is_workday(SATURDAY)
    other = Database(db.url)  # e.g. `salesbot import holidays` in the same process
    try:
        with other.unit_of_work() as s:
            s.add(Holiday(day=SATURDAY, kind="workday", name="make-up"))
        with db.unit_of_work() as s:
            assert load_calendar(s, "CN").is_workday(SATURDAY)
        with other.engine.begin() as conn:  # a Core DELETE counts too
            conn.execute(delete(Holiday))
        with db.unit_of_work() as s:
            assert not load_calendar(s, "CN").is_workday(SATURDAY)
    finally:
        other.dispose()


def test_cached_value_is_reused_until_it_expires(db: Database, monkeypatch) -> None:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    with db.unit_of_work() as s:
        assert refcache.get(s, "probe", load) == 1
        assert refcache.get(s, "probe", load) == 1
        monkeypatch.setattr(refcache, "TTL_SECONDS", -1.0)
        refcache.invalidate()
        assert refcache.get(s, "probe", load) == 2
        assert refcache.get(s, "probe", load) == 3  # expired at once


def test_a_rolled_back_write_still_drops_the_cache(db: Database) -> None:
    with db.unit_of_work() as s:
        load_calendar(s, "CN")
    session = db.sessions()
    try:
        session.add(Holiday(day=SATURDAY, kind="workday", name="x"))
        session.flush()
        session.rollback()
    finally:
        session.close()
    with db.unit_of_work() as s:
        assert not load_calendar(s, "CN").is_workday(SATURDAY)
