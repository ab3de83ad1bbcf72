"""Send outbox envelopes through the DingTalk robot APIs: markdown, images, cards and their updates.

DingTalk has no idempotency key, so the port keeps what it needs to avoid repeating itself: the
parts of a long message already sent, and how often a send has timed out (a timed-out send may
have arrived; it is retried at most `dingtalk.timeout_retries` times, each time counted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.core import kvstate
from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.ports import Envelope, SendResult
from bot.core.router import BUTTON_COMMANDS
from bot.core.settings import Settings
from bot.platforms.dingtalk.client import (
    QUOTA,
    RATE_LIMITED,
    RETRY,
    TOKEN,
    ApiReply,
    ApiUnavailable,
    DingtalkClient,
    QuotaExceeded,
    TokenRefused,
)
from bot.platforms.dingtalk.convert import (
    MEDIA_PLACEHOLDER,
    PLATFORM,
    Request,
    card_update_request,
    message_requests,
)

log = logging.getLogger("salesbot.dingtalk")

RATE_WAIT = 1.0  # seconds: DingTalk's QPS limit is per second
STATE_TTL = timedelta(days=3)
CARD_PREFIX = "sb_"  # outTrackIds we made (convert.out_track_id)


def callback_route_key(client_id: str) -> str:
    """The route key our HTTP card callbacks are registered under (one per app)."""
    return "salesbot_" + hashlib.sha256(client_id.encode()).hexdigest()[:16]


def planned_requests(env: Envelope, settings: Settings, *, callback_route: str | None = None) -> list[Request]:
    """The requests DingtalkPort makes for an envelope when each one succeeds, in order (pure)."""
    cfg = settings.dingtalk
    if env.update_id and env.update_id.startswith(CARD_PREFIX):
        return [card_update_request(env.payload, out_track=env.update_id)]
    template = cfg.card_template_id if (cfg.mode == "stream" or callback_route) else ""
    return message_requests(env.payload, key=env.key, target_kind=env.target_kind, target=env.target,
                            robot_code=cfg.robot, template_id=template, commands=BUTTON_COMMANDS,
                            callback_route_key=callback_route)


def wire_calls(env: Envelope, settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """planned_requests() as (API, JSON body) pairs for people to read: the upload of an image shown
    before its message, and msgParam (sent as a JSON string) shown decoded."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for request in planned_requests(env, settings):
        body = request.body
        if request.image is not None:
            calls.append(("POST oapi media/upload", {"type": "image", "media": env.payload.get("image_name")
                                                     or "chart.png"}))
        if isinstance(body.get("msgParam"), str):
            param = json.loads(body["msgParam"])
            if param.get("photoURL") == MEDIA_PLACEHOLDER:
                param["photoURL"] = "<media_id from media/upload>"
            body = body | {"msgParam": param}
        calls.append((f"{request.method} {request.path}", body))
    return calls


