"""Shared by the PostgreSQL benchmarks: create the bench database if it is missing (loopback only)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def ensure_database(url: str) -> None:
    """CREATE DATABASE when the URL's database does not exist yet."""
    parsed = make_url(url)
    if parsed.host not in ("127.0.0.1", "localhost", "::1", None):
        raise SystemExit(f"benchmarks only use a local database, not {parsed.host}")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
