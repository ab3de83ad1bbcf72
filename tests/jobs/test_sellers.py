"""Who is a seller (contract section 8), through the jobs and dispatch on the demo organisation.

The demo's team sh1 has five reps and its manager chenjl (陈建林), who manages 华东 and North.
Without a personal goal chenjl is not ranked, prompted, reminded or given a share; with one (a
player-coach) chenjl is all of these, like a rep. Managers still get the weekly review.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.demo import build_organisation
from models import Customer, Person
from tests.jobs.helpers import add_report, make_app, outbox_rows, run
from tests.support.chat import Chat

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _demo(db: Database) -> dict[str, int]:
    with db.unit_of_work() as s:
        build_organisation(s, now=MONDAY, today=MONDAY.date())
        ids = {p.code: p.id for p in s.scalars(select(Person))}
        team = s.scalar(select(Person.team_id).where(Person.code == "zhangwei"))
        assert team is not None
        ids["team:sh1"] = team
    # Last week and today: two reps and the manager (who may report like anyone) sent reports.
    for code, day, amount in (("zhangwei", "2026-11-17", 180000), ("lina", "2026-11-18", 120000),
                              ("chenjl", "2026-11-19", 90000), ("zhangwei", "2026-11-23", 125000),
                              ("chenjl", "2026-11-23", 30000)):
        add_report(db, ids[code], ids["team:sh1"], day, signed_amount=amount, visits=2)
    return ids


def _targets(db: Database, job: str) -> set[str]:
    return {r.target for r in outbox_rows(db) if r.key.startswith(f"job:{job}:")}


def _team_post(db: Database, job: str) -> str:
    rows = [r for r in outbox_rows(db) if r.key.startswith(f"job:{job}:sh1:") and r.key.endswith(":team:console")]
    assert len(rows) == 1, [r.key for r in outbox_rows(db)]
    return str(rows[0].payload["text"])


def _split(settings: Settings, db: Database) -> str:
    chat = Chat(settings, db, FixedClock(MONDAY))
    return chat.say("admin", "/目标 分解 团队 sh1 2026-11 签约 按=平均")


def test_demo_team_shows_no_manager_without_a_personal_goal(settings: Settings, db: Database) -> None:
    _demo(db)
    app, _ = make_app(settings, db, MONDAY)
    run(app, "morning", "2026-11-23T08:45+08:00", ["sh1"])
    run(app, "reminder", "2026-11-23T17:30+08:00", ["sh1"])
    assert "zhangwei" in _targets(db, "morning") and "chenjl" not in _targets(db, "morning")
    assert "lina" in _targets(db, "reminder") and "chenjl" not in _targets(db, "reminder")

    run(app, "evening", "2026-11-23T18:30+08:00", ["sh1"])
    evening = _team_post(db, "evening")
    assert "1. 张伟 12.5万" in evening and "未交日报（4/5）" in evening
    assert "陈建林" not in evening  # reported 3万 today, but is no seller: not ranked, not counted
    # though the team's total counts every report filed in the team, as its goal does (12.5万 + 3万)
    assert "团队今日合计：15.5万" in evening

    run(app, "weekly", "2026-11-23T08:45+08:00", ["sh1"])
    weekly = _team_post(db, "weekly")
    assert "1. 张伟 18万" in weekly and "活跃度" in weekly and "陈建林" not in weekly
    assert weekly.count("· 活跃度") == 5
    assert "团队合计：39万 / 47.62万" in weekly  # 18万 + 12万 ranked, and the manager's 9万 counted in the total
    assert "chenjl" in _targets(db, "weekly")  # the manager still gets the weekly review

    split = _split(settings, db)
    assert "张伟" in split and "陈静" in split and "陈建林" not in split
    assert split.count("：40万") == 5  # the team's 200万 in five equal shares


def test_player_coach_with_a_goal_is_ranked_prompted_reminded_and_chased(settings: Settings,
                                                                          db: Database) -> None:
    ids = _demo(db)
    chat = Chat(settings, db, FixedClock(MONDAY))
    # A quarter goal is a quota carried through each of its months: chenjl sells in November.
    assert "已设定目标：陈建林（chenjl）2026-Q4" in chat.say("admin", "/目标 设定 个人 chenjl 2026-Q4 签约 90万")
    mine = chat.say("chenjl", "/目标").split("**团队")[0]
    assert "我的目标（2026-Q4）" in mine and "/ 目标 90万" in mine, mine
    with db.unit_of_work() as s:  # and owns a customer whose follow-up is two workdays overdue
        c = s.scalar(select(Customer).where(Customer.name == "静安置业"))
        assert c is not None
        c.owner_id, c.created_at, c.last_contact = ids["chenjl"], datetime(2026, 9, 1, tzinfo=UTC), date(2026, 10, 1)
    app, out = make_app(settings, db, MONDAY)
    run(app, "morning", "2026-11-24T08:45+08:00", ["sh1"])
    assert "chenjl" in _targets(db, "morning")
    assert "(chenjl) ──" in out.getvalue() and "今日三件事" in out.getvalue().split("(chenjl) ──")[1]
    prompt = out.getvalue().split("(chenjl) ──")[1].split("今日三件事")[0]
    # no month goal, so the quarter's quota is shown, not "本月还没有设置目标"
    assert "本季度目标（2026-Q4）" in prompt and "- 签约：" in prompt and "/ 90万" in prompt, prompt
    assert "还没有设置目标" not in prompt
    run(app, "reminder", "2026-11-24T17:30+08:00", ["sh1"])
    assert "chenjl" in _targets(db, "reminder")
    run(app, "nudges", "2026-11-24T10:00+08:00", ["sh1"])
    assert any(r.key == "job:nudges:sh1:2026-11-24:chenjl:console" for r in outbox_rows(db))

    run(app, "evening", "2026-11-23T18:30+08:00", ["sh1"])
    evening = _team_post(db, "evening")
    assert "2. 陈建林 3万" in evening and "未交日报（4/6）" in evening
    run(app, "evening", "2026-11-24T18:30+08:00", ["sh1"])
    tuesday = [r for r in outbox_rows(db) if r.key.startswith("job:evening:sh1:2026-11-24:")][0].payload["text"]
    assert "陈建林" in tuesday.split("未交日报")[1]  # listed as not reported, like a rep

    run(app, "weekly", "2026-11-23T08:45+08:00", ["sh1"])
    weekly = _team_post(db, "weekly")
    coach = [line for line in weekly.splitlines() if "陈建林" in line]
    assert len(coach) == 1 and "9万" in coach[0] and "活跃度" in coach[0]

    split = _split(settings, db)
    assert "陈建林" in split and split.count("：33.33万") + split.count("：33.34万") == 6

    # January is outside the Q4 goal: chenjl is a manager again.
    run(app, "morning", "2027-01-04T08:45+08:00", ["sh1"])
    assert not any(r.key.startswith("job:morning:sh1:2027-01-04:chenjl") for r in outbox_rows(db))
