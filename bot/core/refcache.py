"""A process-wide cache of small reference tables that nearly every request reads.

Holidays, report-field definitions and admin template versions change a few times a year, yet a
daily report needs all three. Reading them once per request cost three of the report path's
round trips, so they are kept here:

- per database (engine URL), so that two ``Database`` objects on the same database share it;
- dropped as soon as this process writes to one of the watched tables (any INSERT, UPDATE or
  DELETE that goes through SQLAlchemy, ORM or Core), and again when the writing connection goes
  back to the pool (after its commit or rollback), so a reader never keeps what it read before;
- and kept at most ``TTL_SECONDS`` in any case, which bounds how long another replica's write
  takes to be seen here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlalchemy.sql.dml import UpdateBase

T = TypeVar("T")

TTL_SECONDS = 10.0
WATCHED_TABLES = frozenset({"holidays", "report_fields", "template_versions"})
_DIRTY = "salesbot_refcache_dirty"

_lock = threading.Lock()
_entries: dict[tuple[URL, Any], tuple[float, Any]] = {}
_generation: dict[URL, int] = {}


def _url(session: Session) -> URL:
    return session.get_bind().url


def get(session: Session, key: Any, load: Callable[[], T]) -> T:
    """Return the cached value for `key` on this session's database, loading it when missing or old."""
    url = _url(session)
    now = time.monotonic()
    with _lock:
        hit = _entries.get((url, key))
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[no-any-return]
        generation = _generation.get(url, 0)
    value = load()
    with _lock:
        # Keep it only if nothing was written meanwhile: what we read may predate that write.
        if _generation.get(url, 0) == generation:
            _entries[(url, key)] = (now + TTL_SECONDS, value)
    return value


def invalidate(url: URL | None = None) -> None:
    """Forget what is cached for one database (or for all)."""
    with _lock:
        if url is None:
            for known in list(_generation):
                _generation[known] += 1
            _entries.clear()
            return
        _generation[url] = _generation.get(url, 0) + 1
        for cached in [k for k in _entries if k[0] == url]:
            del _entries[cached]


def _after_execute(conn: Any, clauseelement: Any, *_args: Any) -> None:
    if isinstance(clauseelement, UpdateBase):
        table = getattr(clauseelement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            url = conn.engine.url
            conn.info[_DIRTY] = url  # the pooled connection's info: seen again at check-in
            invalidate(url)


def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
    url = record.info.pop(_DIRTY, None) if record is not None else None
    if url is not None:
        invalidate(url)


event.listen(Engine, "after_execute", _after_execute)
event.listen(Pool, "checkin", _on_checkin)
