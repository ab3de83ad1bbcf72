"""The runner: workdays, claims, concurrency, zones, platforms, locales (through run_job)."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import Settings
from models import JobRun
from tests.conftest import make_settings
from tests.jobs.helpers import CJK, add_report, make_app, outbox_rows, run
from tests.support.org import build_org


def test_makeup_saturday_sends(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    summary = run(app, "reminder", "2026-10-10T17:30+08:00", ["sh1", "gz1"])
    assert [t.status for t in summary.teams] == ["sent", "sent"]
    assert summary.sent == 3  # zhang, li, wang
    text = out.getvalue()
    assert "张伟" in text and "李娜" in text and "王芳" in text and "拜访" in text


def test_national_day_sends_nothing(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    summary = run(app, "reminder", "2026-10-01T17:30+08:00", ["sh1", "gz1"])
    assert {t.reason for t in summary.teams} == {"not a workday"}
    assert outbox_rows(db) == [] and out.getvalue() == ""
    assert "skipped" in summary.line() and "not a workday" in summary.line()


def test_unpublished_year_does_not_crash(settings: Settings, db: Database) -> None:
    build_org(db)
    app, _ = make_app(settings, db)
    for at in ("2027-03-10T17:30+08:00", "2027-10-04T17:30+08:00", "2027-01-02T17:30+08:00"):
        summary = run(app, "reminder", at)
        assert all(t.status in ("sent", "skipped") for t in summary.teams), summary.line()
    # A Wednesday in March is a workday by the rules.
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(JobRun).where(JobRun.day == date(2027, 3, 10))) == 3


def test_three_threads_and_a_rerun_send_each_message_once(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    results = []
    barrier = threading.Barrier(3)

    def go() -> None:
        barrier.wait()
        results.append(run(app, "reminder", "2026-11-23T17:30+08:00", ["sh1", "gz1"]))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results.append(run(app, "reminder", "2026-11-23T17:30+08:00", ["sh1", "gz1"]))
    ran = [t for summary in results for t in summary.teams if t.status == "sent"]
    assert sorted(t.team for t in ran) == ["gz1", "sh1"]
    assert sum(s.sent for s in results) == 3
    skipped = [t for summary in results for t in summary.teams if t.status != "sent"]
    assert len(skipped) == 6 and {t.reason for t in skipped} == {"already sent"}
    assert len(outbox_rows(db)) == 3
    text = out.getvalue()
    assert text.count("── → 张伟") + text.count("(zhang)") >= 1
    assert text.count("(zhang) ──") == 1 and text.count("(li) ──") == 1 and text.count("(wang) ──") == 1
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(JobRun)) == 2


def test_team_day_comes_from_the_team_zone(settings: Settings, db: Database) -> None:
    build_org(db)
    app, _ = make_app(settings, db)
    # Monday 09:00 in Shanghai is Sunday 20:00 in New York.
    summary = run(app, "reminder", "2026-11-23T09:00+08:00", ["sh1", "n1"])
    by = {t.team: t for t in summary.teams}
    assert by["sh1"].day == date(2026, 11, 23) and by["sh1"].status == "sent"
    assert by["n1"].day == date(2026, 11, 22) and by["n1"].reason == "not a workday"
    # Tuesday 08:00 in Shanghai is still Monday evening in New York: n1's Monday runs now.
    summary = run(app, "reminder", "2026-11-24T08:00+08:00", ["sh1", "n1"])
    by = {t.team: t for t in summary.teams}
    assert by["sh1"].day == date(2026, 11, 24) and by["n1"].day == date(2026, 11, 23)
    assert by["n1"].status == "sent"


def test_english_team_gets_english(settings: Settings, db: Database) -> None:
    org = build_org(db)
    add_report(db, org.ids["user:mgr_north"], org.ids["team:n1"], "2026-11-23", signed_amount=5000)
    app, out = make_app(settings, db)
    run(app, "reminder", "2026-11-23T17:30-05:00", ["n1"])
    run(app, "evening", "2026-11-23T18:30-05:00", ["n1"])
    text = out.getvalue()
    assert "Bob Smith" in text and "Daily report" in text and "No report yet" in text
    assert not CJK.search(text), text


def test_platform_rows_per_identity_and_channel(database_url: str, db: Database, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    cfg = make_settings(database_url, slack={"bot_token": "xoxb-1", "signing_secret": "s"},
                        wecom={"corp_id": "c", "agent_id": "1", "secret": "x", "token": "t",
                               "encoding_aes_key": "k" * 43})
    build_org(db)
    app, _ = make_app(cfg, db)
    run(app, "reminder", "2026-11-23T17:30+08:00", deliver=False)
    run(app, "evening", "2026-11-23T18:30+08:00", ["sh1", "gz1"], deliver=False)
    rows = {(r.key.split(":")[2], r.key.split(":")[1], r.platform, r.target) for r in outbox_rows(db)}
    assert ("sh1", "reminder", "slack", "U_ZHANG") in rows and ("sh1", "reminder", "wecom", "zhangwei") in rows
    assert ("gz1", "reminder", "wecom", "wangfang") in rows
    assert ("n1", "reminder", "slack", "U_BOB") in rows  # 04:30 on Monday in New York
    assert {r[2:] for r in rows if r[1] == "evening"} == {
        ("slack", "C_SH1"), ("wecom", "chat_sh1"), ("wecom", "http://127.0.0.1:1/robot?key=gz1")}
    assert len([r for r in rows if r[1] == "reminder"]) == 6


def test_unknown_team_is_refused(settings: Settings, db: Database) -> None:
    import pytest

    from jobs.runner import UnknownTeam

    build_org(db)
    app, _ = make_app(settings, db)
    with pytest.raises(UnknownTeam, match="nope"):
        run(app, "reminder", "2026-11-23T17:30+08:00", ["nope"])
