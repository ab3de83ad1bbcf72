"""The Feishu Open API over httpx: tenant_access_token cached per process and in the database.

lark-oapi's own client is not used for calls: it retries nothing, hides the rate-limit headers we
need (`x-ogw-ratelimit-reset`) behind its models, and keeps its token in one process only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.tokens import Token, TokenClient

log = logging.getLogger("salesbot.feishu")

TOKEN_PATH = "auth/v3/tenant_access_token/internal"
# codes that mean "this tenant_access_token is no good": refresh once and retry.
TOKEN_ERRORS = frozenset({99991661, 99991663, 99991664, 99991665, 99991668})
RATE_LIMITED = 99991400  # HTTP 429 with x-ogw-ratelimit-reset: wait that long
QUOTA_EXHAUSTED = 99991403  # HTTP 429: the free edition's monthly API calls are used up
CHAT_RATE_LIMITED = 230020  # 5 messages a second to one user or group


class ApiUnavailable(Exception):
    """A network error, timeout, server error or unreadable answer: try again later."""


@dataclass
class Reply:
    status: int
    code: int
    msg: str
    data: dict[str, Any] = field(default_factory=dict)
    reset: float | None = None  # seconds, from x-ogw-ratelimit-reset

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.code == 0

    @property
    def rate_limited(self) -> bool:
        return self.code in (RATE_LIMITED, CHAT_RATE_LIMITED) or (self.status == 429 and self.code != QUOTA_EXHAUSTED)

    @property
    def quota_exhausted(self) -> bool:
        return self.code == QUOTA_EXHAUSTED


def _reset_seconds(headers: httpx.Headers) -> float | None:
    raw = headers.get("x-ogw-ratelimit-reset")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class FeishuClient(TokenClient):
    """Call the Feishu API with the app's tenant_access_token; at most one token refresh per call."""

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 http: httpx.Client | None = None) -> None:
        super().__init__(settings, base_url=settings.feishu.api_base_url,
                         cache_key=f"feishu_token:{settings.feishu.app_id}", db=db, clock=clock, http=http)

    # -- tenant_access_token --------------------------------------------------------------------
    def fetch_token(self) -> Reply:
        """Ask for a tenant_access_token with the app id and secret (no cache): the raw answer."""
        feishu = self.settings.feishu
        return self._request("POST", TOKEN_PATH, json={
            "app_id": feishu.app_id, "app_secret": feishu.app_secret.get_secret_value()})

    def _fetch_token(self, now: datetime) -> Token:
        reply = self.fetch_token()
        value = reply.data.get("tenant_access_token")
        if not reply.ok or not isinstance(value, str) or not value:
            raise ApiUnavailable(f"tenant_access_token refused: code {reply.code} {reply.msg[:100]}")
        expires_in = int(reply.data.get("expire") or 7200)
        log.info("feishu tenant_access_token refreshed, valid %ds", expires_in)
        return Token(value, now + timedelta(seconds=expires_in))

    # -- calls ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                 **kwargs: Any) -> Reply:
        try:
            resp = self.http.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{type(exc).__name__} calling {path.split('?')[0]}") from None
        if resp.status_code >= 500:
            raise ApiUnavailable(f"HTTP {resp.status_code} from {path.split('?')[0]}")
        try:
            data = resp.json()
        except ValueError:
            raise ApiUnavailable(f"HTTP {resp.status_code} without JSON from {path.split('?')[0]}") from None
        if not isinstance(data, dict):
            raise ApiUnavailable("answer is not a JSON object")
        body = data.get("data") if isinstance(data.get("data"), dict) else {}
        if "tenant_access_token" in data:  # the token endpoint answers at the top level
            body = {"tenant_access_token": data["tenant_access_token"], "expire": data.get("expire")}
        try:
            code = int(data.get("code") or 0)
        except (TypeError, ValueError):
            code = -1
        return Reply(resp.status_code, code, str(data.get("msg") or ""), body, _reset_seconds(resp.headers))

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        """Call an API path with the tenant_access_token; refresh it once if Feishu refuses it."""
        token = self.token()
        for attempt in range(2):
            reply = self._request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if reply.code not in TOKEN_ERRORS or attempt == 1:
                return reply
            log.info("feishu refused the tenant_access_token (code %d); refreshing once", reply.code)
            token = self.token(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self) -> Reply:
        """The answer to a token request with the configured credentials (doctor, connect)."""
        return self.fetch_token()
