"""FeishuPort: send one outbox envelope through the Feishu API (cards, images, card updates), paced.

Every message carries a `uuid` derived from the outbox key, so a send retried after a timeout or a
crash (the outbox repeats it) is delivered once: Feishu answers a repeated uuid with the message it
already sent, for an hour. Rate limits: Feishu allows 5 messages a second to one user and to one
group, shared by every bot in that group; we pace ourselves under it per target, and a 429 with
`x-ogw-ratelimit-reset` is waited out (here when it is short, else by the outbox). The free
edition's monthly quota (99991403) is not retried: the row is given up, the outbox counts it as
`quota` on /metrics (salesbot_outbox_sends_total), and `salesbot doctor` says so until the month is over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bot.core import kvstate
from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.ports import Envelope, SendResult
from bot.core.settings import Settings
from bot.platforms.feishu.client import ApiUnavailable, FeishuClient, Reply
from bot.platforms.feishu.convert import (
    PLATFORM,
    Part,
    dumps,
    message_parts,
    messages_path,
    update_card,
    update_path,
)

log = logging.getLogger("salesbot.feishu")

INLINE_WAIT_MAX = 3.0  # seconds: a shorter rate-limit wait is waited out here, a longer one by the outbox
INLINE_RETRIES = 2
DEFAULT_RESET = 1.0


class Pacer:
    """At most `per_second` calls a second to one target (a person or a group), across threads.

    The window is a little longer than a second: Feishu counts arrivals, and two requests sent a
    second apart may arrive closer than that.
    """

    WINDOW = 1.1

    def __init__(self, per_second: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}

    def wait(self, target: str) -> None:
        """Block until one more call to `target` stays within the limit, and count it."""
        while True:
            with self._lock:
                now = self._clock()
                times = self._sent.setdefault(target, deque())
                while times and now - times[0] >= self.WINDOW - 1e-6:
                    times.popleft()
                if len(times) < self.per_second:
                    times.append(now)
                    if len(self._sent) > 10_000:  # forget idle targets now and then
                        for key in [k for k, v in self._sent.items() if not v or now - v[-1] >= self.WINDOW]:
                            del self._sent[key]
                    return
                delay = self.WINDOW - (now - times[0])
            self._sleep(max(delay, 0.001))


class FeishuPort:
    """im/v1/messages, im/v1/images and PATCH im/v1/messages/:id with pacing and error mapping."""

    platform = "feishu"

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 client: FeishuClient | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = client or FeishuClient(settings, db=db, clock=self.clock)
        self.sleep = sleep
        self.pacer = Pacer(settings.feishu.per_target_per_second, sleep=sleep)

    @property
    def db(self) -> Database:
        return self.client.db

    def close(self) -> None:
        self.client.close()

    # -- entry point ------------------------------------------------------------------------
    def send(self, envelope: Envelope) -> SendResult:
        """Send one envelope; ok only when every message of it went."""
        try:
            if envelope.update_id:
                updated = self._update(envelope)
                if updated is not None:
                    return updated
            parts = message_parts(envelope.key, envelope.payload)
            if not parts:
                return SendResult(ok=False, permanent=True, error="empty message")
            if envelope.target_kind not in ("user", "chat", "channel"):
                return SendResult(ok=False, permanent=True,
                                  error=f"Feishu cannot send to a {envelope.target_kind!r} target")
            ref: str | None = None
            for part in parts:
                reply = self._send_part(envelope, part)
                if not reply.ok:
                    return self._failure(reply, sent=parts.index(part), parts=len(parts))
                message_id = str(reply.data.get("message_id") or "") or None
                if part.buttons or ref is None:
                    ref = message_id  # a card with buttons is the one a click updates
            return SendResult(ok=True, ref_channel=envelope.target, ref_id=ref,
                              extra={"parts_sent": len(parts), "parts": len(parts)})
        except ApiUnavailable as exc:
            return SendResult(ok=False, error=str(exc)[:500])

    # -- the calls --------------------------------------------------------------------------
    def _call(self, target: str, method: str, path: str, **kwargs: Any) -> Reply:
        """One paced API call; a short rate-limit wait is waited out here (at most INLINE_RETRIES times)."""
        for attempt in range(INLINE_RETRIES + 1):
            self.pacer.wait(target)
            reply = self.client.call(method, path, **kwargs)
            if not reply.rate_limited:
                return reply
            wait = reply.reset if reply.reset is not None else DEFAULT_RESET
            if wait > INLINE_WAIT_MAX or attempt == INLINE_RETRIES:
                return reply
            log.info("feishu rate limit (code %d) for %s; waiting %.1fs", reply.code, path.split("?")[0], wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_part(self, env: Envelope, part: Part) -> Reply:
        image_key: str | None = None
        if part.image is not None:
            up = self._call(env.target, "POST", "im/v1/images", data={"image_type": "message"},
                            files={"image": (str(env.payload.get("image_name") or "chart.png"), part.image,
                                             "image/png")})
            if not up.ok:
                return up
            image_key = str(up.data.get("image_key") or "")
            if not image_key:
                raise ApiUnavailable("im/v1/images gave no image_key")
        return self._call(env.target, "POST", messages_path(env.target_kind), json=part.body(env.target, image_key))

    def _update(self, env: Envelope) -> SendResult | None:
        """Replace the clicked card in place; None when it cannot be (send a new message instead)."""
        assert env.update_id is not None
        reply = self._call(env.update_channel or env.target, "PATCH", update_path(env.update_id),
                           json={"content": dumps(update_card(env.payload))})
        if reply.ok:
            return SendResult(ok=True, ref_channel=env.update_channel or env.target, ref_id=env.update_id)
        failure = self._failure(reply)
        if failure.permanent and not failure.extra.get("events"):
            log.info("feishu card update refused (%s); sending a new message", failure.error)
            return None
        return failure

    def _failure(self, reply: Reply, *, sent: int = 0, parts: int = 1) -> SendResult:
        """How the outbox should treat a call Feishu did not accept."""
        error = f"feishu HTTP {reply.status} code {reply.code}: {reply.msg[:200]}"
        extra = {"parts_sent": sent, "parts": parts}
        if reply.quota_exhausted:
            log.error("feishu: the free edition's monthly API quota is used up (code %d): messages to Feishu "
                      "are not retried; see `salesbot doctor`", reply.code)
            kvstate.record_quota_exceeded(self.db, platform=PLATFORM, error=error, now=self.clock.now())
            return SendResult(ok=False, permanent=True, error=error, extra=extra | {"events": ["quota"]})
        if reply.rate_limited:
            wait = reply.reset if reply.reset is not None else DEFAULT_RESET
            return SendResult(ok=False, retry_after=wait, error=error, extra=extra)
        if reply.status == 200 or reply.status >= 500:  # an odd code in a 200: try again later
            return SendResult(ok=False, error=error, extra=extra)
        # 400/403/404: a wrong open_id or chat_id, the bot not in the group, no permission, a bad card.
        return SendResult(ok=False, permanent=True, error=error, extra=extra)
