"""End to end: a daily report in over signed HTTP, until our reply reaches the (fake) Slack Web API.

    python bench/e2e.py [--db URL] [--rate 20] [--seconds 30]

Open-loop load at `--rate` reports a second, for `--seconds`, on loopback. The floor, measured in the
same run: a bare Bolt app behind the same kind of server that acks and makes one chat.postMessage.
Prints p50/p95/p99 from POST to the chat.postMessage arriving, and ours/bare at p95 (goal <= 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import REPORT, sign  # noqa: E402
from bench.pgutil import ensure_database  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.http import create_asgi_app  # noqa: E402
from bot.wiring import App  # noqa: E402
from tests.support.fake_slack import FakeSlack, running_fake_slack  # noqa: E402
from tests.support.org import build_org  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/salesbot_bench"
SECRET = "bench-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")
GOAL = 2.0


class Arrivals:
    """When each chat.postMessage reached the fake, by the event id found in its outbox key."""

    def __init__(self, fake: FakeSlack) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        original: Callable[..., Any] = fake.answer

        def answer(method: str, args: dict[str, Any]) -> Any:
            out = original(method, args)
            if method == "chat.postMessage" and out[0] == 200:
                meta = args.get("metadata") or {}
                if isinstance(meta, str):
                    import json

                    meta = json.loads(meta)
                key = str((meta.get("event_payload") or {}).get("key") or "")
                event = next((part for part in key.split(":") if part.startswith("Ev")), key)
                with self.lock:
                    self.seen.setdefault(event, time.perf_counter())
            return out

        fake.answer = answer  # type: ignore[method-assign]


def start(asgi: Any) -> tuple[uvicorn.Server, str]:
    """Run an ASGI app on uvicorn on a free loopback port, in a thread."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}/slack/events"


def bare_bolt_app(api_url: str) -> Any:
    """A Bolt app that acks a DM and answers it with one chat.postMessage, behind Bolt's Starlette adapter."""
    from slack_bolt import App as BoltApp
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_bolt.authorization import AuthorizeResult
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    bolt = BoltApp(signing_secret=SECRET, token_verification_enabled=False,
                   client=WebClient(base_url=api_url, token="xoxb-bench"),
                   authorize=lambda enterprise_id, team_id: AuthorizeResult(
                       enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"))

    @bolt.event("message")
    def on_message(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        client.chat_postMessage(channel=body["event"]["user"], text="收到",
                                metadata={"event_type": "bench", "event_payload": {"key": body["event_id"]}})

    handler = SlackRequestHandler(bolt)

    async def endpoint(request: Request) -> Any:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


def body_for(user: str, event_id: str) -> bytes:
    import json

    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel_type": "im", "channel": "D" + user[1:], "user": user, "text": REPORT,
             "ts": ts, "event_ts": ts}
    return json.dumps({"type": "event_callback", "team_id": "T_BENCH", "api_app_id": "A_BENCH",
                       "event_id": event_id, "event_time": int(time.time()), "event": event}).encode()


async def load(url: str, arrivals: Arrivals, *, rate: float, seconds: float,
               acks: list[float] | None = None) -> tuple[list[float], int]:
    """Send `rate` reports a second for `seconds`; return the latencies (ms) and how many got no reply."""
    sent: dict[str, float] = {}
    acks = acks if acks is not None else []
    count = int(rate * seconds)
    async with httpx.AsyncClient(timeout=10) as client:
        async def one(i: int) -> None:
            event_id = "Ev" + uuid.uuid4().hex
            body = body_for(USERS[i % len(USERS)], event_id)
            sent[event_id] = time.perf_counter()
            try:
                await client.post(url, content=body, headers=sign(SECRET, body))
                acks.append((time.perf_counter() - sent[event_id]) * 1000)
            except httpx.HTTPError:
                pass

        started = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline:
        with arrivals.lock:
            if all(e in arrivals.seen for e in sent):
                break
        await asyncio.sleep(0.05)
    with arrivals.lock:
        latencies = [(arrivals.seen[e] - t) * 1000 for e, t in sent.items() if e in arrivals.seen]
    return latencies, len(sent) - len(latencies)


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def line(name: str, values: list[float], missing: int) -> str:
    return (f"{name:<10} replies={len(values):<5} missing={missing:<3} p50={pct(values, 50):7.1f} ms  "
            f"p95={pct(values, 95):7.1f} ms  p99={pct(values, 99):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DEFAULT_URL, help="database URL (PostgreSQL is created if missing)")
    parser.add_argument("--rate", type=float, default=20.0, help="reports per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.db.startswith("postgresql"):
        ensure_database(args.db)
    with running_fake_slack() as fake:
        arrivals = Arrivals(fake)
        settings = load_settings(None, database={"url": args.db}, slack={
            "bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": fake.url})
        app = App(settings)
        try:
            build_org(app.db)
        except Exception:  # the organisation is there from an earlier run
            pass
        ours, ours_url = start(create_asgi_app(app, run_worker=True))
        bare, bare_url = start(bare_bolt_app(fake.url))
        print(f"database: {app.db.backend}; {args.rate:g} reports/s for {args.seconds:g} s each; loopback")
        asyncio.run(load(bare_url, arrivals, rate=args.rate, seconds=2))  # warm up
        asyncio.run(load(ours_url, arrivals, rate=args.rate, seconds=2))
        b_acks: list[float] = []
        o_acks: list[float] = []
        b, b_missing = asyncio.run(load(bare_url, arrivals, rate=args.rate, seconds=args.seconds, acks=b_acks))
        o, o_missing = asyncio.run(load(ours_url, arrivals, rate=args.rate, seconds=args.seconds, acks=o_acks))
        print(line("bare bolt", b, b_missing) + f"  (HTTP ack p95 {pct(b_acks, 95):.1f} ms)")
        print(line("salesbot", o, o_missing) + f"  (HTTP ack p95 {pct(o_acks, 95):.1f} ms)")
        ratio = pct(o, 95) / pct(b, 95)
        print(f"ratio p95 {ratio:.2f}  (goal <= {GOAL:g})  {'ok' if ratio <= GOAL and not o_missing else 'MISSED'}")
        ours.should_exit = bare.should_exit = True
        time.sleep(0.5)
        app.close()


if __name__ == "__main__":
    main()
