"""An access token cached per process and in the `kv` table (shared by every process of one app).

A token is fetched only when neither cache has a valid one, or when the platform has just refused
the cached one (`stale`): at most one fetch per refusal, never a loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.exc import IntegrityError

from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import KeyValue

MARGIN = timedelta(seconds=300)  # refresh a little before the platform's own expiry


@dataclass
class Token:
    value: str
    expires_at: datetime


# One cache per process, shared by every client of the same app.
_CACHE: dict[str, Token] = {}
_LOCK = threading.Lock()


class SharedToken:
    """`get()` a valid token; `fetch(now)` asks the platform for a new one (and raises if it cannot)."""

    def __init__(self, *, cache_key: str, memo_key: str, clock: Clock, db: Callable[[], Database],
                 fetch: Callable[[datetime], Token]) -> None:
        self.cache_key = cache_key  # the kv row
        self.memo_key = memo_key  # this process's cache (includes the API base, so fakes do not mix)
        self.clock = clock
        self._db = db
        self.fetch = fetch

    def get(self, *, stale: str | None = None) -> str:
        """Return a valid token; `stale` is one the platform just refused."""
        now = self.clock.now()
        with _LOCK:
            cached = _CACHE.get(self.memo_key)
            if cached and cached.value != stale and cached.expires_at > now + MARGIN:
                return cached.value
            shared = self._load(now)
            if shared and shared.value != stale:
                _CACHE[self.memo_key] = shared
                return shared.value
            fresh = self.fetch(now)
            _CACHE[self.memo_key] = fresh
            self._store(fresh)
            return fresh.value

    def forget(self) -> None:
        """Drop the cached token in this process (tests, or after a secret change)."""
        with _LOCK:
            _CACHE.pop(self.memo_key, None)

    def _load(self, now: datetime) -> Token | None:
        with self._db().unit_of_work() as s:
            row = s.get(KeyValue, self.cache_key)
            if row is None or row.expires_at is None or row.expires_at <= now + MARGIN:
                return None
            return Token(row.value, row.expires_at)

    def _store(self, token: Token) -> None:
        try:
            with self._db().unit_of_work() as s:
                row = s.get(KeyValue, self.cache_key)
                if row is None:
                    s.add(KeyValue(key=self.cache_key, value=token.value, expires_at=token.expires_at))
                else:
                    row.value, row.expires_at = token.value, token.expires_at
        except IntegrityError:  # another process stored one at the same moment; ours is valid too
            pass


class TokenClient:
    """What the clients of the platform APIs that use an app token share (WeCom, DingTalk, Feishu).

    The API's base URL (`base`, ending in /), the settings and clock, an HTTP client (closed by
    close() when it is ours), the database of the token cache (opened when first needed), and the
    app token: `token(stale=...)` and `forget_token()`. A subclass says how to fetch a token.
    """

    def __init__(self, settings: Settings, *, base_url: str, cache_key: str, db: Database | None = None,
                 clock: Clock | None = None, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.base = base_url.rstrip("/") + "/"
        self.clock = clock or SystemClock()
        self._db = db
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=settings.outbox.http_timeout_seconds)
        self.cache_key = cache_key
        self._token = SharedToken(cache_key=cache_key, memo_key=f"{self.base}|{cache_key}", clock=self.clock,
                                  db=lambda: self.db, fetch=self._fetch_token)

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database.url)
        return self._db

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def token(self, *, stale: str | None = None) -> str:
        """Return a valid token; `stale` is one the platform just refused."""
        return self._token.get(stale=stale)

    def forget_token(self) -> None:
        """Drop the cached token in this process (tests, or after a secret change)."""
        self._token.forget()

    def _fetch_token(self, now: datetime) -> Token:
        """Ask the platform for a new token (raise when it will not give one)."""
        raise NotImplementedError
