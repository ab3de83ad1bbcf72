"""bot.core.db.read_beside: a read started on another connection sees what the session would, on every
database: committed rows always, and the session's own unwritten-yet-uncommitted changes once it wrote."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.core.db import Database, read_beside
from models import Region


def test_a_read_beside_sees_what_the_session_sees(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add(Region(code="east", name="East"))
    with db.unit_of_work() as s:
        count = read_beside(s, select(func.count()).select_from(Region))
        assert count() == [(1,)]
        s.add(Region(code="west", name="West"))
        s.flush()  # written, not committed: another connection would not see it, so the session reads it
        count = read_beside(s, select(func.count()).select_from(Region))
        assert count() == [(2,)]
    with db.unit_of_work() as s:
        assert read_beside(s, select(func.count()).select_from(Region))() == [(2,)]


def test_on_postgresql_it_runs_on_another_connection_at_once(db: Database) -> None:
    """Elsewhere it runs on the session's connection when asked (MariaDB keeps one snapshot a transaction)."""
    threads: list[str] = []

    def which(*_: object) -> None:
        threads.append(threading.current_thread().name)

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", which)
    try:
        with db.unit_of_work() as s:
            s.execute(select(1))  # the session's own connection, on this thread
            rows = read_beside(s, select(func.count()).select_from(Region))
            assert rows() == [(0,)]
    finally:
        event.remove(db.engine, "before_cursor_execute", which)
    beside = [name for name in threads if name.startswith("salesbot-read")]
    assert bool(beside) is (db.backend == "postgresql"), threads
