"""Load generator: signed Slack report DMs at a fixed concurrency, ack latency percentiles (loopback only)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx

REPORT = "日报\n拜访: 3\n新线索: 2\n签约: 12.5万\n回款: 3万\n明日计划: 回访远航集团\n问题: 无"


@dataclass
class Figures:
    sent: int
    ok: int
    errors: int
    p50_ms: float
    p99_ms: float
    seconds: float

    def line(self, name: str) -> str:
        return (f"{name:<12} sent={self.sent:<5} ok={self.ok:<5} errors={self.errors:<4} "
                f"p50={self.p50_ms:7.2f} ms  p99={self.p99_ms:7.2f} ms  ({self.sent / self.seconds:.0f} req/s)")


def report_body(user: str) -> bytes:
    """A message.im event carrying a daily report, with a fresh event_id."""
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel_type": "im", "channel": "D" + user[1:], "user": user,
             "text": REPORT, "ts": ts, "event_ts": ts}
    return json.dumps({"type": "event_callback", "team_id": "T_BENCH", "api_app_id": "A_BENCH",
                       "event_id": "Ev" + uuid.uuid4().hex, "event_time": int(time.time()),
                       "event": event}).encode()


def sign(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(url: str, secret: str, users: Sequence[str], *, concurrency: int, count: int,
              max_seconds: float) -> Figures:
    """Send up to `count` signed report DMs with `concurrency` in flight, for at most `max_seconds`."""
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"loadgen only talks to loopback, not {host}")
    latencies: list[float] = []
    errors = 0
    next_index = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < count and time.perf_counter() < deadline:
                user = users[next_index % len(users)]
                next_index += 1
                body = report_body(user)
                t0 = time.perf_counter()
                try:
                    resp = await client.post(url, content=body, headers=sign(secret, body))
                    ok = resp.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Figures(sent=len(latencies) + errors, ok=len(latencies), errors=errors,
                   p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99), seconds=elapsed)
