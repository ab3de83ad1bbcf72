"""A fake DingTalk Stream gateway on loopback: `POST /v1.0/gateway/connections/open` on the FakeDingtalk
HTTP server, then a real WebSocket server (its own thread and loop) speaking the Stream protocol.

It pushes each frame to one connected client at random (as DingTalk does), can push duplicates,
drop every connection, or go silent (stop reading: no acks, no pongs), and records the acks.
A robot message pushed while no client is connected is lost, as on DingTalk.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from tests.support.fake_dingtalk import FakeDingtalk

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"


@dataclass
class FakeStream:
    api: FakeDingtalk
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    acks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # messageId -> ack frames
    lost: list[str] = field(default_factory=list)  # message ids pushed with no client connected
    opened: int = 0  # successful gateway/connections/open calls
    refused: int = 0

    def __post_init__(self) -> None:
        self._seq = itertools.count(1)
        self._tickets: dict[str, str] = {}
        self._conns: list[ServerConnection] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port = 0
        self.api.extra_routes[("POST", "v1.0/gateway/connections/open")] = self._open

    # -- the HTTP half ---------------------------------------------------------------------------
    def _open(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("clientId") != self.api.client_id or body.get("clientSecret") != self.api.client_secret:
            self.refused += 1
            return 401, {"code": "InvalidAuthentication", "message": "clientId or clientSecret is invalid"}
        topics = [s.get("topic") for s in body.get("subscriptions") or []]
        ticket = f"TICKET{next(self._seq)}"
        with self._lock:
            self._tickets[ticket] = json.dumps(topics)
            self.opened += 1
        return 200, {"endpoint": f"ws://127.0.0.1:{self._port}/connect", "ticket": ticket}

    # -- the WebSocket half ----------------------------------------------------------------------
    async def _serve_one(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            if ticket not in self._tickets:
                await ws.close(4001, "bad ticket")
                return
            del self._tickets[ticket]  # a ticket opens one socket
            self._conns.append(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                mid = str((frame.get("headers") or {}).get("messageId") or "")
                with self._lock:
                    self.acks.setdefault(mid, []).append(frame)
        except Exception:
            pass
        finally:
            with self._lock:
                if ws in self._conns:
                    self._conns.remove(ws)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def wait_connections(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connections < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.connections} stream clients connected, wanted {count}")
            time.sleep(0.02)

    def wait_ack(self, message_id: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.acks.get(message_id, [])) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no ack for {message_id}")
            time.sleep(0.02)
        return self.acks[message_id]

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def push(self, topic: str, data: dict[str, Any], *, message_id: str | None = None, copies: int = 1,
             everyone: bool = False, kind: str = "CALLBACK") -> str:
        """Send a frame to one random client (`copies` times), or to every client; return its messageId."""
        mid = message_id or f"stream-{next(self._seq)}"
        frame = json.dumps({"specVersion": "1.0", "type": kind, "headers": {
            "appId": "app", "connectionId": "conn", "contentType": "application/json", "messageId": mid,
            "time": str(int(time.time() * 1000)), "topic": topic}, "data": json.dumps(data, ensure_ascii=False)})
        with self._lock:
            conns = list(self._conns)
        if not conns:
            self.lost.append(mid)
            return mid
        targets = conns if everyone else [self.rng.choice(conns) for _ in range(copies)]

        async def send() -> None:
            for ws in targets:
                try:
                    await ws.send(frame)
                except Exception:
                    pass

        self._run(send())
        return mid

    def ping(self) -> str:
        """A SYSTEM ping, as DingTalk sends now and then; the client answers it with the same data."""
        return self.push("ping", {"opaque": "ping-data"}, kind="SYSTEM", everyone=True)

    def drop_all(self) -> None:
        """Cut every connection without a closing handshake."""
        async def drop() -> None:
            for ws in list(self._conns):
                ws.transport.abort()

        self._run(drop())

    def go_silent(self) -> None:
        """Stop reading every connection: frames and pings from the clients go unanswered (a half-open socket)."""
        async def pause() -> None:
            for ws in list(self._conns):
                ws.transport.pause_reading()

        self._run(pause())

    @contextmanager
    def running(self) -> Iterator[FakeStream]:
        ready = threading.Event()
        stop_holder: dict[str, Any] = {}

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def start() -> None:
                server = await serve(self._serve_one, "127.0.0.1", 0, ping_interval=None)
                self._port = server.sockets[0].getsockname()[1]
                stop_holder["server"] = server
                ready.set()

            loop.run_until_complete(start())
            loop.run_forever()
            server = stop_holder["server"]
            server.close()
            for ws in list(self._conns):
                ws.transport.abort()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        thread = threading.Thread(target=main, name="fake-dingtalk-stream", daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
