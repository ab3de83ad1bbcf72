"""Handle acknowledged events in the background, on a few threads of their own.

The HTTP threads only verify, store and acknowledge (Dispatcher.receive); the work happens here,
so a burst of slow handling never delays an acknowledgement behind it for a thread. On SQLite,
whose writers take turns anyway, one thread handles events; on a server database, a few do.
The queue is bounded: what does not fit is still stored, and the outbox worker's
Dispatcher.process_stale() handles it a little later, as it does after a crash.

Acknowledgements come first: an ack has a deadline (Slack 3 s, WeCom 5 s, or the platform
retries), a reply does not. During a burst (BURST or more requests being acknowledged at once) a
handling thread waits before starting its next event, at most YIELD_SECONDS each time, so the
burst gets its acks at full speed and the replies follow right after it (never starved: one event
per YIELD_SECONDS per thread at the least). Under ordinary traffic it never waits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Protocol

from bot.core.clock import Clock
from bot.core.dispatch import Dispatcher
from bot.core.settings import Settings
from bot.core.types import Inbound

log = logging.getLogger("salesbot.handling")

MAX_QUEUED = 5000
YIELD_SECONDS = 0.5
BURST = 8


class Acking(Protocol):
    def acking(self) -> AbstractContextManager[None]: ...


class ReceivingApp(Protocol):
    """What a platform's receiving side needs of `bot.wiring.App`: store an event before its ack, then
    hand it to the background (platforms may not import the composition root)."""

    settings: Settings
    clock: Clock

    def receive(self, inbound: Inbound) -> int | None: ...

    def handle_later(self, event_id: int, inbound: Inbound) -> None: ...

    @property
    def handling(self) -> Acking: ...


class BackgroundHandling:
    def __init__(self, dispatcher: Dispatcher, *, threads: int, max_queued: int = MAX_QUEUED) -> None:
        self.dispatcher = dispatcher
        self.threads = max(1, threads)
        self.max_queued = max_queued
        self._lock = threading.Condition()
        self._queued = 0
        self._acking = 0
        self._pool: ThreadPoolExecutor | None = None

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        """Mark a request being acknowledged (the handling threads give it way)."""
        with self._lock:
            self._acking += 1
        try:
            yield
        finally:
            with self._lock:
                self._acking -= 1
                if self._acking == BURST - 1:
                    self._lock.notify_all()

    def submit(self, event_id: int, inbound: Inbound) -> bool:
        """Queue an event stored by receive(); False when the queue is full (handled later)."""
        with self._lock:
            if self._queued >= self.max_queued:
                log.warning("handling queue full (%d); event %d waits for the outbox worker", self._queued,
                            event_id)
                return False
            self._queued += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="handle")
            pool = self._pool
        pool.submit(self._run, event_id, inbound)
        return True

    def _run(self, event_id: int, inbound: Inbound) -> None:
        with self._lock:
            if self._acking >= BURST:
                self._lock.wait_for(lambda: self._acking < BURST, YIELD_SECONDS)
        try:
            self.dispatcher.process(event_id, inbound, deliver=True)
        except Exception:  # the database is down: the outbox worker handles it later
            log.exception("handling after ack failed key=%s", inbound.event_key)
        finally:
            with self._lock:
                self._queued -= 1
                if self._queued == 0:
                    self._lock.notify_all()

    def pending(self) -> int:
        with self._lock:
            return self._queued

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or being handled; False if `timeout` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._queued == 0, timeout)

    def close(self) -> None:
        """Finish what is queued (anything cut short is handled by the next process)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
