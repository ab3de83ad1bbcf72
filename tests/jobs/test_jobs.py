"""What each job sends: morning, evening, nudges with escalation and stalled risks, the weekly review."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest

from bot.core.db import Database
from bot.core.settings import Settings
from models import Customer, FollowUp
from tests.jobs.helpers import add_report, make_app, outbox_rows, run
from tests.support.org import build_org

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_morning_prompt_has_goal_followups_and_key_actions(settings: Settings, db: Database) -> None:
    org = build_org(db)
    add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], "2026-11-20", signed_amount=200000)
    with db.unit_of_work() as s:
        c = s.get(Customer, org.ids["cust:yuanhang"])
        assert c is not None
        c.owner_id, c.region_id = org.ids["user:zhang"], org.ids["sh"]
        c.created_at = datetime(2026, 10, 1, tzinfo=UTC)
        c.last_contact = date(2026, 11, 16)  # tier A: due 11-23
    app, out = make_app(settings, db)
    summary = run(app, "morning", "2026-11-23T08:45+08:00", ["sh1"])
    assert summary.sent == 2
    text = out.getvalue()
    zhang = text.split("(zhang) ──")[1].split("── →")[0]
    assert "本月目标" in zhang and "20万 / 50万" in zhang and "保底" in zhang and "冲刺" in zhang
    assert "远航集团" in zhang and "今日三件事" in zhang
    assert "还没有设置目标" in text.split("(li) ──")[1]
    assert all(r.key.startswith("job:morning:sh1:2026-11-23:") for r in outbox_rows(db))


def test_evening_ranks_and_lists_who_has_not_reported(settings: Settings, db: Database) -> None:
    org = build_org(db)
    add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], "2026-11-23", signed_amount=125000)
    add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], "2026-11-20", signed_amount=75000)
    app, out = make_app(settings, db)
    summary = run(app, "evening", "2026-11-23T18:30+08:00", ["sh1"])
    assert summary.sent == 1
    text = out.getvalue()
    assert "── #sh1 ──" in text
    assert "1. 张伟 12.5万" in text
    assert "未交日报" in text and "李娜" in text.split("未交日报")[1]
    assert "陈经理" not in text  # a manager without a personal goal is not a seller (contract section 8)
    assert "张伟" not in text.split("未交日报")[1]
    # Once a day per channel.
    assert run(app, "evening", "2026-11-23T19:00+08:00", ["sh1"]).sent == 0
    assert text == out.getvalue()


def _overdue_customer(db: Database, org_ids: dict[str, int]) -> None:
    with db.unit_of_work() as s:
        c = s.get(Customer, org_ids["cust:yuanhang"])
        assert c is not None
        c.created_at = datetime(2026, 10, 1, tzinfo=UTC)
        c.last_contact = date(2026, 11, 10)  # tier A, 7 days: due Tuesday 11-17


def test_nudge_then_escalation_after_threshold_to_the_right_manager(settings: Settings, db: Database) -> None:
    org = build_org(db)
    _overdue_customer(db, org.ids)
    app, out = make_app(settings, db)
    run(app, "nudges", "2026-11-19T10:00+08:00")  # 2 workdays overdue
    keys = [r.key for r in outbox_rows(db)]
    assert "job:nudges:gz1:2026-11-19:wang:console" in keys
    assert not any(":escalation:" in k for k in keys)
    assert "job:nudges:gz1:2026-11-19:stalled:mgr_south:console" in keys  # proposal since 11-01
    first = out.getvalue()
    assert "!press nudge_done" in first and "!press nudge_snooze" in first and "远航集团" in first
    run(app, "nudges", "2026-11-20T10:00+08:00")  # 3 workdays overdue
    esc = [r for r in outbox_rows(db) if ":escalation:" in r.key]
    assert [r.target for r in esc] == ["mgr_south"]
    assert "王芳" in esc[0].payload["text"] and "远航集团" in esc[0].payload["text"]
    with db.unit_of_work() as s:
        f = s.query(FollowUp).one()
        assert f.escalated_on == date(2026, 11, 20) and f.nudged_on == date(2026, 11, 20)
    # A second run that day sends nothing more.
    before = len(outbox_rows(db))
    run(app, "nudges", "2026-11-20T15:00+08:00")
    assert len(outbox_rows(db)) == before


@pytest.mark.filterwarnings("error:Glyph:UserWarning")  # a name drawn as a box fails the team's run
def test_weekly_review_with_chart_on_the_first_workday(settings: Settings, db: Database) -> None:
    org = build_org(db)
    for day, amount in (("2026-11-16", 80000), ("2026-11-18", 45000)):
        add_report(db, org.ids["user:zhang"], org.ids["team:sh1"], day, signed_amount=amount, visits=3)
    add_report(db, org.ids["user:li"], org.ids["team:sh1"], "2026-11-17", signed_amount=30000, visits=1)
    app, out = make_app(settings, db)
    assert run(app, "weekly", "2026-11-24T08:45+08:00", ["sh1"]).teams[0].reason == \
        "not the first workday of the week"
    summary = run(app, "weekly", "2026-11-23T08:45+08:00", ["sh1"])
    assert summary.sent == 2  # the team's channel and mgr_east (east manages sh)
    rows = outbox_rows(db)
    assert {r.target for r in rows} == {"sh1", "mgr_east"}
    png = base64.b64decode(rows[0].payload["image_b64"])
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000
    with open("/tmp/weekly_sh1.png", "wb") as fh:
        fh.write(png)
    text = out.getvalue()
    assert "周报" in text and "2026-11-16 ~ 2026-11-22" in text and "[image: weekly-sh1-2026-11-16.png]" in text
    assert "1. 张伟 12.5万" in text and "活跃度" in text and "漏斗" in text
