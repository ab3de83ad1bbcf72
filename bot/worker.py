"""OutboxWorker: a daemon thread that keeps delivering and retrying the outbox (and handles inbound
events left over by a process that died after acknowledging them)."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("salesbot.worker")


class OutboxWorker:
    """Call `release_stuck()` and `deliver()` every `interval` seconds until stopped."""

    def __init__(self, app: Any, interval: float = 1.0) -> None:
        self.app = app  # anything with an `outbox` (bot.wiring.App)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxWorker:
        """Start the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="outbox-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish its round and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> tuple[int, int]:
        """Do one round: handle events whose process died after the ack, free rows whose sender
        died, then send what is due."""
        dispatcher = getattr(self.app, "dispatcher", None)
        if dispatcher is not None:
            dispatcher.process_stale()
        self.app.outbox.release_stuck()
        return self.app.outbox.deliver()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not kill the worker
                log.exception("outbox round failed")
            self._stop.wait(self.interval)
