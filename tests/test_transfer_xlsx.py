"""Excel files in and out, and the preview the console shows before an import: one validation for every way in."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot.core.db import Database
from models import AuditEntry, Customer, Goal, Person, TeamChat
from services.tables import ImportProblems, read_table
from services.transfer import IMPORT_KINDS, export_rows, import_file, preview, to_xlsx
from tests.conftest import wipe
from tests.support.org import build_org
from tests.test_transfer import DATA, NOW, _cli, count, load_dir


def workbook(*rows: list[object], title: str = "Sheet1", second: list[list[object]] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    if second is not None:
        other = book.create_sheet("notes")
        for row in second:
            other.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


GOALS_BAD = workbook(
    ["scope", "code", "period", "metric", "target", "floor", "stretch"],
    ["user", "zhang", "2026-12", "signed_amount", 500000, 300000, 800000],
    [],  # an empty row: skipped, but Excel's row numbers stay
    ["team", "sh1", "2026-12", "signed_amount", 1200000.5, None, None],
    ["user", "li", "2026-12", "signed_amount", "五十万", 600000, None],
    second=[["ignored", "sheet"]],
)


def test_an_xlsx_with_one_bad_line_imports_nothing_and_names_the_line(db: Database) -> None:
    build_org(db)
    with db.unit_of_work() as s, pytest.raises(ImportProblems) as info:
        import_file(session=s, kind="goals", data=GOALS_BAD, filename="goals.xlsx", now=NOW, actor="cli:test",
                    source="cli")
    assert info.value.lines("goals.xlsx") == [
        "goals.xlsx:5: target: '五十万' is not a number (expected e.g. 500000 or 125000.50)"]
    assert count(db, Goal) == 1 and count(db, AuditEntry) == 0
    book = load_workbook(io.BytesIO(GOALS_BAD))  # the same workbook with the cell corrected
    book.worksheets[0]["E5"] = 700000
    buf = io.BytesIO()
    book.save(buf)
    with db.unit_of_work() as s:
        result = import_file(session=s, kind="goals", data=buf.getvalue(), filename="goals.xlsx", now=NOW,
                             actor="cli:test", source="cli")
    assert (result.created, result.updated) == (3, 0)
    with db.unit_of_work() as s:
        goals = {(g.scope, g.code): g for g in s.scalars(select(Goal).where(Goal.period == "2026-12"))}
        assert goals[("team", "sh1")].target == Decimal("1200000.50") and goals[("team", "sh1")].floor is None
        assert goals[("user", "li")].target == Decimal("700000") and goals[("user", "li")].floor == 600000
        assert goals[("user", "zhang")].stretch == Decimal("800000")
        entry = s.scalars(select(AuditEntry)).one()
        assert entry.target == "goals (goals.xlsx)" and entry.after["created"] == 3


def test_excel_cells_are_read_as_excel_stores_them(db: Database) -> None:
    header, rows = read_table(workbook(
        ["date", "kind", "name"],
        [datetime(2027, 2, 6), "workday", "春节调休"],
        [date(2027, 2, 10), "Holiday", 42],
        ["2027-02-11", "holiday", "  spaced  "],
        [datetime(2027, 2, 12, 9, 30), "holiday", None],
    ), filename="holidays.xlsx")
    assert header == ["date", "kind", "name"]
    assert [(r.line, r.values) for r in rows] == [
        (2, {"date": "2027-02-06", "kind": "workday", "name": "春节调休"}),
        (3, {"date": "2027-02-10", "kind": "Holiday", "name": "42"}),
        (4, {"date": "2027-02-11", "kind": "holiday", "name": "spaced"}),
        (5, {"date": "2027-02-12T09:30:00", "kind": "holiday", "name": ""})]
    with db.unit_of_work() as s, pytest.raises(ImportProblems) as info:
        import_file(session=s, kind="holidays", data=workbook(["date", "kind"], [datetime(2027, 2, 12, 9, 30),
                                                                                "holiday"]),
                    filename="h.xlsx", now=NOW, actor="cli", source="cli")
    assert info.value.lines("h.xlsx") == ["h.xlsx:2: date: '2027-02-12T09:30:00' is not a date "
                                          "(expected YYYY-MM-DD, e.g. 2026-11-23)"]


def test_a_file_that_is_not_a_workbook_or_has_no_header_says_so(db: Database) -> None:
    with pytest.raises(ImportProblems) as info:
        read_table(b"PK\x03\x04 not really a zip", filename="x.xlsx")
    assert info.value.lines("x.xlsx")[0].startswith("x.xlsx: not an Excel workbook that can be read")
    with pytest.raises(ImportProblems) as info:
        read_table(workbook([], ["code", "name"]), filename="x.xlsx")
    assert info.value.lines("x.xlsx") == ["x.xlsx:1: the first row is empty (expected the header row)"]
    with pytest.raises(ImportProblems) as info:
        read_table(workbook(["code", "name"], ["sh", "上海", "extra"]), filename="x.xlsx")
    assert info.value.lines("x.xlsx")[0].startswith("x.xlsx:2: 3 values but the header has 2 columns")


def test_every_kind_exports_to_xlsx_and_imports_back_unchanged(db: Database) -> None:
    load_dir(db, DATA)
    with db.unit_of_work() as s:
        s.scalars(select(Customer)).first().name = "=HYPERLINK(\"http://evil\")"  # type: ignore[union-attr]
    books: dict[str, bytes] = {}
    first: dict[str, list[dict[str, object]]] = {}
    with db.unit_of_work() as s:
        for kind in IMPORT_KINDS:
            columns, rows = export_rows(session=s, kind=kind, now=NOW)
            books[kind], first[kind] = to_xlsx(columns, rows, title=kind), rows
    sheet = load_workbook(io.BytesIO(books["customers"])).worksheets[0]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # text, never a formula
    wipe(db)
    for kind in IMPORT_KINDS:
        with db.unit_of_work() as s:
            import_file(session=s, kind=kind, data=books[kind], filename=f"{kind}.xlsx", now=NOW, actor="cli",
                        source="cli")
    with db.unit_of_work() as s:
        assert {kind: export_rows(session=s, kind=kind, now=NOW)[1] for kind in IMPORT_KINDS} == first


def test_cli_imports_and_exports_xlsx(db: Database, database_url: str, tmp_path: Path) -> None:
    build_org(db)
    bad = tmp_path / "goals.xlsx"
    bad.write_bytes(GOALS_BAD)
    proc = _cli(["import", "goals", str(bad)], database_url, tmp_path)
    assert proc.returncode == 2 and f"{bad}:5: target: '五十万' is not a number" in proc.stderr
    assert "nothing was imported" in proc.stderr and count(db, Goal) == 1
    out = tmp_path / "users.xlsx"
    proc = _cli(["export", "users", "--format", "xlsx", "--output", str(out)], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    sheet = load_workbook(out).worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["code", "name", "role"] and sheet.max_row == 9
    proc = _cli(["import", "users", str(out)], database_url, tmp_path)
    assert proc.returncode == 0 and "8 users row(s): 0 created, 8 updated" in proc.stdout
    proc = _cli(["export", "users", "--format", "xlsx"], database_url, tmp_path)
    assert proc.returncode == 2 and "--output FILE.xlsx" in proc.stderr


def test_preview_says_what_would_change_and_writes_nothing(db: Database) -> None:
    build_org(db)
    data = ("code,name,role,team,manages,wecom_user\n"
            "zhang,张伟,rep,sh1,,zhangwei\n"          # as stored
            "li,李娜娜,manager,sh1,east,lina\n"       # renamed, promoted, manages east
            "new1,新人,rep,gz1,,\n"                   # new
            "new2,新人二,chief,nowhere,,wangfang\n")  # every problem on the line
    with db.unit_of_work() as s:
        seen = preview(session=s, kind="users", data=data.encode(), filename="/tmp/users.csv", now=NOW)
    assert [(c.line, c.key, c.status) for c in seen.changes] == [
        (2, "zhang", "unchanged"), (3, "li", "updated"), (4, "new1", "new"), (5, "new2", "new")]
    assert seen.changes[1].changes == {"name": ("李娜", "李娜娜"), "role": ("rep", "manager"), "manages": ("", "east")}
    assert seen.changes[2].values == {"name": "新人", "role": "rep", "team": "gz1"}  # its non-empty columns
    assert seen.changes[1].values == {}  # an update says only what changes
    assert seen.lines() == [
        "users.csv:5: role: 'chief' is not one of rep, manager, admin",
        "users.csv:5: team: no team 'nowhere' in the database (import teams.csv first)",
        "users.csv:5: wecom_user: 'wangfang' already belongs to user 'wang' (each wecom id belongs to one person)"]
    assert not seen.ok and seen.count("new") == 2
    assert count(db, Person) == 8
    with db.unit_of_work() as s:
        li = s.scalars(select(Person).where(Person.code == "li")).one()
        assert li.name == "李娜" and li.role == "rep"
    with db.unit_of_work() as s:
        good = preview(session=s, kind="teams", data="code,name,region,feishu_chat\nsh1,上海一组,sh,oc_1\n".encode(),
                       filename="t.csv", now=NOW)
        broken = preview(session=s, kind="teams", data=b"code,colour\n", filename="t.csv", now=NOW)
    assert good.ok and good.changes[0].changes == {"feishu_chat": ("", "oc_1")}
    assert broken.changes == [] and [p.column for p in broken.problems] == ["header", "header"]
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(TeamChat).where(TeamChat.platform == "feishu")) == 0
