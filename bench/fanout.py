"""Morning fan-out to N reps through a fake Slack on loopback, against a bare send loop; then under limits.

Run: python bench/fanout.py [--reps 10000] [--delay 0.02] [--concurrency 16] [--skip-limits | --limits-only]

Both sides go through the same SlackPort to the same fake API with the same simulated latency and
the same number of concurrent senders; the bench prints both times, their ratio (goal <= 1.3) and
how many messages were lost or repeated (goal 0 and 0).

Then, unless --skip-limits, the fan-outs under the platforms' real limits against the time the
limits allow (goal <= 1.1): see bench/fanout_limits.py and its options (--scale, --wecom-teams,
--slack-reps, --slack-limit, ...).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fanout_limits import add_arguments as add_limit_arguments  # noqa: E402
from fanout_limits import build_reps  # noqa: E402
from fanout_limits import run_all as run_under_limits  # noqa: E402

from bot.core.clock import FixedClock  # noqa: E402
from bot.core.db import Database  # noqa: E402
from bot.core.ports import Envelope  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.platforms.slack.port import SlackPort  # noqa: E402
from bot.wiring import App  # noqa: E402
from jobs.runner import run_job  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402

AT = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)  # Monday 08:45 in Shanghai
GOAL_RATIO = 1.3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--delay", type=float, default=0.02, help="simulated API latency per call, seconds")
    ap.add_argument("--concurrency", type=int, default=16)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--skip-limits", action="store_true", help="only the unlimited fan-out")
    which.add_argument("--limits-only", action="store_true", help="only the fan-outs under the platforms' limits")
    add_limit_arguments(ap)
    args = ap.parse_args()
    unlimited_ok = args.limits_only or unlimited(args)
    limits_ok = args.skip_limits or run_under_limits(args)
    sys.exit(0 if unlimited_ok and limits_ok else 1)


def unlimited(args: argparse.Namespace) -> bool:
    """The morning job to --reps reps vs a bare send loop; return True when nothing was lost or repeated."""
    with tempfile.TemporaryDirectory() as tmp, running_fake_slack() as fake:
        fake.delay = args.delay
        settings = load_settings(None, database={"url": f"sqlite:///{tmp}/bench.db"},
                                 slack={"bot_token": "xoxb-bench", "signing_secret": "s", "api_url": fake.url},
                                 outbox={"concurrency": args.concurrency})
        db = Database(settings.database.url)
        db.upgrade()
        build_reps(db, args.reps)

        # The floor: the same port, the same concurrency, no database.
        port = SlackPort(settings)
        envs = [Envelope(key=f"bare:{i}", platform="slack", target_kind="user", target=f"U{i:07d}",
                         payload={"text": "早上好"}) for i in range(args.reps)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            bare_ok = sum(r.ok for r in pool.map(port.send, envs))
        bare = time.perf_counter() - t0
        before = len(fake.posted_keys())

        clock = FixedClock(AT)
        app = App(settings, db=db, clock=clock, migrate=False)
        t0 = time.perf_counter()
        summary = run_job(db=db, settings=settings, clock=app.clock, name="morning", at=AT, outbox=app.outbox)
        job = time.perf_counter() - t0
        # What failed on the first try stays in the outbox: let the retries run before counting losses.
        # The app's clock is fixed at AT, so move it past each backoff, or nothing would ever be due.
        deadline = time.monotonic() + 60
        while app.outbox.backlog() and time.monotonic() < deadline:
            time.sleep(0.5)
            clock.advance(seconds=30)
            app.outbox.deliver()
        retried = summary.failed
        keys = [k for k in fake.posted_keys()[before:] if k.startswith("job:morning:")]
        unique = set(keys)
        lost = args.reps - len(unique)
        repeated = len(keys) - len(unique)
        app.close()
        ratio = job / bare if bare else float("inf")
        print(f"reps={args.reps} delay={args.delay * 1000:.0f}ms concurrency={args.concurrency}")
        print(f"bare send loop: {bare:.2f}s ({bare_ok} ok, {args.reps / bare:.0f} msg/s)")
        print(f"morning job:    {job:.2f}s ({summary.line()}; {retried} sent later by the retry loop)")
        print(f"ratio {ratio:.2f} (goal <= {GOAL_RATIO}); lost {lost}, repeated {repeated} (goal 0 and 0)")
        return lost == 0 and repeated == 0


if __name__ == "__main__":
    main()
