"""A bare outbox sender process for the crash tests: deliver until the backlog is empty.

    python -m tests.reliability.sender DATABASE_URL SLACK_API_URL CONCURRENCY LEASE_SECONDS
"""

from __future__ import annotations

import sys
import time

from bot.core.outbox import Outbox
from bot.core.settings import Settings
from bot.platforms.slack.port import SlackPort
from bot.wiring import App
from tests.conftest import make_settings

TOKEN = "xoxb-crash-test"
SECRET = "crash-test-signing-secret"


def sender_settings(database_url: str, api_url: str, *, concurrency: int, lease_seconds: int) -> Settings:
    """Slack on against the fake; fast retries; small lease so a dead sender's rows come back soon."""
    return make_settings(database_url, slack={"bot_token": TOKEN, "signing_secret": SECRET, "api_url": api_url},
                         outbox={"concurrency": concurrency, "lease_seconds": lease_seconds,
                                 "base_backoff_seconds": 0.05, "http_timeout_seconds": 5})


def main(argv: list[str]) -> int:
    url, api_url, concurrency, lease = argv[0], argv[1], int(argv[2]), int(argv[3])
    settings = sender_settings(url, api_url, concurrency=concurrency, lease_seconds=lease)
    app = App(settings, migrate=False, ports={})
    box = Outbox(app.db, {"slack": SlackPort(settings)}, settings)
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        box.release_stuck()
        box.deliver(limit=4 * concurrency)
        if box.backlog() == 0:
            print("done", flush=True)
            return 0
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
