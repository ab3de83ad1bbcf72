"""`salesbot run-job` on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.core.db import Database
from tests.jobs.helpers import add_report
from tests.support.org import build_org


def _run(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"SALESBOT_DATABASE__URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
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
    for proc in (bogus, nonsense, team):
        assert "Traceback" not in proc.stderr


def test_run_job_prints_what_it_sends_and_a_summary(database_url: str, db: Database, tmp_path: Path) -> None:
    org = build_org(db)
    add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], "2026-11-23", signed_amount=125000)
    proc = _run(["run-job", "evening", "--at", "2026-11-23T18:30+08:00"], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("evening: 3 team(s), 3 ran, 3 sent, 0 failed"), lines[-1]
    assert "── #sh1 ──" in proc.stdout and "张伟" in proc.stdout and "No report yet" in proc.stdout
    again = _run(["run-job", "evening", "--at", "2026-11-23T18:45"], database_url, tmp_path)  # naive: org zone
    assert again.returncode == 0
    assert again.stdout.strip() == ("evening: 3 team(s), 0 ran, 0 sent, 0 failed, "
                                    "skipped gz1 2026-11-23, n1 2026-11-23, sh1 2026-11-23 (already sent)")
