"""/console/import: an XLSX with one bad line imports nothing and names the line; fixed, it imports."""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.console.i18n import catalogue
from bot.console.pages import importing
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
ROOT = Path(__file__).resolve().parents[2]


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
    assert re.search(r'<td class="num">3</td><td><code>role</code></td><td class="wrap">「boss」不对：只能是 rep, manager, '
                     r"admin 之一</td>", html), html[html.find("problems"):][:800]
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


def _row(html: str, line: int) -> str:
    """The preview's row for a line of the file (its HTML, entities read)."""
    found = re.search(rf'<tr class="\w+"><td class="num" data-label="[^"]*">{line}</td>.*?</tr>', html)
    assert found, html[html.find("<main"):][:1500]
    return unescape(found[0])


def _pairs(row: str) -> list[str]:
    return [f"{col}: {value}" for col, value in re.findall(r'<span class="pair"><code>(\w+)</code>: ([^<]*)</span>', row)]


def test_new_rows_show_what_they_will_hold(sign_in: Callable[[str], TestClient], db: Database) -> None:
    """A new row lists its key in bold and every non-empty column of the file as it would be stored; an updated
    row still lists only its changes, before and after."""
    admin = sign_in("admin")
    people = ("code,name,role,team,manages,email\n"
              "zhao,赵磊,rep,sh1,,zhao@example.com\n"
              "qian,钱经理,manager,gz1,south;east,\n"
              "zhang,张伟,rep,gz1,,\n")
    html = _check(admin, people.encode(), name="people.csv")
    zhao, qian, zhang = _row(html, 2), _row(html, 3), _row(html, 4)
    assert '<td class="key">zhao</td>' in zhao and "新增" in zhao
    assert _pairs(zhao) == ["name: 赵磊", "role: rep", "team: sh1", "email: zhao@example.com"]
    assert _pairs(qian) == ["name: 钱经理", "role: manager", "team: gz1", "manages: east;south"]
    assert _pairs(zhang) == [] and "修改" in zhang and "<del>sh1</del> → <ins>gz1</ins>" in zhang
    with db.unit_of_work() as s:
        assert s.scalar(select(Person.id).where(Person.code.in_(["zhao", "qian"]))) is None  # a preview writes nothing

    customers = 'name,region,owner,tier,industry\n"ACME Trading Co., Ltd.",sh,zhang,A,制造业\n华东精密,hz,,,\n'
    html = _check(admin, customers.encode(), name="c.csv", kind="customers")
    acme, precise = _row(html, 2), _row(html, 3)
    assert '<td class="key">ACME Trading Co., Ltd.</td>' in acme  # its name as written, not how it is matched
    assert _pairs(acme) == ["region: sh", "owner: zhang", "tier: A", "industry: 制造业"]
    assert '<td class="key">华东精密</td>' in precise and _pairs(precise)[0] == "region: hz"

    goals = "scope,code,period,metric,target,floor,stretch\nteam,gz1,2027-01,visits,40,,60\n"
    goal = _row(_check(admin, goals.encode(), name="goals.csv", kind="goals"), 2)
    assert '<td class="key">team gz1 2027-01 visits</td>' in goal and _pairs(goal) == ["target: 40", "stretch: 60"]


def test_a_long_preview_lists_the_first_rows_and_says_how_many_more(sign_in: Callable[[str], TestClient],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "SHOWN_CHANGES", 3)
    admin = sign_in("admin")
    rows = "".join(f"new{i},新人{i},rep,gz1\n" for i in range(5))
    html = _check(admin, f"code,name,role,team\n{rows}".encode(), name="people.csv")
    assert re.findall(r'<td class="key">(\w+)</td>', html) == ["new0", "new1", "new2"]
    assert _pairs(_row(html, 4)) == ["name: 新人2", "role: rep", "team: gz1"]
    assert "还有 2 行改动没有列出。" in html and '<div class="value">5</div>' in html  # the count is of every row


def test_the_preview_reads_in_english_for_an_english_admin(sign_in: Callable[[str], TestClient],
                                                           db: Database) -> None:
    with db.unit_of_work() as s:
        s.scalars(select(Person).where(Person.code == "admin")).one().locale = "en"
    admin = sign_in("admin")
    html = _check(admin, b"code,name,role,team\nzhao,Zhao Lei,rep,n1\n", name="people.csv")
    row = _row(html, 2)
    assert 'data-label="Line"' in row and ">new</span>" in row
    assert _pairs(row) == ["name: Zhao Lei", "role: rep", "team: n1"]
    assert "What it holds or changes" in html and "What people.csv would change" in html and "新增" not in html


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


def test_every_problem_reads_in_the_admins_language(sign_in: Callable[[str], TestClient]) -> None:
    admin = sign_in("admin")
    html = unescape(_check(admin, "code,name,role,colour\nzhao,赵磊,rep,red\n".encode(), name="people.csv"))
    assert "不认识的列 'colour'" in html and "<code>表头</code>" in html and "unknown column" not in html
    goals = "scope,code,period,metric,target,floor\nuser,zhang,2026-13,signed_amount,50,60\nteam,nope,2026-12,visits,5,\n"
    html = _check(admin, goals.encode(), name="goals.csv", kind="goals")
    for words in ("「2026-13」不是周期", "没有代码为「nope」的团队"):
        assert words in html, html[html.find("problems"):][:1500]
    assert " is not " not in html and "in the database" not in html


def test_each_problem_the_import_can_find_has_its_words_in_both_languages() -> None:
    """Every problem code services/transfer.py and tables.py give has a zh-CN and an en text in the console."""
    codes: set[str] = set()
    position = {"_bad": 0, "say": 2, "bad": 2, "_rule": 1, "known": 2}
    for path in ("services/transfer.py", "services/tables.py"):
        for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in position or len(node.args) <= position[name]:
                continue
            code = node.args[position[name]]
            if isinstance(code, ast.Constant):
                codes.add(code.value)
            elif isinstance(code, ast.JoinedStr):  # f"no_{g.scope}_code"
                codes.update(f"no_{scope}_code" for scope in ("user", "team", "region"))
    assert len(codes) > 40, codes
    for locale in ("zh-CN", "en"):
        missing = sorted(c for c in codes if f"imp.problem.{c}" not in catalogue(locale))
        assert not missing, (locale, missing)
