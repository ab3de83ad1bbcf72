"""Memory of `salesbot serve`: RSS idle, after warm-up and after sustained signed Slack report DMs.

    python bench/memory.py [--db URL] [--seconds 60] [--concurrency 10] [--workers 1]

Starts the real server (subprocess, loopback, Slack pointed at a fake Web API), reads VmRSS from
/proc/PID/status of the server and its child processes. Goals: <= 200 MB after load, and growth
<= 5 % from the end of the warm-up (first 20 % of the load) to the end of the load.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import run  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.wiring import App  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402
from tests.support.org import build_org  # noqa: E402

SECRET = "bench-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")
GOAL_MB = 200.0
GOAL_GROWTH = 0.05


def rss_kb(pid: int) -> int:
    """VmRSS of a process and, recursively, its children."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(rss_kb(int(c)) for c in children)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the sustained load")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='salesbot-mem-')}/bench.db"
    with running_fake_slack() as fake:
        slack = {"bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": fake.url}
        app = App(load_settings(None, database={"url": url}, slack=slack))
        try:
            build_org(app.db)
        except Exception:  # already there from an earlier run
            pass
        app.close()
        port = free_port()
        env = {**os.environ, "SALESBOT_DATABASE__URL": url, "SALESBOT_SLACK__BOT_TOKEN": "xoxb-bench",
               "SALESBOT_SLACK__SIGNING_SECRET": SECRET, "SALESBOT_SLACK__API_URL": fake.url}
        env.pop("SALESBOT_CONFIG", None)
        cmd = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler",
               "--workers", str(args.workers)]
        with tempfile.TemporaryDirectory() as cwd:
            proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("salesbot serve did not come up")
                    time.sleep(0.2)
                time.sleep(2)
                idle = rss_kb(proc.pid)
                events = base + "/slack/events"
                warm = asyncio.run(run(events, SECRET, USERS, concurrency=args.concurrency, count=10**9,
                                       max_seconds=args.seconds * 0.2))
                after_warm = rss_kb(proc.pid)
                rest = asyncio.run(run(events, SECRET, USERS, concurrency=args.concurrency, count=10**9,
                                       max_seconds=args.seconds * 0.8))
                time.sleep(2)  # let the outbox worker finish
                after = rss_kb(proc.pid)
            finally:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    requests = warm.sent + rest.sent
    errors = warm.errors + rest.errors
    growth = (after - after_warm) / after_warm
    mb = after / 1024
    print(f"database: {url.split(':')[0]}; workers {args.workers}; {requests} signed report DMs in "
          f"{args.seconds:g} s ({errors} errors), concurrency {args.concurrency}")
    print(f"RSS idle {idle / 1024:6.1f} MB   after warm-up {after_warm / 1024:6.1f} MB   after load {mb:6.1f} MB")
    print(f"after load / goal {mb / GOAL_MB:.2f} (goal <= 1.0, {GOAL_MB:g} MB)  "
          f"growth after warm-up {growth * 100:+.1f} % (goal <= {GOAL_GROWTH * 100:g} %)  "
          f"{'ok' if mb <= GOAL_MB and growth <= GOAL_GROWTH else 'MISSED'}")


if __name__ == "__main__":
    main()
