"""`salesbot run-job` on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from bot.core.db import Database
from models import OutboxMessage
from tests.jobs.helpers import add_report
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.org import build_org
from tests.support.slack_app import SECRET, TOKEN


def _run(args: list[str], url: str, cwd: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {"SALESBOT_DATABASE__URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env_extra}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_run_job_bad_usage_exits_2(database_url: str, db: Database, tmp_path: Path) -> None:
    build_org(db)
    bogus = _run(["run-job", "bogus"], database_url, tmp_path)
    assert bogus.returncode == 2 and "morning" in bogus.stderr and "weekly" in bogus.stderr
    nonsense = _run(["run-job", "evening", "--at", "nonsense"], database_url, tmp_path)
    assert nonsense.returncode == 2 and "--at" in nonsense.stderr
    team = _run(["run-job", "evening", "--team", "nope"], database_url, tmp_path)
    assert team.returncode == 2 and "nope" in team.stderr and "sh1" in team.stderr
    wait = _run(["run-job", "evening", "--wait", "-1"], database_url, tmp_path)
    assert wait.returncode == 2 and "--wait" in wait.stderr
    for proc in (bogus, nonsense, team, wait):
        assert "Traceback" not in proc.stderr


def test_run_job_prints_what_it_sends_and_a_summary(database_url: str, db: Database, tmp_path: Path) -> None:
    org = build_org(db)
    add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], "2026-11-23", signed_amount=125000)
    proc = _run(["run-job", "evening", "--at", "2026-11-23T18:30+08:00"], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("evening: 3 team(s), 3 ran, 3 sent, 0 queued for retry, 0 failed"), lines[-1]
    assert "── #sh1 ──" in proc.stdout and "张伟" in proc.stdout and "No report yet" in proc.stdout
    again = _run(["run-job", "evening", "--at", "2026-11-23T18:45"], database_url, tmp_path)  # naive: org zone
    assert again.returncode == 0
    assert again.stdout.strip() == ("evening: 3 team(s), 0 ran, 0 sent, 0 queued for retry, 0 failed, "
                                    "skipped gz1 2026-11-23, n1 2026-11-23, sh1 2026-11-23 (already sent)")


def _slack_env(fake: FakeSlack) -> dict[str, str]:
    return {"SALESBOT_SLACK__BOT_TOKEN": TOKEN, "SALESBOT_SLACK__SIGNING_SECRET": SECRET,
            "SALESBOT_SLACK__API_URL": fake.url}


def _statuses(db: Database) -> dict[str, str]:
    with db.unit_of_work() as s:
        return {key: status for key, status in s.execute(select(OutboxMessage.key, OutboxMessage.status))}


def test_run_job_tells_queued_for_retry_from_sent_and_failed(database_url: str, db: Database,
                                                             tmp_path: Path) -> None:
    """Slack answers 429 to every first post: queued for retry with --wait 0; delivered with --wait."""
    build_org(db)  # the morning of sh1: Slack DMs to its sellers zhang and li (not to mgr_east)
    with running_fake_slack() as fake:
        fake.fail_next(2, "429", retry_after=1, methods=("chat.postMessage",))
        now = _run(["run-job", "morning", "--at", "2026-11-23T08:45+08:00", "--team", "sh1", "--wait", "0"], database_url,
                   tmp_path, **_slack_env(fake))
        assert now.returncode == 0, now.stderr
        lines = now.stdout.strip().splitlines()
        assert lines[0] == "morning: 1 team(s), 1 ran, 0 sent, 2 queued for retry, 0 failed", now.stdout
        assert lines[1].startswith("  queued for retry: 2 (sh1); last error: rate limited by the platform "
                                   "(ratelimited retry_after=1)"), lines[1]
        assert "`salesbot serve` or `salesbot scheduler` delivers them" in lines[1]
        assert "failed" not in now.stdout.replace("0 failed", "") and "Traceback" not in now.stderr
        assert sorted(_statuses(db).values()) == ["pending"] * 2  # nothing lost: the outbox has them

        # With --wait it delivers them itself, no sooner than Slack's Retry-After, before it exits.
        fake.fail_next(2, "429", retry_after=1, methods=("chat.postMessage",))
        waited = _run(["run-job", "morning", "--at", "2026-11-24T08:45+08:00", "--team", "sh1", "--wait", "20"], database_url,
                      tmp_path, **_slack_env(fake))
        assert waited.returncode == 0, waited.stderr
        assert waited.stdout.strip() == "morning: 1 team(s), 1 ran, 2 sent, 0 queued for retry, 0 failed"
        assert "waiting up to 20 s" in waited.stderr and "rate limited" in waited.stderr
        posts = [c for c in fake.all_calls("chat.postMessage") if "2026-11-24" in str(c.args.get("metadata"))]
        refused = [c.at for c in posts if not c.ok]
        accepted = [c.at for c in posts if c.ok]
        assert len(refused) == 2 and len(accepted) == 2
        assert min(accepted) - max(refused) >= 0.9  # Retry-After: 1 s

        # A refusal for good is told apart, with why; a Retry-After past the deadline is not waited out.
        fake.fail_next(1, "channel_not_found", methods=("chat.postMessage",))
        fake.fail_next(1, "429", retry_after=60, methods=("chat.postMessage",))
        started = time.monotonic()
        mixed = _run(["run-job", "morning", "--at", "2026-11-25T08:45+08:00", "--team", "sh1", "--wait", "5"], database_url,
                     tmp_path, **_slack_env(fake))
        assert time.monotonic() - started < 30
        lines = mixed.stdout.strip().splitlines()
        assert lines[0] == "morning: 1 team(s), 1 ran, 0 sent, 1 queued for retry, 1 failed", mixed.stdout
        assert "queued for retry: 1 (sh1)" in lines[1] and "retry_after=60" in lines[1]
        assert lines[2].startswith("  failed for good: 1 (sh1); ") and lines[2].endswith(
            "last error: the recipient or chat is not reachable (channel_not_found)"), lines[2]
    assert sorted(s for k, s in _statuses(db).items() if ":2026-11-25:" in k) == ["dead", "pending"]
