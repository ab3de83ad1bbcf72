"""Feishu's long connection (长连接): events and card clicks over a WebSocket, run by `salesbot connect`.

lark-oapi's `ws.Client` is used for what it is good at: the protobuf frames, the pings, and the
answer to each event. What it does not do well is done here, by overriding two of its methods
(lark-oapi is pinned for that reason): it creates its event loop when the module is imported and
has no stop(), so each session runs on a loop of ours on this connector's thread (we point the
module's loop at it) and stop() cancels it; it asks for the WebSocket URL with an HTTP call that
has no timeout and cannot tell refused credentials from a network error, so `_get_conn_url` is
ours (refused credentials end `salesbot connect` with a clear message); it reconnects on a fixed
interval and never notices a socket that has gone silent, so its own reconnection is off and this
module reconnects with backoff, and a watchdog drops a connection from which nothing (not even the
pong to its ping) has come for two ping intervals.

Each message and card click is stored (App.receive) before the SDK answers the frame, then handled
on the background threads: the SDK calls our handler on its loop, so it does nothing more than that
one INSERT. Feishu pushes an event to one connected client at random and pushes it again when it
gets no answer, so a message stored twice is handled once (message_id).
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import lark_oapi.ws.client as lark_ws
from lark_oapi.core.enum import LogLevel
from lark_oapi.ws.model import ClientConfig

from bot.core.connector import ConnectorHooks, ConnectorRefused, LoopConnector
from bot.platforms.feishu.convert import PLATFORM
from bot.platforms.feishu.inbox import accept

log = logging.getLogger("salesbot.feishu.ws")

ENDPOINT_PATH = "/callback/ws/endpoint"
BUSY = 1  # the endpoint's "system busy": try again later
ENDPOINT_SERVER_ERRORS = frozenset({BUSY, 1000040343})


def ws_domain(api_base_url: str) -> str:
    """The domain the SDK asks for a WebSocket URL: https://open.feishu.cn for .../open-apis/."""
    parts = urlsplit(api_base_url)
    return f"{parts.scheme}://{parts.netloc}"


class _Events:
    """What ws.Client calls with each event frame's JSON: store it, answer nothing special."""

    def __init__(self, connection: FeishuConnection) -> None:
        self.connection = connection

    def _do_without_validation(self, payload: bytes) -> Any:  # the one method ws.Client calls
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("feishu long connection: an event that is not JSON was ignored")
            return None
        if isinstance(event, dict):
            self.connection.accept(event)  # raises when it cannot be stored: the SDK answers 500
        return None


class _Client(lark_ws.Client):  # type: ignore[misc]
    """ws.Client with our endpoint call (timeout, clear refusals) and a note of every frame received."""

    def __init__(self, connection: FeishuConnection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection = connection

    def _get_conn_url(self) -> str:
        return self.connection.endpoint(self)

    async def _handle_message(self, msg: bytes) -> None:
        self.connection.last_frame = time.monotonic()
        await super()._handle_message(msg)


class FeishuConnection(LoopConnector):
    """One Feishu app's long connection: connect, serve, watch, reconnect, until stop()."""

    def __init__(self, app: Any, hooks: ConnectorHooks | None = None, *, name: str = PLATFORM,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(platform=PLATFORM, name=name, label="feishu long connection", hooks=hooks)
        self.app = app  # bot.wiring.App: settings, receive(), handle_later(), handling
        self.settings = app.settings.feishu
        self.domain = ws_domain(self.settings.api_base_url)
        self.http = http_client or httpx.Client(timeout=app.settings.outbox.http_timeout_seconds)
        self.connected = threading.Event()
        self.sessions = 0
        self.last_frame = time.monotonic()
        self.ping_interval = 120.0

    # -- storing --------------------------------------------------------------------------
    def accept(self, event: dict[str, Any]) -> None:
        with self.app.handling.acking():
            accept(self.app, event, self.hooks.on_inbound)

    # -- the connection -------------------------------------------------------------------
    def endpoint(self, client: _Client) -> str:
        """POST /callback/ws/endpoint: the WebSocket URL and its settings (raises ConnectorRefused)."""
        try:
            resp = self.http.post(self.domain + ENDPOINT_PATH, headers={"locale": "zh"}, json={
                "AppID": self.settings.app_id, "AppSecret": self.settings.app_secret.get_secret_value()})
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{type(exc).__name__} asking Feishu for the long connection's address") from None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        code = data.get("code") if isinstance(data, dict) else None
        if resp.status_code != http.HTTPStatus.OK or not isinstance(code, int) or code in ENDPOINT_SERVER_ERRORS:
            raise ConnectionError(f"the long connection's address: HTTP {resp.status_code}, code {code}")
        if code != 0:
            raise ConnectorRefused(
                f"Feishu refused the long connection (code {code}: {str(data.get('msg') or '')[:100]}): check "
                "feishu.app_id and feishu.app_secret (Credentials & Basic Info in the developer console), and "
                "that Events & callbacks use 'Receive events through persistent connection'")
        body = data.get("data") or {}
        url = body.get("URL") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise ConnectionError("the long connection's address is missing from Feishu's answer")
        config = body.get("ClientConfig")
        if isinstance(config, dict):
            client._configure(ClientConfig(config))
            self.ping_interval = float(config.get("PingInterval") or self.ping_interval)
        return url

    def _client(self) -> _Client:
        return _Client(self, app_id=self.settings.app_id, app_secret=self.settings.app_secret.get_secret_value(),
                       event_handler=_Events(self), domain=self.domain, auto_reconnect=False,
                       log_level=LogLevel.WARNING)

    async def _session(self) -> None:
        client = self._client()
        await client._connect()  # our endpoint(), then the WebSocket; its receive loop runs on our loop
        self.sessions += 1
        self.last_frame = time.monotonic()
        self.connected.set()
        self.hooks.event(PLATFORM, "connected")
        log.info("feishu long connection up (%s)", self.name)
        pinger = asyncio.get_running_loop().create_task(client._ping_loop())
        try:
            silent_after = 2 * self.ping_interval + 1
            while client._conn is not None:  # the SDK's receive loop clears it when the socket closes
                await asyncio.sleep(0.2)
                if time.monotonic() - self.last_frame > silent_after:
                    log.warning("feishu long connection (%s) silent for %.0f s: reconnecting", self.name,
                                time.monotonic() - self.last_frame)
                    self.hooks.event(PLATFORM, "silent")
                    conn = client._conn
                    if conn is not None:
                        conn.transport.abort()  # a half-open socket would never finish a closing handshake
                    break
        finally:
            self.connected.clear()
            pinger.cancel()
            await client._disconnect()

    def _prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        # The SDK schedules its receive loop and frame handlers on its module's `loop`, taken at import.
        lark_ws.loop = loop
        loop.set_exception_handler(_quiet)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The SDK's receive loop re-raises the close of a dropped socket in a task nobody awaits: log it low."""
    log.debug("feishu long connection: %s", context.get("exception") or context.get("message"))


def connector(app: Any, hooks: ConnectorHooks) -> FeishuConnection | None:
    """The Feishu long connection when Feishu is enabled in ws mode."""
    cfg = app.settings.feishu
    if not cfg.enabled or cfg.mode != "ws":
        return None
    return FeishuConnection(app, hooks)
