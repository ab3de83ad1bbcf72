"""POST /dingtalk/callback (dingtalk.mode = http): verify, store the event, answer at once, handle after.

DingTalk signs only the timestamp (`sign` = Base64(HMAC-SHA256(AppSecret, timestamp + "\\n" + AppSecret))),
not the body: a request is accepted when the signature verifies and the timestamp is within
`dingtalk.max_timestamp_skew_seconds` (DingTalk itself allows an hour; we allow five minutes), and
a replayed body is harmless because each message is handled once per msgId.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.core.handling import ReceivingApp as App
from bot.core.types import Inbound
from bot.platforms.dingtalk.convert import (
    card_callback_to_inbound,
    is_card_callback,
    robot_message_to_inbound,
)

log = logging.getLogger("salesbot.dingtalk")

MAX_BODY_BYTES = 1_000_000




def signature(timestamp: str, secret: str) -> str:
    """DingTalk's `sign` header for a timestamp (milliseconds, as a string)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers: dict[str, str], *, secret: str, now: datetime, max_skew_seconds: int) -> str | None:
    """Return None when the request is DingTalk's and fresh, else why it is refused."""
    timestamp = (headers.get("timestamp") or "").strip()
    sign = (headers.get("sign") or "").strip()
    if not timestamp.isdigit() or not sign:
        return "missing timestamp or sign header"
    if abs(now.timestamp() * 1000 - int(timestamp)) > max_skew_seconds * 1000:
        return "stale timestamp"
    if not secret or not hmac.compare_digest(signature(timestamp, secret).encode(), sign.encode()):
        return "bad signature"
    return None


def to_inbound(data: dict[str, Any]) -> Inbound | None:
    """A callback body (robot message or card click) as an Inbound; None for what the bot ignores."""
    if is_card_callback(data):
        return card_callback_to_inbound(data)
    return robot_message_to_inbound(data)


class DingtalkCallback:
    """The one endpoint DingTalk calls in HTTP mode: robot messages and card clicks."""

    def __init__(self, app: App, *, on_inbound: Callable[[str, str], None] | None = None) -> None:
        self.app = app
        self.on_inbound = on_inbound

    async def receive(self, request: Request) -> Response:
        with self.app.handling.acking():
            return await self._receive(request)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "too large"}, status_code=413)
        cfg = self.app.settings.dingtalk
        refused = verify({k.lower(): v for k, v in request.headers.items()},
                         secret=cfg.client_secret.get_secret_value(), now=self.app.clock.now(),
                         max_skew_seconds=cfg.max_timestamp_skew_seconds)
        if refused is not None:
            log.warning("dingtalk callback refused: %s", refused)
            if self.on_inbound is not None:
                self.on_inbound("dingtalk", "rejected")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            data = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        inbound = to_inbound(data) if isinstance(data, dict) else None
        if inbound is None:
            return JSONResponse({})
        if self.on_inbound is not None:
            self.on_inbound("dingtalk", str(inbound.kind))
        try:
            event_id = await run_in_threadpool(self.app.receive, inbound)
        except Exception:  # the database is down: answer an error rather than lose it silently
            log.exception("dingtalk callback could not be recorded key=%s", inbound.event_key)
            return JSONResponse({"error": "try again"}, status_code=500)
        if event_id is not None:  # None: a second delivery of a message we already have
            self.app.handle_later(event_id, inbound)
        return JSONResponse({})


def dingtalk_routes(app: App, *, on_inbound: Callable[[str, str], None] | None = None) -> list[Route]:
    """The route of the DingTalk callback URL for the HTTP server."""
    callback = DingtalkCallback(app, on_inbound=on_inbound)
    return [Route("/dingtalk/callback", callback.receive, methods=["POST"])]
