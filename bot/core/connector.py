"""What `salesbot connect` asks of a platform's long connection (Slack Socket Mode, DingTalk Stream, Feishu).

Each platform package offers `connector(app, hooks) -> Connector | None` (None when the platform is
not enabled or not in long-connection mode); `bot.connect.CONNECTORS` lists them, one line each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_log = logging.getLogger("salesbot.connect")


class ConnectorRefused(Exception):
    """The platform refused the credentials: retrying cannot help. The message says what to fix."""


class Connector(Protocol):
    name: str

    def run(self) -> None:
        """Connect and serve until stop(); reconnect with backoff on its own; raise ConnectorRefused."""

    def stop(self) -> None:
        """Ask run() to return soon (from another thread)."""


@dataclass(frozen=True)
class ConnectorHooks:
    """What a connector reports: each inbound event (platform, kind) and connection events
    (platform, event: connected, disconnected, silent, refused)."""

    on_inbound: Callable[[str, str], None] | None = None
    on_event: Callable[[str, str], None] | None = None

    def inbound(self, platform: str, kind: str) -> None:
        if self.on_inbound is not None:
            self.on_inbound(platform, kind)

    def event(self, platform: str, event: str) -> None:
        if self.on_event is not None:
            self.on_event(platform, event)


class Backoff:
    """Waits between reconnection attempts: 1 s, 2 s, 4 s ... up to `cap`, with jitter; reset after a good run."""

    def __init__(self, *, first: float = 1.0, cap: float = 60.0, rng: Callable[[], float] | None = None) -> None:
        import random

        self.first = first
        self.cap = cap
        self.attempt = 0
        self.rng = rng or random.random

    def next(self) -> float:
        wait = min(self.cap, self.first * (2 ** self.attempt))
        self.attempt += 1
        return wait * (0.5 + self.rng() / 2)

    def reset(self) -> None:
        self.attempt = 0


class LoopConnector:
    """A long connection served on an event loop of its own on the calling thread (a Connector).

    A subclass's `_session()` connects and serves until the connection ends (returns or raises);
    this reconnects with Backoff until stop(), reports connected/disconnected/refused through the
    hooks, and ends run() with ConnectorRefused when the platform refuses the credentials.
    """

    GOOD_RUN_SECONDS = 60.0  # a session that lasted this long resets the backoff

    def __init__(self, *, platform: str, name: str, label: str, hooks: ConnectorHooks | None = None) -> None:
        import threading

        self.platform = platform
        self.name = name
        self.label = label  # for the log: "feishu long connection", "dingtalk stream"
        self.hooks = hooks or ConnectorHooks()
        self.backoff = Backoff()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def _session(self) -> None:
        raise NotImplementedError

    def _prepare(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called with the new loop before the first session (an SDK that needs to know it)."""

    def _finish(self) -> None:
        """Called after the loop has closed (release threads, clients)."""

    async def _main(self) -> None:
        import time

        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except ConnectorRefused:
                self.hooks.event(self.platform, "refused")
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network trouble, a dropped socket: reconnect
                _log.warning("%s (%s) disconnected: %s", self.label, self.name, f"{type(exc).__name__}: {exc}"[:200])
            if self._stopping.is_set():
                return
            self.hooks.event(self.platform, "disconnected")
            if time.monotonic() - started >= self.GOOD_RUN_SECONDS:
                self.backoff.reset()
            wait = self.backoff.next()
            _log.info("%s (%s) reconnecting in %.1f s", self.label, self.name, wait)
            await asyncio.sleep(wait)

    def run(self) -> None:
        """Serve until stop() (blocking: its own event loop on the calling thread)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._prepare(loop)
            self._task = loop.create_task(self._main())
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop = None
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:  # gather() of nothing would look for the thread's current loop
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._finish()

    def stop(self) -> None:
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop has just closed
                pass
