"""Small shared state in the `kv` table (several processes, one database): counters and notes with an expiry."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.core.db import Database
from models import KeyValue


def hashed(prefix: str, key: str) -> str:
    """A kv key for an arbitrary (long) key: prefix + its SHA-256."""
    return prefix + hashlib.sha256(key.encode()).hexdigest()


def get(db: Database, key: str, now: datetime) -> str | None:
    """The value stored under `key`, or None if there is none or it has expired."""
    with db.unit_of_work() as s:
        row = s.get(KeyValue, key)
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return row.value


def put(db: Database, key: str, value: str, expires_at: datetime | None) -> None:
    """Store `value` under `key` (insert or replace)."""
    for _ in range(2):
        try:
            with db.unit_of_work() as s:
                row = s.get(KeyValue, key)
                if row is None:
                    s.add(KeyValue(key=key, value=value, expires_at=expires_at))
                else:
                    row.value, row.expires_at = value, expires_at
            return
        except IntegrityError:  # another process inserted it at the same moment: update theirs
            continue


def delete(db: Database, key: str) -> None:
    with db.unit_of_work() as s:
        row = s.get(KeyValue, key)
        if row is not None:
            s.delete(row)


def get_int(db: Database, key: str, now: datetime) -> int:
    value = get(db, key, now)
    return int(value) if value is not None and value.lstrip("-").isdigit() else 0


# -- monthly quotas --------------------------------------------------------------------------------

def _quota_key(platform: str) -> str:
    return f"quota_exceeded:{platform}"


def _next_month(now: datetime) -> datetime:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=32)).replace(day=1)


def record_quota_exceeded(db: Database, *, platform: str, error: str, now: datetime) -> None:
    """Remember that a platform said its monthly quota is used up (doctor reports it until the month ends)."""
    put(db, _quota_key(platform), json.dumps({"at": now.astimezone(UTC).isoformat(), "error": error[:300]}),
        _next_month(now))


def quota_exceeded(db: Database, *, platform: str, now: datetime) -> dict[str, Any] | None:
    """{"at": ISO time, "error": text} when the platform reported its monthly quota used up this month."""
    value = get(db, _quota_key(platform), now)
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def clear_quota_exceeded(db: Database, *, platform: str) -> None:
    delete(db, _quota_key(platform))
