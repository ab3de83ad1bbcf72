"""Console changes go to the same audit log as chat ones: who, when, source console; a refused one writes nothing."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from models import AuditEntry
from tests.console.conftest import csrf_of

EDIT = "/console/templates/help?locale=zh-CN"


def test_console_template_save_and_reset_are_audited(sign_in: Callable[[str], TestClient], db: Database) -> None:
    admin = sign_in("admin")
    token = csrf_of(admin.get(EDIT).text)
    bad = admin.post("/console/templates/help", data={"csrf_token": token, "locale": "zh-CN", "text": "{{ nmae }}"})
    assert bad.status_code == 200
    with db.unit_of_work() as s:
        assert list(s.scalars(select(AuditEntry).where(AuditEntry.action.startswith("template")))) == []
    saved = admin.post("/console/templates/help", data={"csrf_token": token, "locale": "zh-CN",
                                                        "text": "说明 {{ name }}"})
    assert saved.status_code == 303
    assert admin.post("/console/templates/help/rollback",
                      data={"csrf_token": token, "locale": "zh-CN", "version": "0"}).status_code == 303
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action.startswith("template"))
                              .order_by(AuditEntry.id)))
        got = [(r.action, r.actor, r.source, r.target, r.actor_id is not None) for r in rows]
        assert got == [("template.save", "admin", "console", "help zh-CN", True),
                       ("template.reset", "admin", "console", "help zh-CN", True)]
        assert rows[0].after["text"] == "说明 {{ name }}" and rows[1].before["text"] == "说明 {{ name }}"
