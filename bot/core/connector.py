"""What `salesbot connect` asks of a platform's long connection (Slack Socket Mode, DingTalk Stream, Feishu).

Each platform package offers `connector(app, hooks) -> Connector | None` (None when the platform is
not enabled or not in long-connection mode); `bot.connect.CONNECTORS` lists them, one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


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
