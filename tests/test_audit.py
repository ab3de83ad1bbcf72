"""The audit log: every change from chat and the CLI is recorded with who and when; a refused one is not."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import AuditEntry, CollabRequest, Person
from services import audit
from tests.support.chat import Chat, platform_settings
from tests.support.org import build_org
from tests.support.sending import person_id
from tests.test_transfer import _cli

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def log(db: Database) -> list[AuditEntry]:
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        s.expunge_all()
    return rows


def count(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)) or 0


@pytest.fixture()
def chat(settings: Settings, db: Database, clock: FixedClock) -> Chat:
    build_org(db)
    return Chat(settings, db, clock)


def test_template_save_rollback_and_reset_are_recorded_with_before_and_after(chat: Chat, db: Database,
                                                                              clock: FixedClock) -> None:
    assert "已保存" in chat.say("admin", "/template save help\n新的说明 {{ name }}")
    clock.advance(minutes=5)
    assert "未保存" in chat.say("admin", "/template save help\n{{ name.__class__ }}")
    chat.say("zhang", "/template save help\n我的版本")  # refused: not an admin
    chat.say("admin", "/template save help\n第二版 {{ name }}")
    chat.say("admin", "/template rollback help 1")
    chat.say("admin", "/template rollback help 0")
    chat.say("admin", "/template rollback help 9")  # refused: no such version
    first, second, rollback, reset = log(db)
    assert (first.action, first.actor, first.actor_id, first.source, first.target) == (
        "template.save", "admin", person_id(db, "admin"), "terminal", "help zh-CN")
    assert first.at == NOW and second.at == NOW + timedelta(minutes=5)
    assert first.before["version"] == 0 and "{{" in first.before["text"]
    assert first.after == {"version": 1, "text": "新的说明 {{ name }}"}
    assert second.before == first.after and second.after == {"version": 2, "text": "第二版 {{ name }}"}
    assert rollback.action == "template.rollback" and rollback.before == second.after
    assert rollback.after == {"version": 3, "text": "新的说明 {{ name }}"}
    assert reset.action == "template.reset" and reset.after["version"] == 4
    assert reset.after["text"] == first.before["text"]


def test_slack_form_edit_is_recorded_and_a_refused_one_is_not(database_url: str, db: Database,
                                                              clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(platform_settings(database_url), db, clock)
    result = chat.form("U_ADMIN", "template_edit", {"body": "ok {{ nope }}"}, "help|en")
    assert result.form_errors and count(db) == 0
    chat.form("U_ADMIN", "template_edit", {"body": "Help for {{ name }}"}, "help|en")
    [entry] = log(db)
    assert (entry.action, entry.actor, entry.source, entry.target) == ("template.save", "admin", "slack", "help en")


def test_field_changes_are_recorded(chat: Chat, db: Database) -> None:
    chat.say("admin", "/field add calls count zh:电话 en:calls")
    chat.say("admin", "/field alias visits 见客户")
    chat.say("admin", "/field rename visits 客户拜访")
    chat.say("admin", "/field add 1bad count 坏")  # refused: a bad key
    chat.say("admin", "/field alias visits 电话")  # refused: the label belongs to calls
    chat.say("zhang", "/field add sneaky count 偷偷")  # refused: not an admin
    add, alias, rename = log(db)
    assert (add.action, add.target, add.before) == ("field.add", "calls", None)
    assert add.after["labels_zh"] == ["电话"] and add.after["type"] == "count"
    assert alias.action == "field.alias" and "见客户" not in alias.before["aliases"]
    assert "见客户" in alias.after["aliases"]
    assert rename.action == "field.rename" and rename.after["label"] == "客户拜访"
    assert rename.before["label"] != "客户拜访"


def test_goal_set_and_split_apply_are_recorded_refusals_are_not(chat: Chat, db: Database) -> None:
    chat.say("zhang", "/目标 设定 个人 li 2026-12 签约 50万")  # refused: a rep
    chat.say("mgr_south", "/goal set team sh1 2026-12 signed 500k")  # refused: not their region
    chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 30万 保底=40万")  # refused: floor above target
    assert count(db) == 0
    chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 50万 保底=30万")
    chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 60万")
    first, second = log(db)
    assert (first.action, first.actor, first.target) == ("goal.set", "mgr_east", "user li 2026-12 signed_amount")
    assert first.before is None and first.after == {"target": "500000", "floor": "300000", "stretch": None}
    assert second.before == first.after and second.after == {"target": "600000", "floor": None, "stretch": None}

    chat.say("mgr_east", "/目标 设定 区域 east 2026 签约 1200000")
    out = chat.say("mgr_east", "/目标 分解 区域 east 2026 签约 按=平均")
    match = re.search(r"!press goal_apply (\d+)", out)
    assert match
    before = count(db)
    chat.press("mgr_south", "goal_apply", match[1])  # refused: not the asker
    assert count(db) == before
    chat.press("mgr_east", "goal_apply", match[1])
    applied = log(db)[-1]
    assert applied.action == "goal.split_apply" and applied.target == "region east 2026 signed_amount"
    assert applied.after["proposal"] == int(match[1]) and applied.after["by"] == "even"
    goals = applied.after["goals"]
    assert len(goals) == 18 and goals["region east 2026-Q1"] == {"target": "300000", "floor": None,
                                                                 "stretch": None}
    assert applied.before["goals"]["region east 2026-Q1"] is None
    chat.press("mgr_east", "goal_apply", match[1])  # refused: already applied
    assert count(db) == before + 1


def test_collab_decisions_are_recorded_once(chat: Chat, db: Database) -> None:
    chat.say("zhang", "/collab 远航集团 客户总部在上海")
    with db.unit_of_work() as s:
        request_id = s.scalars(select(CollabRequest.id)).one()
    chat.press("mgr_east", "collab_approve", str(request_id))  # refused: not the owning region's manager
    assert count(db) == 0
    chat.press("mgr_south", "collab_approve", str(request_id))
    chat.press("mgr_south", "collab_reject", str(request_id))  # too late: the first decision stands
    [entry] = log(db)
    assert (entry.action, entry.actor, entry.target) == ("collab.approve", "mgr_south", f"collab {request_id} 远航集团")
    assert entry.before == {"status": "pending"}
    assert entry.after["status"] == "approved" and entry.after["requester"] == "zhang"
    assert entry.after["expires_at"].startswith("2026-12-07")


def test_record_stores_plain_json_and_reads_back_filtered(db: Database) -> None:
    build_org(db)
    with db.unit_of_work() as s:
        admin = s.scalars(select(Person).where(Person.code == "admin")).one()
        audit.record(s, action=audit.Action.CONSOLE_SIGN_IN, actor=admin, source=audit.Source.CONSOLE, at=NOW)
        audit.record(s, action="goal.set", actor="system", source=audit.Source.SYSTEM, at=NOW + timedelta(days=1),
                     target="user zhang 2026-11 visits", after={"target": Decimal("12.50"), "day": NOW.date()})
    with db.unit_of_work() as s:
        everything = audit.entries(s)
        assert [e.action for e in everything] == ["goal.set", "console.sign_in"]
        assert everything[0].after == {"target": "12.5", "day": "2026-11-23"} and everything[0].actor_id is None
        assert [e.action for e in audit.entries(s, actions=["goal"])] == ["goal.set"]
        assert [e.action for e in audit.entries(s, actor="admin")] == ["console.sign_in"]
        assert [e.action for e in audit.entries(s, since=NOW.date() + timedelta(days=1))] == ["goal.set"]
        assert [e.action for e in audit.entries(s, text="zhang")] == ["goal.set"]


def test_cli_import_is_recorded_and_export_audit_shows_it(db: Database, database_url: str,
                                                          tmp_path: Path) -> None:
    build_org(db)
    bad = tmp_path / "users.csv"
    bad.write_text("code,name,role,team\nnew1,新人,rep,sh1\nnew2,新人二,chief,sh1\n", encoding="utf-8")
    assert _cli(["import", "users", str(bad)], database_url, tmp_path).returncode == 2
    assert count(db) == 0
    good = tmp_path / "people.csv"
    good.write_text("code,name,role,team\nnew1,新人,rep,sh1\nzhang,张伟,rep,sh1\n", encoding="utf-8")
    proc = _cli(["import", "users", str(good)], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    [entry] = log(db)
    assert entry.action == "import" and entry.source == "cli" and entry.actor.startswith("cli")
    assert entry.actor_id is None and entry.target == "users (people.csv)"
    assert entry.after == {"kind": "users", "file": "people.csv", "rows": 2, "created": 1, "updated": 1}
    assert abs(entry.at - datetime.now(UTC)) < timedelta(minutes=5)

    proc = _cli(["export", "audit", "--format", "json"], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["action"] == "import" and row["source"] == "cli" and row["after"]["created"] == 1
    assert row["at"] == entry.at.isoformat()
    proc = _cli(["export", "audit"], database_url, tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0] == "id,at,actor,actor_name,source,action,target,before,after"
    assert "users (people.csv)" in lines[1] and '""created"": 1' in lines[1]
    proc = _cli(["export", "audit", "--since", "2000-01-01", "--until", "2000-01-02"], database_url, tmp_path)
    assert proc.stdout.splitlines() == [lines[0]]
