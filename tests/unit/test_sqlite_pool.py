"""SQLite engines: one pooled connection (threads queue for it), a bounded page cache, no mmap."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from bot.core.db import SQLITE_CACHE_KIB, make_engine


def test_threads_queue_for_the_one_connection_instead_of_opening_more(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/pool.db")
    opened: list[int] = []
    got_it = threading.Event()

    def second() -> None:
        with engine.connect() as conn:
            opened.append(id(conn.connection.dbapi_connection))
            got_it.set()

    try:
        with engine.connect() as first:
            opened.append(id(first.connection.dbapi_connection))
            other = threading.Thread(target=second)
            other.start()
            time.sleep(0.3)
            assert not got_it.is_set()  # waiting in the pool, not on a connection of its own
        assert got_it.wait(5)
        other.join(5)
        assert len(set(opened)) == 1
        assert engine.pool.size() == 1 and engine.pool.overflow() <= 0
    finally:
        engine.dispose()


def test_page_cache_is_bounded_and_mmap_is_off(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/pragmas.db")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
            assert conn.execute(text("PRAGMA mmap_size")).scalar() == 0
    finally:
        engine.dispose()


def test_in_memory_database_keeps_working_across_threads():
    engine = make_engine("sqlite://")
    results: list[int] = []

    def query() -> None:
        with engine.connect() as conn:
            results.append(conn.execute(text("SELECT 1")).scalar())

    try:
        threads = [threading.Thread(target=query) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert results == [1, 1, 1]
    finally:
        engine.dispose()
