"""/console/import: an XLSX with one bad line imports nothing and names the line; fixed, it imports."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from openpyxl import Workbook
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from models import AuditEntry, Person
from tests.console.conftest import csrf_of


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


HEADER = ["code", "name", "role", "team"]


def _check(client: TestClient, data: bytes, name: str = "people.xlsx", kind: str = "users") -> str:
    token = csrf_of(client.get("/console/import").text)
    resp = client.post("/console/import", data={"csrf_token": token, "action": "check", "kind": kind},
                       files={"file": (name, data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert resp.status_code == 200, resp.text
    return resp.text


def _apply_form(html: str) -> dict[str, str]:
    form = html[html.index('name="action" value="apply"') - 400:]
    return {name: value for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', form)[:7]}


def test_one_bad_line_imports_nothing_and_names_it_fixed_it_imports(sign_in: Callable[[str], TestClient],
                                                                     db: Database) -> None:
    admin = sign_in("admin")
    bad = _xlsx([HEADER, ["zhao", "赵磊", "rep", "sh1"], ["qian", "钱多", "boss", "sh1"], ["zhang", "张伟", "rep", "gz1"]])
    html = _check(admin, bad)
    assert "people.xlsx 有 1 个问题" in html and "什么都没有写入" in html
    assert re.search(r'<td class="num">3</td><td><code>role</code></td>', html), html[html.find("problems"):][:800]
    assert 'value="apply"' not in html  # no import button for a file with problems
    with db.unit_of_work() as s:
        assert s.scalar(select(Person.id).where(Person.code.in_(["zhao", "qian"]))) is None

    good = _xlsx([HEADER, ["zhao", "赵磊", "rep", "sh1"], ["qian", "钱多", "rep", "sh1"], ["zhang", "张伟", "rep", "gz1"]])
    html = _check(admin, good)
    assert "会做这些改动" in html and "新增" in html and "sh1" in html and "gz1" in html  # zhang moves team
    form = _apply_form(html)
    assert form["action"] == "apply" and form["kind"] == "users"
    resp = admin.post("/console/import", data=form)
    assert resp.status_code == 303, resp.text
    assert "已导入 people.xlsx：3 行，新增 2，修改 1" in admin.get(resp.headers["location"]).text
    with db.unit_of_work() as s:
        assert {p.code for p in s.scalars(select(Person).where(Person.code.in_(["zhao", "qian"])))} == {"zhao", "qian"}
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
        assert (entry.actor, entry.source, entry.target) == ("admin", "console", "users (people.xlsx)")


def test_a_tampered_file_is_checked_again_and_refused(sign_in: Callable[[str], TestClient], db: Database) -> None:
    admin = sign_in("admin")
    form = _apply_form(_check(admin, _xlsx([HEADER, ["zhao", "赵磊", "rep", "sh1"]])))
    resp = admin.post("/console/import", data={**form, "data": form["data"][:-8] + "AAAAAAAA"})
    assert resp.status_code == 400
    with db.unit_of_work() as s:
        assert s.scalar(select(Person.id).where(Person.code == "zhao")) is None


def test_current_data_downloads_and_the_page_is_for_admins(sign_in: Callable[[str], TestClient]) -> None:
    admin = sign_in("admin")
    resp = admin.get("/console/import?kind=users&format=csv")
    assert resp.status_code == 200 and "zhang" in resp.text and resp.text.splitlines()[0].startswith("\ufeffcode")
    assert sign_in("mgr_east").get("/console/import").status_code == 404
