"""Slack ack latency: our server (dispatch before ack) against a bare Bolt app that only acks.

    python bench/ack.py [--db URL] [--count 2000] [--seconds 30]

Both run on real uvicorn servers on 127.0.0.1; replies go to a fake Slack Web API on loopback.
Prints p50/p99 ack latency at 50 and 200 concurrent requests, and our/bare ratio (goal <= 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import run  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.http import create_asgi_app  # noqa: E402
from bot.wiring import App  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402
from tests.support.org import build_org  # noqa: E402

SECRET = "bench-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(which: str, port: int, db_url: str, api_url: str) -> None:
    """Child process: run one server (ours or the bare Bolt app) until killed."""
    logging.basicConfig(level=logging.CRITICAL)
    if which == "ours":
        settings = load_settings(None, database={"url": db_url}, slack={
            "bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": api_url})
        asgi = create_asgi_app(App(settings), run_worker=True)
    else:
        asgi = bare_bolt_app()
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_config=None, access_log=False)


def start(which: str, db_url: str, api_url: str) -> tuple[multiprocessing.Process, str]:
    """Start a server in its own process (so the load generator does not share its GIL)."""
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(which, port, db_url, api_url),
                                                        daemon=True)
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/slack/events"


def bare_bolt_app() -> Any:
    """A Bolt app whose only listener acks, behind Bolt's own Starlette adapter."""
    from slack_bolt import App as BoltApp
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_bolt.authorization import AuthorizeResult
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    bolt = BoltApp(signing_secret=SECRET, token_verification_enabled=False,
                   authorize=lambda enterprise_id, team_id: AuthorizeResult(
                       enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"))
    bolt.event("message")(lambda ack: ack())
    handler = SlackRequestHandler(bolt)

    async def endpoint(request: Request) -> Any:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--count", type=int, default=2000, help="requests per run")
    parser.add_argument("--seconds", type=float, default=30, help="time limit per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='salesbot-bench-')}/bench.db"
    with running_fake_slack() as fake:
        settings = load_settings(None, database={"url": url}, slack={
            "bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": fake.url})
        app = App(settings)
        if not app.db.has_tables() or app.outbox.backlog() == 0:
            try:
                build_org(app.db)
            except Exception:  # already there from an earlier run
                pass
        ours, ours_url = start("ours", url, fake.url)
        bare, bare_url = start("bare", url, fake.url)
        print(f"database: {app.db.backend}; requests per run: {args.count}; limit {args.seconds:g} s")
        for concurrency in args.concurrency:
            # warm both up, then measure
            asyncio.run(run(bare_url, SECRET, USERS, concurrency=10, count=50, max_seconds=5))
            asyncio.run(run(ours_url, SECRET, USERS, concurrency=10, count=50, max_seconds=5))
            b = asyncio.run(run(bare_url, SECRET, USERS, concurrency=concurrency, count=args.count,
                                max_seconds=args.seconds))
            o = asyncio.run(run(ours_url, SECRET, USERS, concurrency=concurrency, count=args.count,
                                max_seconds=args.seconds))
            print(f"-- concurrency {concurrency}")
            print(b.line("bare bolt"))
            print(o.line("salesbot"))
            print(f"   ratio p50 {o.p50_ms / b.p50_ms:.2f}  p99 {o.p99_ms / b.p99_ms:.2f}  (goal <= 1.2)")
        time.sleep(2)  # let the deliveries after the acks finish
        print(f"replies posted to the fake Slack: {len(fake.ok_calls('chat.postMessage'))}; "
              f"outbox backlog left: {app.outbox.backlog()}")
        for proc in (ours, bare):
            proc.terminate()
            proc.join(10)
        app.close()


if __name__ == "__main__":
    main()
