"""DingTalk Stream mode: a WebSocket to DingTalk (no public URL), run by `salesbot connect`.

`dingtalk-stream` is used for what it is good at, the frames, the callback handlers and their acks.
What it does not do well is done here: it opens the connection with an HTTP call that has no timeout
and cannot tell refused credentials from a network error, reconnects on a fixed 10 s sleep, and
never notices a socket that has gone silent. So this module opens the connection itself (with a
timeout; refused credentials end `salesbot connect` with a clear message), reconnects with backoff,
and runs a watchdog that pings a quiet socket and drops it when no pong comes back. Nothing is ever
sent through the SDK: replies go through the outbox (DingtalkPort).

Each robot message and card click is stored (App.receive) before its ack goes back, then handled on
the background threads. DingTalk pushes each message to one connected client at random and never
re-pushes a robot message that found no client, so run two `salesbot connect` (see the README).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus

import httpx
import websockets
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, ChatbotMessage, Credential
from dingtalk_stream import DingTalkStreamClient as _SdkClient

from bot.core.connector import ConnectorHooks, ConnectorRefused, LoopConnector
from bot.core.types import Inbound
from bot.platforms.dingtalk.convert import (
    CARD_TOPIC,
    PLATFORM,
    card_callback_to_inbound,
    robot_message_to_inbound,
)

log = logging.getLogger("salesbot.dingtalk.stream")

OPEN_PATH = "v1.0/gateway/connections/open"


class _Handler(CallbackHandler):  # type: ignore[misc]
    """Turn one topic's frames into Inbounds, store them, and ack (200) once stored."""

    def __init__(self, stream: DingtalkStream, convert: Callable[..., Inbound | None]) -> None:
        super().__init__()
        self.stream = stream
        self.convert = convert

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        data = message.data if isinstance(message.data, dict) else {}
        inbound = self.convert(data, message_id=message.headers.message_id)
        if inbound is None:
            return AckMessage.STATUS_OK, "OK"
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.stream.pool, self.stream.accept, inbound)
        except Exception:  # the database is down: say so in the ack (DingTalk may not push it again)
            log.exception("dingtalk stream event could not be recorded key=%s", inbound.event_key)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "not stored"
        return AckMessage.STATUS_OK, "OK"


class DingtalkStream(LoopConnector):
    """One Stream client: connect, serve, watch, reconnect, until stop()."""

    def __init__(self, app: Any, hooks: ConnectorHooks | None = None, *, name: str = PLATFORM,
                 http: httpx.Client | None = None) -> None:
        super().__init__(platform=PLATFORM, name=name, label="dingtalk stream", hooks=hooks)
        self.app = app  # bot.wiring.App: settings, receive(), handle_later(), handling
        cfg = app.settings.dingtalk
        self.settings = cfg
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=app.settings.outbox.http_timeout_seconds)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dingtalk-stream")
        self.sdk = _SdkClient(Credential(cfg.client_id, cfg.client_secret.get_secret_value()),
                              logger=logging.getLogger("salesbot.dingtalk.sdk"))
        self.sdk.register_callback_handler(ChatbotMessage.TOPIC, _Handler(self, robot_message_to_inbound))
        self.sdk.register_callback_handler(CARD_TOPIC, _Handler(self, card_callback_to_inbound))
        self.sdk.pre_start()
        self.connected = threading.Event()
        self.sessions = 0
        self.last_frame = time.monotonic()

    # -- storing --------------------------------------------------------------------------
    def accept(self, inbound: Inbound) -> None:
        """Store the event before its ack, then hand it to the handling threads (blocking: a worker thread)."""
        self.hooks.inbound(PLATFORM, str(inbound.kind))
        with self.app.handling.acking():
            event_id = self.app.receive(inbound)
        if event_id is not None:  # None: delivered before (DingTalk, or the other client)
            self.app.handle_later(event_id, inbound)

    # -- the connection -------------------------------------------------------------------
    def open_connection(self) -> dict[str, Any]:
        """POST gateway/connections/open: the endpoint and ticket of a new socket (raises ConnectorRefused)."""
        cfg = self.settings
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.sdk.callback_handler_map]
        url = cfg.api_base_url.rstrip("/") + "/" + OPEN_PATH
        try:
            resp = self.http.post(url, json={"clientId": cfg.client_id,
                                             "clientSecret": cfg.client_secret.get_secret_value(),
                                             "subscriptions": topics, "ua": "salesbot", "localIp": ""})
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{type(exc).__name__} opening the DingTalk stream") from None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code in (400, 401, 403):
            code = data.get("code") if isinstance(data, dict) else ""
            raise ConnectorRefused(
                f"DingTalk refused the stream connection (HTTP {resp.status_code} {code or ''}): check "
                "dingtalk.client_id and dingtalk.client_secret (the AppKey and AppSecret on the app's "
                "credentials page) and that the robot's message receiving mode is Stream")
        if resp.status_code != 200 or not isinstance(data, dict) or not data.get("endpoint") \
                or not data.get("ticket"):
            raise ConnectionError(f"opening the DingTalk stream answered HTTP {resp.status_code}")
        return data

    async def _session(self) -> None:
        conn = await asyncio.to_thread(self.open_connection)
        uri = f"{conn['endpoint']}?ticket={quote_plus(str(conn['ticket']))}"
        # The watchdog below does the pinging: it reports a silent socket instead of only closing it.
        async with websockets.connect(uri, ping_interval=None, open_timeout=10, close_timeout=2,
                                      max_size=4 * 1024 * 1024) as ws:
            self.sdk.websocket = ws
            self.sessions += 1
            self.last_frame = time.monotonic()
            self.connected.set()
            self.hooks.event(PLATFORM, "connected")
            log.info("dingtalk stream connected (%s)", self.name)
            watchdog = asyncio.create_task(self._watchdog(ws))
            try:
                async for raw in ws:
                    self.last_frame = time.monotonic()
                    try:
                        frame = json.loads(raw)
                    except ValueError:
                        log.warning("dingtalk stream: a frame that is not JSON was ignored")
                        continue
                    asyncio.create_task(self.sdk.background_task(frame))  # acks through self.sdk.websocket
            finally:
                self.connected.clear()
                watchdog.cancel()

    async def _watchdog(self, ws: Any) -> None:
        """Ping a socket that has been quiet for `stream_watchdog_seconds`; no pong as long again: drop it."""
        quiet = self.settings.stream_watchdog_seconds
        while True:
            await asyncio.sleep(min(quiet / 3, 5.0))
            if time.monotonic() - self.last_frame < quiet:
                continue
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, timeout=quiet)
                self.last_frame = time.monotonic()
            except (TimeoutError, websockets.ConnectionClosed):
                log.warning("dingtalk stream (%s) silent for %.0f s and no answer to a ping: reconnecting",
                            self.name, time.monotonic() - self.last_frame)
                self.hooks.event(PLATFORM, "silent")
                ws.transport.abort()  # a half-open socket would never finish a closing handshake
                return

    def _finish(self) -> None:
        self.pool.shutdown(wait=True)
        if self._own_http:
            self.http.close()


def connector(app: Any, hooks: ConnectorHooks) -> DingtalkStream | None:
    """The DingTalk Stream client when DingTalk is enabled in stream mode."""
    cfg = app.settings.dingtalk
    if not cfg.enabled or cfg.mode != "stream":
        return None
    return DingtalkStream(app, hooks)
