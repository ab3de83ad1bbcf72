"""The DingTalk API over httpx: the app's access token cached per process and in the database, bounded refresh.

Two hosts: `api.dingtalk.com` (the v1.0 APIs: errors are HTTP 4xx/5xx with a string `code`) and
`oapi.dingtalk.com` (the older ones, here only media/upload: HTTP 200 with a numeric `errcode`).
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

log = logging.getLogger("salesbot.dingtalk")

TOKEN_HEADER = "x-acs-dingtalk-access-token"

# What a failure means, from DingTalk's codes (v1.0 string codes and oapi errcodes).
RATE_LIMITED = "rate"  # 90018 / QpsLimitForAppkeyAndApi...: wait a second
QUOTA = "quota"  # 90020 / ApiCountLimitForOrg: the organisation's monthly calls are used up
TOKEN = "token"  # the access token is no good: refresh once
PERMANENT = "permanent"  # the request itself is wrong: retrying will not help
RETRY = "retry"  # busy, 5xx, unknown: try again later

_RATE_CODES = frozenset({90018, 90002, 90006})
_QUOTA_CODES = frozenset({90020})
_TOKEN_CODES = frozenset({40014, 42001, 88, 40001})


class ApiUnavailable(Exception):
    """The request did not get an answer: a network error or a timeout.

    `maybe_sent` is True when the request went out before the failure (a read timeout): DingTalk
    may have acted on it, and it has no idempotency key, so a retry may repeat it.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


@dataclass
class ApiReply:
    status: int
    code: str  # "" when it went well
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.code

    @property
    def kind(self) -> str:
        """How to treat this reply when it is not ok (see the constants above)."""
        code = self.code
        number = int(code) if code.lstrip("-").isdigit() else None
        lowered = code.lower()
        if number in _RATE_CODES or "qpslimit" in lowered or "too.fast" in lowered or "too.many" in lowered \
                or "throttl" in lowered or self.status == 429:
            return RATE_LIMITED
        if number in _QUOTA_CODES or "apicountlimit" in lowered or "quota" in lowered:
            return QUOTA
        if "permissiondenied" in lowered or "nopermission" in lowered or "ipnotinwhitelist" in lowered:
            return PERMANENT  # the app lacks a permission (or this server's IP is not allowed): fix the app
        if number in _TOKEN_CODES or self.status == 401 or "invalidauthentication" in lowered \
                or "accesstoken" in lowered:
            return TOKEN
        if self.status >= 500 or number == -1 or lowered in ("", "systemerror", "servicebusy"):
            return RETRY
        return PERMANENT

    def describe(self) -> str:
        return f"dingtalk HTTP {self.status} {self.code}: {self.message[:200]}".strip()


class QuotaExceeded(Exception):
    """DingTalk said the organisation's monthly API quota is used up (90020)."""


class DingtalkClient(TokenClient):
    """Call DingTalk with the app's access token; at most one token refresh per call."""

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 http: httpx.Client | None = None) -> None:
        cfg = settings.dingtalk
        super().__init__(settings, base_url=cfg.api_base_url, cache_key=f"dingtalk_token:{cfg.client_id}", db=db,
                         clock=clock, http=http)
        self.oapi = cfg.oapi_base_url.rstrip("/") + "/"

    # -- access token ---------------------------------------------------------------------
    def _fetch_token(self, now: datetime) -> Token:
        return self.fetch_token()

    def fetch_token(self) -> Token:
        """POST /v1.0/oauth2/accessToken with the AppKey and AppSecret (raises TokenRefused or ApiUnavailable)."""
        cfg = self.settings.dingtalk
        reply = self._request("POST", self.base + "v1.0/oauth2/accessToken",
                              json={"appKey": cfg.client_id, "appSecret": cfg.client_secret.get_secret_value()})
        value = reply.data.get("accessToken")
        if not reply.ok or not isinstance(value, str) or not value:
            if reply.kind == QUOTA:
                raise QuotaExceeded(reply.describe())
            raise TokenRefused(reply)
        expires_in = int(reply.data.get("expireIn") or 7200)
        log.info("dingtalk access token refreshed, valid %ds", expires_in)
        return Token(value, self.clock.now() + timedelta(seconds=expires_in))

    # -- calls ------------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> ApiReply:
        try:
            resp = self.http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ApiUnavailable(f"{type(exc).__name__} calling {url.split('?')[0]}") from None
        except httpx.HTTPError as exc:  # read/write timeout, connection reset: it may have gone out
            raise ApiUnavailable(f"{type(exc).__name__} calling {url.split('?')[0]}", maybe_sent=True) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return ApiReply(resp.status_code, "" if resp.status_code < 300 else f"http_{resp.status_code}",
                            "answer is not a JSON object" if resp.status_code < 300 else "", {})
        code = data.get("code") if resp.status_code >= 300 else None
        errcode = data.get("errcode")
        if code is None and errcode not in (None, 0, "0"):
            code = errcode
        if resp.status_code >= 300 and code is None:
            code = f"http_{resp.status_code}"
        message = str(data.get("message") or data.get("errmsg") or "")
        return ApiReply(resp.status_code, str(code) if code is not None else "", message, data)

    def call(self, method: str, path: str, *, json: dict[str, Any] | None = None) -> ApiReply:
        """Call a v1.0 API with the access token in its header; refresh it once if DingTalk refuses it."""
        token = self.token()
        for attempt in range(2):
            reply = self._request(method, self.base + path, json=json, headers={TOKEN_HEADER: token})
            if reply.ok or reply.kind != TOKEN or attempt == 1:
                return reply
            log.info("dingtalk refused the access token (%s); refreshing once", reply.code)
            token = self.token(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def upload_image(self, content: bytes, name: str) -> ApiReply:
        """oapi media/upload (type image): the reply's data has the media_id."""
        token = self.token()
        for attempt in range(2):
            reply = self._request("POST", self.oapi + "media/upload", params={"access_token": token, "type": "image"},
                                  files={"media": (name, content, "image/png")})
            if reply.ok or reply.kind != TOKEN or attempt == 1:
                return reply
            token = self.token(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self) -> ApiReply | None:
        """Return None when an access token can be had with the configured AppKey and AppSecret, else the reply."""
        try:
            self.fetch_token()
        except TokenRefused as exc:
            return exc.reply
        except QuotaExceeded as exc:
            return ApiReply(403, "90020", str(exc))
        return None


class TokenRefused(Exception):
    """DingTalk refused the AppKey/AppSecret (or answered without a token)."""

    def __init__(self, reply: ApiReply) -> None:
        super().__init__(reply.describe())
        self.reply = reply
