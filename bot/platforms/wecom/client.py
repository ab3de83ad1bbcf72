"""The WeCom API over httpx: access token cached per process and in the database, bounded refresh."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.tokens import Token, TokenClient

log = logging.getLogger("salesbot.wecom")

# errcodes that mean "this access token is no good": refresh once and retry.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})

_SECRET_QUERY = re.compile(r"(access_token|corpsecret|key)=[^&\s\"']+")


def redact(text: str) -> str:
    """Hide tokens, secrets and webhook keys in a URL or message."""
    return _SECRET_QUERY.sub(r"\1=***", text)


class _RedactFilter(logging.Filter):
    """httpx logs every request URL at INFO, query string included: hide the secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args)
        return True


if not any(isinstance(f, _RedactFilter) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactFilter())


class ApiUnavailable(Exception):
    """A network error, timeout, HTTP error or unreadable answer: try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class ApiReply:
    errcode: int
    errmsg: str
    data: dict[str, Any] = field(default_factory=dict)


class WecomClient(TokenClient):
    """Call the WeCom API with the app's access token; at most one token refresh per call."""

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 http: httpx.Client | None = None) -> None:
        wecom = settings.wecom
        super().__init__(settings, base_url=wecom.api_base_url,
                         cache_key=f"wecom_token:{wecom.corp_id}:{wecom.agent_id}", db=db, clock=clock, http=http)

    # -- access token ---------------------------------------------------------------------
    def _fetch_token(self, now: datetime) -> Token:
        wecom = self.settings.wecom
        reply = self._request("GET", "gettoken", params={
            "corpid": wecom.corp_id, "corpsecret": wecom.secret.get_secret_value()})
        value = reply.data.get("access_token")
        if reply.errcode != 0 or not isinstance(value, str) or not value:
            raise ApiUnavailable(f"gettoken failed: errcode {reply.errcode} {reply.errmsg}")
        expires_in = int(reply.data.get("expires_in") or 7200)
        log.info("wecom access token refreshed, valid %ds", expires_in)
        return Token(value, now + timedelta(seconds=expires_in))

    # -- calls ------------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> ApiReply:
        full = url if url.startswith(("http://", "https://")) else self.base + url
        try:
            resp = self.http.request(method, full, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{type(exc).__name__} calling {redact(url.split('?')[0])}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            retry = resp.headers.get("Retry-After")
            raise ApiUnavailable(f"HTTP {resp.status_code}",
                                 retry_after=float(retry) if retry and retry.isdigit() else None)
        if resp.status_code != 200:
            raise ApiUnavailable(f"HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise ApiUnavailable("answer is not JSON") from None
        if not isinstance(data, dict):
            raise ApiUnavailable("answer is not a JSON object")
        return ApiReply(int(data.get("errcode") or 0), str(data.get("errmsg") or ""), data)

    def call(self, path: str, *, json: dict[str, Any] | None = None, params: dict[str, str] | None = None,
             files: dict[str, Any] | None = None) -> ApiReply:
        """POST to an API path with the access token; refresh it once if WeCom refuses it."""
        token = self.token()
        for attempt in range(2):
            query = dict(params or {}) | {"access_token": token}
            reply = self._request("POST", path, params=query, json=json, files=files)
            if reply.errcode not in TOKEN_ERRORS or attempt == 1:
                return reply
            log.info("wecom refused the access token (errcode %d); refreshing once", reply.errcode)
            token = self.token(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def post_webhook(self, url: str, json: dict[str, Any]) -> ApiReply:
        """POST to a group robot's webhook URL (it carries its own key, no token)."""
        return self._request("POST", url, json=json)

    def check(self) -> str | None:
        """Return None when gettoken works with the configured secret, else what went wrong."""
        try:
            self._fetch_token(self.clock.now())
        except ApiUnavailable as exc:
            return redact(str(exc))
        return None
