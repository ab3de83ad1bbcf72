"""Every change and its audit entry are one transaction, from chat, the console and the command line alike.

Each change is made twice: first while writing the audit entry fails (services.audit.record raises), which must
leave the change unmade, as a change and its entry are committed together or not at all; then normally, which
must make it with one entry saying who (the person), when (the clock) and where. A change recorded after its
own commit, or in a transaction of its own, fails the first half.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.transfer import import_command
from bot.wiring import App
from models import (
    AuditEntry,
    CollabRequest,
    ConsoleSession,
    Goal,
    Person,
    ReportField,
    TemplateVersion,
)
from services import audit
from tests.console.conftest import ask_link, csrf_of, path_of
from tests.support.chat import Chat
from tests.support.org import Org


class AuditFailed(Exception):
    """What the patched audit.record raises."""


@pytest.fixture()
def failing_audit(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """`with failing_audit("template.save"):` — writing that audit entry fails inside the block (it must be tried)."""

    @contextmanager
    def failing(action: str) -> Iterator[None]:
        tried: list[str] = []

        def record(*args: Any, **kwargs: Any) -> None:
            tried.append(str(kwargs.get("action")))
            raise AuditFailed(kwargs.get("action"))

        with monkeypatch.context() as patch:
            patch.setattr(audit, "record", record)
            yield
        assert action in tried, f"the change never tried to write its audit entry {action!r} (tried: {tried})"

    return failing


def entries(db: Database) -> list[tuple[str, str, str, str, datetime]]:
    with db.unit_of_work() as s:
        return [(e.action, e.actor, e.source, e.target, e.at)
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def count(db: Database, model: Any, *where: Any) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture()
def chat(settings: Settings, db: Database, clock: FixedClock, org: Org) -> Iterator[Chat]:
    chat = Chat(settings, db, clock)
    yield chat
    chat.app.handling.close()


# ---------------------------------------------------------------------------
# from chat


def test_chat_changes_and_their_audit_entries_are_one_transaction(chat: Chat, db: Database, clock: FixedClock,
                                                                  failing_audit: Callable[[str], Any]) -> None:
    now = clock.now()
    templates = (TemplateVersion.name == "help",)
    with failing_audit("template.save"):
        chat.say("admin", "/template save help\n新的说明 {{ name }}")
    assert count(db, TemplateVersion, *templates) == 0
    assert "已保存" in chat.say("admin", "/template save help\n新的说明 {{ name }}")
    assert count(db, TemplateVersion, *templates) == 1

    with failing_audit("field.add"):
        chat.say("admin", "/field add calls count zh:电话 en:calls")
    assert count(db, ReportField, ReportField.key == "calls") == 0
    chat.say("admin", "/field add calls count zh:电话 en:calls")
    assert count(db, ReportField, ReportField.key == "calls") == 1

    goal = (Goal.scope == "user", Goal.code == "li", Goal.period == "2026-12")
    with failing_audit("goal.set"):
        chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 50万")
    assert count(db, Goal, *goal) == 0
    chat.say("mgr_east", "/目标 设定 个人 li 2026-12 签约 50万")
    assert count(db, Goal, *goal) == 1

    chat.say("mgr_east", "/目标 设定 区域 east 2026 签约 1200000")
    found = re.search(r"!press goal_apply (\d+)", chat.say("mgr_east", "/目标 分解 区域 east 2026 签约 按=平均"))
    assert found
    quarters = (Goal.scope == "region", Goal.code == "east", Goal.period.like("2026-%"))
    with failing_audit("goal.split_apply"):
        chat.press("mgr_east", "goal_apply", found[1])
    assert count(db, Goal, *quarters) == 0
    chat.press("mgr_east", "goal_apply", found[1])
    assert count(db, Goal, *quarters) == 16  # four quarters and twelve months

    chat.say("zhang", "/collab 远航集团 客户总部在上海")
    with db.unit_of_work() as s:
        request_id = s.scalars(select(CollabRequest.id)).one()
    with failing_audit("collab.approve"):
        chat.press("mgr_south", "collab_approve", str(request_id))
    with db.unit_of_work() as s:
        assert s.get(CollabRequest, request_id).decided_at is None  # type: ignore[union-attr]
    chat.press("mgr_south", "collab_approve", str(request_id))
    with db.unit_of_work() as s:
        assert s.get(CollabRequest, request_id).decided_at is not None  # type: ignore[union-attr]

    assert [(action, actor, source) for action, actor, source, _, _ in entries(db)] == [
        ("template.save", "admin", "terminal"), ("field.add", "admin", "terminal"),
        ("goal.set", "mgr_east", "terminal"), ("goal.set", "mgr_east", "terminal"),
        ("goal.split_apply", "mgr_east", "terminal"), ("collab.approve", "mgr_south", "terminal")]
    assert {at for *_, at in entries(db)} == {now}


# ---------------------------------------------------------------------------
# from the console


def test_console_changes_and_their_audit_entries_are_one_transaction(
        sign_in: Callable[[str], TestClient], db: Database, clock: FixedClock,
        failing_audit: Callable[[str], Any]) -> None:
    admin, east = sign_in("admin"), sign_in("mgr_east")
    signed_in = len(entries(db))

    def post(client: TestClient, path: str, page: str | None = None, /, *, files: Any = None, **data: str) -> Any:
        token = csrf_of(client.get(page or path).text)
        return client.post(path, data={"csrf_token": token, **data}, files=files)

    def refused(audited: str, client: TestClient, path: str, page: str | None = None, /, **data: Any) -> None:
        with failing_audit(audited):
            assert post(client, path, page, **data).status_code == 500  # the error page; nothing kept

    edit = ("/console/templates/help", "/console/templates/help?locale=zh-CN")
    templates = (TemplateVersion.name == "help",)
    refused("template.save", admin, *edit, locale="zh-CN", text="说明 {{ name }}")
    assert count(db, TemplateVersion, *templates) == 0
    assert post(admin, *edit, locale="zh-CN", text="说明 {{ name }}").status_code == 303
    rollback = ("/console/templates/help/rollback", edit[1])
    refused("template.reset", admin, *rollback, locale="zh-CN", version="0")
    assert count(db, TemplateVersion, *templates) == 1
    assert post(admin, *rollback, locale="zh-CN", version="0").status_code == 303
    assert count(db, TemplateVersion, *templates) == 2

    refused("field.add", admin, "/console/fields", action="add", key="calls", type="count", label_zh="电话")
    assert count(db, ReportField, ReportField.key == "calls") == 0
    assert post(admin, "/console/fields", action="add", key="calls", type="count", label_zh="电话").status_code == 303
    refused("field.rename", admin, "/console/fields", action="rename", key="calls", locale="zh-CN", label="电话数")
    with db.unit_of_work() as s:
        assert s.scalars(select(ReportField).where(ReportField.key == "calls")).one().labels_zh == ["电话"]

    goal = (Goal.scope == "team", Goal.code == "sh1", Goal.period == "2026-12")
    form = {"unit": "team:sh1", "period": "2026-12", "metric": "signed_amount", "target": "100000"}
    refused("goal.set", east, "/console/goals", **form)
    assert count(db, Goal, *goal) == 0
    assert post(east, "/console/goals", **form).status_code == 303
    split = "/console/goals/split?scope=team&code=sh1&period=2026-12&metric=signed_amount&by=even"
    rows = dict(re.findall(r'name="(s\d+-\d+-target)" value="([^"]*)"', east.get(split).text))
    assert rows
    apply = {"scope": "team", "code": "sh1", "period": "2026-12", "metric": "signed_amount", "by": "even",
             "action": "apply", **rows}
    members = (Goal.scope == "user", Goal.period == "2026-12")
    refused("goal.split_apply", east, "/console/goals/split", split, **apply)
    assert count(db, Goal, *members) == 0
    assert post(east, "/console/goals/split", split, **apply).status_code == 303
    assert count(db, Goal, *members) == len(rows)

    checked = post(admin, "/console/import", action="check", kind="users",
                   files={"file": ("new.csv", "code,name,role,team\nnew1,新人,rep,sh1\n".encode(), "text/csv")})
    start = checked.text.index('name="action" value="apply"') - 400
    form_fields = checked.text[start:checked.text.index("</form>", start)]
    imported = {k: v for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', form_fields)
                if k in ("action", "kind", "filename", "digest", "data")}
    refused("import", admin, "/console/import", **imported)
    assert count(db, Person, Person.code == "new1") == 0
    assert post(admin, "/console/import", **imported).status_code == 303
    assert count(db, Person, Person.code == "new1") == 1

    got = [(action, actor, source, target) for action, actor, source, target, _ in entries(db)[signed_in:]]
    assert got == [("template.save", "admin", "console", "help zh-CN"),
                   ("template.reset", "admin", "console", "help zh-CN"),
                   ("field.add", "admin", "console", "calls"),
                   ("goal.set", "mgr_east", "console", "team sh1 2026-12 signed_amount"),
                   ("goal.split_apply", "mgr_east", "console", "team sh1 2026-12 signed_amount"),
                   ("import", "admin", "console", "users (new.csv)")]
    assert {at for *_, at in entries(db)} == {clock.now()}


def test_a_console_sign_in_and_its_audit_entry_are_one_transaction(
        app: App, client: TestClient, db: Database, failing_audit: Callable[[str], Any]) -> None:
    link = path_of(ask_link(app, "li"))
    with failing_audit("console.sign_in"), pytest.raises(AuditFailed):
        client.post(link)
    assert count(db, ConsoleSession) == 0 and entries(db) == []
    resp = client.post(link)  # the link was not spent by the sign-in that failed
    assert resp.status_code == 303, resp.text
    assert count(db, ConsoleSession) == 1
    assert [(a, who, where, target) for a, who, where, target, _ in entries(db)] == [
        ("console.sign_in", "li", "console", "li")]


# ---------------------------------------------------------------------------
# from the command line


def test_a_cli_import_and_its_audit_entry_are_one_transaction(
        settings: Settings, db: Database, org: Org, tmp_path: Path, failing_audit: Callable[[str], Any]) -> None:
    path = tmp_path / "people.csv"
    path.write_text("code,name,role,team\nnew1,新人,rep,sh1\nzhang,张伟,rep,gz1\n", encoding="utf-8")
    with failing_audit("import"), pytest.raises(AuditFailed):
        import_command(App(settings, db=db, migrate=False), "users", path)
    assert count(db, Person, Person.code == "new1") == 0
    with db.unit_of_work() as s:
        assert s.scalars(select(Person).where(Person.code == "zhang")).one().team.code == "sh1"  # type: ignore[union-attr]
    import_command(App(settings, db=db, migrate=False), "users", path)
    assert count(db, Person, Person.code == "new1") == 1
    [(action, actor, source, target, _)] = entries(db)
    assert (action, source, target) == ("import", "cli", "users (people.csv)") and actor.startswith("cli:")
