"""Prometheus metrics: inbound requests, handling latency, outbox sends and backlog."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

INBOUND = Counter("salesbot_inbound_requests_total", "Inbound requests by platform and kind",
                  ["platform", "kind"], registry=REGISTRY)
HANDLING = Histogram("salesbot_handling_seconds", "Time to handle one inbound event (dispatch)",
                     ["platform", "route"], registry=REGISTRY,
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
SENDS = Counter("salesbot_outbox_sends_total", "Outbox send attempts by platform and outcome",
                ["platform", "outcome"], registry=REGISTRY)
CONNECTIONS = Counter("salesbot_connection_events_total",
                      "Long-connection events by platform: connected, disconnected, silent (watchdog), refused",
                      ["platform", "event"], registry=REGISTRY)
BACKLOG = Gauge("salesbot_outbox_backlog", "Outbox messages pending or being sent", registry=REGISTRY)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def record_inbound(platform: str, kind: str) -> None:
    """Count one inbound request."""
    INBOUND.labels(platform=platform, kind=kind).inc()


def observe_handling(platform: str, route: str, seconds: float) -> None:
    """Record how long dispatch took."""
    HANDLING.labels(platform=platform, route=route).observe(seconds)


def record_send(platform: str, outcome: str) -> None:
    """Count one send attempt: sent, retry or dead."""
    SENDS.labels(platform=platform, outcome=outcome).inc()


def record_connection(platform: str, event: str) -> None:
    """Count one long-connection event (salesbot connect)."""
    CONNECTIONS.labels(platform=platform, event=event).inc()


def install(app: Any) -> None:
    """Hook the metrics into an App's dispatcher and outbox (idempotent)."""
    if record_send not in app.outbox.sent_callbacks:
        app.outbox.sent_callbacks.append(record_send)
    app.dispatcher.observe = observe_handling


def render(backlog: int | None) -> bytes:
    """Return the metrics in the Prometheus text format."""
    if backlog is not None:
        BACKLOG.set(backlog)
    return generate_latest(REGISTRY)
