"""/console/fields: add, rename, alias and reorder with /field's rules; a refusal changes nothing and says why."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from bot.core.types import Inbound, InboundKind
from bot.wiring import App
from models import DailyReport, ReportField
from services.report_fields import load_fields
from tests.console.conftest import csrf_of


def _post(client: TestClient, **data: str) -> object:
    token = csrf_of(client.get("/console/fields").text)
    return client.post("/console/fields", data={"csrf_token": token, **data})


def test_add_rename_alias_and_move_a_field(sign_in: Callable[[str], TestClient], app: App, db: Database) -> None:
    admin = sign_in("admin")
    page = admin.get("/console/fields")
    assert page.status_code == 200 and "签约金额" in page.text and "signed_amount" in page.text
    resp = _post(admin, action="add", key="calls", type="count", label_zh="电话", label_en="calls")
    assert resp.status_code == 303 and "done=add" in resp.headers["location"]
    assert "已添加字段 calls" in admin.get(resp.headers["location"]).text
    assert _post(admin, action="alias", key="calls", label="打电话").status_code == 303
    assert _post(admin, action="rename", key="visits", label="客户拜访", locale="zh-CN").status_code == 303
    assert _post(admin, action="move", key="calls", to="1").status_code == 303
    with db.unit_of_work() as s:
        fields = load_fields(session=s)
        assert fields[0].key == "calls" and fields[0].aliases == ("打电话",)
        assert next(f for f in fields if f.key == "visits").labels_zh[0] == "客户拜访"
    # the report follows: the new field (under its alias) and the new name are understood
    app.dispatch(Inbound("console", "f1", "zhang", InboundKind.MESSAGE, text="日报\n打电话：7\n客户拜访：3"))
    with db.unit_of_work() as s:
        report = s.scalar(select(DailyReport).where(DailyReport.day.is_not(None)))
        assert report is not None and report.extra.get("calls") == 7 and report.visits == 3
    # and the form people fill in lists fields in the new order
    out = app.out.getvalue()  # type: ignore[attr-defined]
    app.dispatch(Inbound("console", "f2", "zhang", InboundKind.COMMAND, text="/日报"))
    form = app.out.getvalue()[len(out):]  # type: ignore[attr-defined]
    assert form.index("电话") < form.index("客户拜访")


def test_a_refused_change_says_why_and_changes_nothing(sign_in: Callable[[str], TestClient], db: Database) -> None:
    admin = sign_in("admin")
    resp = _post(admin, action="add", key="meetings", type="count", label_zh="拜访")
    assert resp.status_code == 200 and "名称「拜访」已经是字段 visits 在用的了" in resp.text
    resp = _post(admin, action="alias", key="visits", label="签约")
    assert resp.status_code == 200 and "signed_amount" in resp.text and 'id="f-visits"' in resp.text
    resp = _post(admin, action="add", key="Bad Key", type="count", label_zh="好")
    assert resp.status_code == 200 and "不能作导出列名" in resp.text
    with db.unit_of_work() as s:
        assert s.scalar(select(ReportField.id)) is None


def test_fields_export_and_are_admins_only(sign_in: Callable[[str], TestClient]) -> None:
    admin = sign_in("admin")
    csv = admin.get("/console/fields?format=csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf") and "signed_amount" in csv.text
    assert sign_in("mgr_east").get("/console/fields").status_code == 404
    token = csrf_of(admin.get("/console/fields").text)
    assert sign_in("zhang").post("/console/fields", data={"csrf_token": token, "action": "move", "key": "visits",
                                                          "to": "3"}).status_code in (403, 404)


def test_field_changes_and_sign_ins_are_in_the_audit_log(sign_in: Callable[[str], TestClient], db: Database) -> None:
    from models import AuditEntry

    admin = sign_in("admin")
    assert _post(admin, action="add", key="calls", type="count", label_zh="电话").status_code == 303
    assert _post(admin, action="move", key="calls", to="2").status_code == 303
    _post(admin, action="alias", key="visits", label="签约")  # refused: not recorded
    with db.unit_of_work() as s:
        rows = [(e.action, e.actor, e.source, e.target) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert rows == [("console.sign_in", "admin", "console", "admin"), ("field.add", "admin", "console", "calls"),
                    ("field.move", "admin", "console", "calls")]