class DingtalkPort:
    """The DingTalk sending port: one outbox row may be several requests, each sent once."""

    platform = PLATFORM

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 client: DingtalkClient | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = client or DingtalkClient(settings, db=db, clock=self.clock)
        self._registered = False
        self._register_lock = threading.Lock()

    @property
    def db(self) -> Database:
        return self.client.db

    def close(self) -> None:
        self.client.close()

    # -- entry point ------------------------------------------------------------------------
    def send(self, envelope: Envelope) -> SendResult:
        """Send one envelope; report ok only when every request went."""
        try:
            if envelope.update_id and envelope.update_id.startswith(CARD_PREFIX):
                updated = self._update_card(envelope)
                if updated is not None:
                    return updated
                envelope = replace(envelope, update_id=None)  # the card is gone: say it in a new message
            requests = self.plan(envelope)
            return self._send_requests(envelope, requests)
        except ApiUnavailable as exc:
            if exc.maybe_sent:
                return self._timed_out(envelope, str(exc))
            return SendResult(ok=False, error=str(exc))
        except QuotaExceeded as exc:
            return self._quota(str(exc))
        except TokenRefused as exc:
            return SendResult(ok=False, error=f"access token refused: {exc}"[:500])
        except ValueError as exc:
            return SendResult(ok=False, permanent=True, error=str(exc)[:500])

    def plan(self, env: Envelope) -> list[Request]:
        """The requests this envelope becomes (in HTTP mode, with the card callback registered first)."""
        cfg = self.settings.dingtalk
        route_key = self._card_callback_route() if cfg.card_template_id and cfg.mode == "http" else None
        # Without a route in HTTP mode clicks could not reach us: the buttons are named as commands instead.
        return planned_requests(env, self.settings, callback_route=route_key)

    # -- sending ----------------------------------------------------------------------------
    def _send_requests(self, env: Envelope, requests: list[Request]) -> SendResult:
        progress_key = kvstate.hashed("dingtalk_parts:", env.key)
        done = kvstate.get_int(self.db, progress_key, self.clock.now()) if len(requests) > 1 else 0
        ref_id: str | None = None
        for index in range(done, len(requests)):
            try:
                reply = self._call(env, requests[index])
            except (ApiUnavailable, QuotaExceeded):
                self._save_progress(progress_key, index, done)
                raise
            failure = self._failure(env, reply)
            if failure is not None:
                self._save_progress(progress_key, index, done)
                failure.extra = {"parts_sent": index, "parts": len(requests)} | failure.extra
                return failure
            ref_id = requests[index].meta.get("out_track_id") or ref_id or _query_key(reply)
        if len(requests) > 1:
            kvstate.delete(self.db, progress_key)
        kvstate.delete(self.db, kvstate.hashed("dingtalk_timeouts:", env.key))
        return SendResult(ok=True, ref_channel=env.target, ref_id=ref_id,
                          extra={"parts_sent": len(requests), "parts": len(requests)})

    def _save_progress(self, key: str, sent: int, before: int) -> None:
        if sent > before:
            kvstate.put(self.db, key, str(sent), self.clock.now() + STATE_TTL)

    def _call(self, env: Envelope, request: Request) -> ApiReply:
        body = request.body
        if request.image is not None:
            up = self.client.upload_image(request.image, str(env.payload.get("image_name") or "chart.png"))
            media = up.data.get("media_id")
            if not up.ok or not media:
                return up if not up.ok else ApiReply(200, "no_media_id", "media/upload gave no media_id")
            body = dict(body) | {"msgParam": body["msgParam"].replace(MEDIA_PLACEHOLDER, str(media))}
        return self.client.call(request.method, request.path, json=body)

    def _failure(self, env: Envelope, reply: ApiReply) -> SendResult | None:
        """None when the request went, else how the outbox should treat it."""
        if reply.ok:
            data = reply.data
            throttled = data.get("flowControlledStaffIdList") or []
            invalid = data.get("invalidStaffIdList") or []
            if env.target in invalid:
                return SendResult(ok=False, permanent=True,
                                  error=f"dingtalk: {env.target} cannot receive messages from this robot "
                                        "(not in the organisation, or outside the app's visible range)")
            if env.target in throttled:  # accepted for the others, throttled for this one: try it again
                return SendResult(ok=False, retry_after=RATE_WAIT, error=f"dingtalk: {env.target} flow-controlled")
            result = data.get("result")
            if isinstance(result, dict):
                failed = [d for d in result.get("deliverResults") or [] if isinstance(d, dict)
                          and d.get("success") is False]
                if failed:
                    return SendResult(ok=False, permanent=True,
                                      error=f"dingtalk card not delivered: {failed[0].get('errorMsg') or ''}"[:500])
            return None
        kind = reply.kind
        if kind == RATE_LIMITED:
            return SendResult(ok=False, retry_after=RATE_WAIT, error=reply.describe())
        if kind == QUOTA:
            return self._quota(reply.describe())
        if kind in (RETRY, TOKEN):
            return SendResult(ok=False, error=reply.describe())
        return SendResult(ok=False, permanent=True, error=reply.describe())

    def _quota(self, error: str) -> SendResult:
        """The organisation's monthly quota is used up: no retry loop; remembered for doctor, counted, logged."""
        log.error("dingtalk monthly API quota used up (%s): messages are not retried; see `salesbot doctor`",
                  error[:200])
        kvstate.record_quota_exceeded(self.db, platform=PLATFORM, error=error, now=self.clock.now())
        return SendResult(ok=False, permanent=True, error=error[:500], extra={"events": ["quota"]})

    def _timed_out(self, env: Envelope, error: str) -> SendResult:
        """A request timed out after it went out: it may have arrived. Retry a bounded number of times."""
        key = kvstate.hashed("dingtalk_timeouts:", env.key)
        count = kvstate.get_int(self.db, key, self.clock.now()) + 1
        kvstate.put(self.db, key, str(count), self.clock.now() + STATE_TTL)
        allowed = self.settings.dingtalk.timeout_retries
        if count > allowed:
            log.error("dingtalk send key=%s timed out %d times; given up so as not to send it again", env.key, count)
            return SendResult(ok=False, permanent=True, extra={"events": ["timeout_given_up"]},
                              error=f"{error}: timed out {count} times (it may have arrived; DingTalk has no "
                                    "idempotency key, so it is not retried again)")
        log.warning("dingtalk send key=%s timed out (%d of %d retries); it may arrive twice", env.key, count, allowed)
        return SendResult(ok=False, error=f"{error} (may have arrived; retry {count} of {allowed})",
                          extra={"events": ["timeout_retry"]})

    # -- cards ------------------------------------------------------------------------------
    def _update_card(self, env: Envelope) -> SendResult | None:
        """PUT the new text into the card it replaces; None when that card cannot be updated (send anew)."""
        request = card_update_request(env.payload, out_track=str(env.update_id))
        reply = self.client.call(request.method, request.path, json=request.body)
        if reply.ok:
            return SendResult(ok=True, ref_channel=env.target, ref_id=env.update_id)
        failure = self._failure(env, reply)
        if failure is not None and failure.permanent and not failure.extra.get("events"):
            log.info("dingtalk card update refused (%s); sending a new message", reply.describe())
            return None
        return failure

    def _card_callback_route(self) -> str | None:
        """Register /dingtalk/callback for card clicks (HTTP mode), once per process; None if it cannot be."""
        cfg = self.settings.dingtalk
        public = self.settings.server.public_url.rstrip("/")
        if not public:
            log.warning("dingtalk.mode is http but server.public_url is empty: card clicks cannot reach the bot, "
                        "so buttons are sent as commands to type")
            return None
        key = callback_route_key(cfg.client_id)
        with self._register_lock:
            if not self._registered:
                reply = self.client.call("POST", "v1.0/card/callbacks/register", json={
                    "callbackRouteKey": key, "callbackUrl": f"{public}/dingtalk/callback",
                    "apiSecret": cfg.client_secret.get_secret_value(), "forceUpdate": True})
                if not reply.ok:
                    log.error("dingtalk card callback registration failed: %s", reply.describe())
                    return None
                self._registered = True
        return key


def _query_key(reply: ApiReply) -> str | None:
    value = reply.data.get("processQueryKey")
    return str(value) if value else None

