"""bot.http.IdleCollector: garbage is collected between requests, and under constant load after a while."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import anyio

from bot.http import IdleCollector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def _garbage() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def test_it_collects_when_idle_and_waits_while_busy() -> None:
    was = gc.isenabled()
    gc.disable()  # as the server runs it
    try:
        collector = IdleCollector(patience=3600)
        collector.busy = 1  # a request in flight: not now
        ref = _garbage()
        assert collector.collect_if_due() is None and ref() is not None
        collector.busy = 0
        assert collector.collect_if_due() is not None and ref() is None
        patient = IdleCollector(patience=0)  # busy for longer than its patience: it collects anyway
        patient.busy = 1
        ref = _garbage()
        assert patient.collect_if_due() is not None and ref() is None
    finally:
        if was:
            gc.enable()


def test_it_counts_the_requests_in_flight() -> None:
    collector = IdleCollector()
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(collector.busy)

    wrapped = collector.wrap(app)

    async def main() -> None:
        await wrapped({"type": "http"}, None, None)
        await wrapped({"type": "lifespan"}, None, None)

    anyio.run(main)
    assert seen == [1, 0] and collector.busy == 0
