"""Import and export: whole-file validation, upsert, references, round trips, the CLI's exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from models import (
    CollabRequest,
    Customer,
    DailyReport,
    FollowUp,
    Goal,
    Holiday,
    Identity,
    ManagedRegion,
    Person,
    Region,
    ReportField,
    Team,
    Visit,
)
from services.transfer import (
    IMPORT_KINDS,
    ImportProblems,
    export_rows,
    import_rows,
    read_table,
    to_csv,
    to_json,
)
from tests.conftest import wipe
from tests.support.org import build_org

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parent.parent / "examples"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
INJECTION = "O'Brien & Sons; DROP TABLE customers;--"


def load(db: Database, kind: str, data: bytes | str, filename: str = "file.csv") -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    header, rows = read_table(raw, filename=filename)
    with db.unit_of_work() as s:
        import_rows(session=s, kind=kind, header=header, rows=rows, now=NOW)


def problems(db: Database, kind: str, data: str, filename: str = "f.csv") -> list[str]:
    with pytest.raises(ImportProblems) as info:
        load(db, kind, data, filename)
    return info.value.lines(filename)


def load_dir(db: Database, folder: Path) -> None:
    for kind in IMPORT_KINDS:
        load(db, kind, (folder / f"{kind}.csv").read_bytes(), f"{kind}.csv")


def export(db: Database, kind: str, fmt: str = "csv", **kw: date) -> str:
    with db.unit_of_work() as s:
        columns, rows = export_rows(session=s, kind=kind, now=NOW, **kw)  # type: ignore[arg-type]
    return to_json(columns, rows) if fmt == "json" else to_csv(columns, rows)


def count(db: Database, model: type) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_import_a_realistic_organisation(db: Database) -> None:
    assert (DATA / "users.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    load_dir(db, DATA)
    with db.unit_of_work() as s:
        regions = {r.code: r for r in s.scalars(select(Region))}
        assert regions["sh"].parent_id == regions["east"].id and regions["east"].parent_id is None
        assert {t.code for t in s.scalars(select(Team))} == {"sh1", "gz1", "na1"}
        wu = s.scalars(select(Person).where(Person.code == "wu")).one()
        assert wu.name == "吴刚" and wu.role == "manager"
        managed = {regions_by_id.code for regions_by_id in
                   s.scalars(select(Region).join(ManagedRegion).where(ManagedRegion.person_id == wu.id))}
        assert managed == {"east", "north"}
        idents = {(i.platform, i.external_id) for i in s.scalars(select(Identity).where(Identity.person_id == wu.id))}
        assert idents == {("slack", "U01WU"), ("wecom", "wugang")}
        odd = s.scalars(select(Customer).where(Customer.name == INJECTION)).one()
        assert odd.tier == "C" and odd.stage == "lead"
        sub = s.scalars(select(Customer).where(Customer.name == "远航集团上海分公司")).one()
        assert sub.parent is not None and sub.parent.name == "远航集团" and sub.parent.region.code == "gz"
        assert s.scalars(select(Customer).where(Customer.name == "远航集团")).one().stage == "proposal"
        assert s.scalars(select(Customer).where(Customer.name == "Maple Leaf Foods, Inc.")).one().stage == "needs"
        goal = s.scalars(select(Goal).where(Goal.scope == "region")).one()
        assert goal.target == Decimal("12000000.50") and goal.period == "2026"
        assert s.scalars(select(Holiday).where(Holiday.day == date(2027, 2, 6))).one().kind == "workday"
    assert count(db, Customer) == 5
    out = export(db, "users")
    assert "赵磊" in out and "吴刚" in out and "east;north" in out


def test_examples_import_cleanly(db: Database) -> None:
    load_dir(db, EXAMPLES)
    assert count(db, Team) == 3 and count(db, Person) >= 10 and count(db, Customer) >= 10


def test_several_bad_rows_are_all_reported_and_nothing_is_written(db: Database) -> None:
    load(db, "regions", (DATA / "regions.csv").read_bytes())
    before = count(db, Team)
    lines = problems(db, "teams", "code,name,region,timezone,locale\n"
                                  "ok1,好组,sh,Asia/Shanghai,zh-CN\n"
                                  "bad1,坏组,sh,Mars/Olympus,zh-CN\n"
                                  "bad2,坏组二,nowhere,,fr\n"
                                  "ok1,重复,sh,,\n", "teams.csv")
    assert "teams.csv:3: timezone: 'Mars/Olympus' is not an IANA time zone (expected e.g. Asia/Shanghai)" in lines
    assert any(line.startswith("teams.csv:4: region: no region 'nowhere'") for line in lines)
    assert any(line.startswith("teams.csv:4: locale: 'fr' is not one of zh-CN, en") for line in lines)
    assert any(line.startswith("teams.csv:5: code: 'ok1' is already on line 2") for line in lines)
    assert count(db, Team) == before == 0


def test_header_problems_name_the_columns(db: Database) -> None:
    lines = problems(db, "users", "code,role,colour\nx,rep,red\n", "users.csv")
    assert any("unknown column(s) 'colour'" in line for line in lines)
    assert any("missing required column(s) name" in line for line in lines)
    assert problems(db, "regions", "") == ["f.csv:1: the file is empty (expected a header row)"]
    assert "not UTF-8" in problems_bytes(db, "regions", "code,name\nsh,上海\n".encode("gbk"))[0]


def problems_bytes(db: Database, kind: str, data: bytes) -> list[str]:
    with pytest.raises(ImportProblems) as info:
        load(db, kind, data)
    return info.value.lines("f.csv")


def test_unknown_references_are_bad_rows(db: Database) -> None:
    build_org(db)
    lines = problems(db, "users", "code,name,role,team,manages,slack_user\n"
                                  "new1,新人,rep,nope,,\n"
                                  "new2,新人二,manager,sh1,east;atlantis,\n"
                                  "new3,新人三,boss,sh1,,\n"
                                  "new4,新人四,rep,sh1,,U_ZHANG\n")
    assert any(line.startswith("f.csv:2: team: no team 'nope'") for line in lines)
    assert any(line.startswith("f.csv:3: manages: no region 'atlantis'") for line in lines)
    assert "f.csv:4: role: 'boss' is not one of rep, manager, admin" in lines
    assert any(line.startswith("f.csv:5: slack_user: 'U_ZHANG' already belongs to user 'zhang'") for line in lines)
    lines = problems(db, "goals", "scope,code,period,metric,target,floor\n"
                                  "user,ghost,2026-11,signed_amount,100,\n"
                                  "team,sh1,2026-13,signed_amount,100,\n"
                                  "team,sh1,2026-12,plan,100,\n"
                                  "region,east,2026,visits,10万,\n"
                                  "region,east,2026-Q1,visits,10,20\n")
    assert any(line.startswith("f.csv:2: code: no user 'ghost'") for line in lines)
    assert any(line.startswith("f.csv:3: period: '2026-13' is not a period") for line in lines)
    assert any(line.startswith("f.csv:4: metric: 'plan' is not a count or money report field") for line in lines)
    assert any(line.startswith("f.csv:5: target: '10万' is not a number") for line in lines)
    assert any(line.startswith("f.csv:6: floor: 20 is above the target 10") for line in lines)
    assert count(db, Person) == 8 and count(db, Goal) == 1


def test_forward_references_in_the_same_file(db: Database) -> None:
    load(db, "regions", "code,name,parent\nsh,上海,east\nhz,杭州,east\neast,华东,\n")
    load(db, "teams", "code,name,region\nsh1,上海一组,sh\n")
    load(db, "users", "code,name,role,team\nzhao,赵磊,rep,sh1\n")
    load(db, "customers", "name,region,owner,parent\n星河上海,sh,zhao,星河集团\n星河集团,sh,zhao,\n")
    with db.unit_of_work() as s:
        east = s.scalars(select(Region).where(Region.code == "east")).one()
        assert {r.code for r in s.scalars(select(Region).where(Region.parent_id == east.id))} == {"sh", "hz"}
        child = s.scalars(select(Customer).where(Customer.name == "星河上海")).one()
        assert child.parent is not None and child.parent.name == "星河集团"
    lines = problems(db, "regions", "code,name,parent\nx1,X,x2\nx2,Y,x1\n")
    assert lines[0] == "f.csv:2: parent: 'x2' makes a loop (x1 > x2 > x1)"


def test_reimport_is_an_upsert(db: Database) -> None:
    load_dir(db, DATA)
    counts = [count(db, m) for m in (Region, Team, Person, Identity, ManagedRegion, Customer, Goal, Holiday)]
    load_dir(db, DATA)
    assert [count(db, m) for m in (Region, Team, Person, Identity, ManagedRegion, Customer, Goal, Holiday)] == counts
    # Changed values win; an id moving from one user to another in the same file is fine.
    load(db, "users", "code,name,role,team,manages,slack_user\nzhao,赵磊磊,rep,sh1,,U01QIAN\n"
                      "qian,钱敏,manager,sh1,sh,U01ZHAO\n")
    load(db, "goals", "scope,code,period,metric,target\nuser,zhao,2026-11,signed_amount,\"600,000\"\n")
    load(db, "customers", "name,region,stage\n远航集团有限公司,gz,签约\n")
    with db.unit_of_work() as s:
        zhao = s.scalars(select(Person).where(Person.code == "zhao")).one()
        assert zhao.name == "赵磊磊"
        assert {i.external_id for i in zhao.identities if i.platform == "slack"} == {"U01QIAN"}
        goal = s.scalars(select(Goal).where(Goal.code == "zhao", Goal.metric == "signed_amount")).one()
        assert goal.target == Decimal("600000") and goal.floor == Decimal("300000")
        # matched by normalised name: the same customer, not a second one
        yh = s.scalars(select(Customer).where(Customer.name == "远航集团有限公司")).one()
        assert yh.stage == "signed" and yh.owner is not None and yh.owner.code == "sun"
    assert count(db, Customer) == 5


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_imports_back_unchanged(db: Database, fmt: str) -> None:
    load_dir(db, DATA)
    first = {kind: export(db, kind, fmt) for kind in IMPORT_KINDS}
    wipe(db)
    for kind in IMPORT_KINDS:
        load(db, kind, first[kind].encode("utf-8"), f"{kind}.{fmt}")
    assert {kind: export(db, kind, fmt) for kind in IMPORT_KINDS} == first
    for kind in IMPORT_KINDS:  # and once more over the stored rows: an upsert that changes nothing
        load(db, kind, first[kind].encode("utf-8"), f"{kind}.{fmt}")
    assert {kind: export(db, kind, fmt) for kind in IMPORT_KINDS} == first
    if fmt == "json":
        goals = json.loads(first["goals"])
        assert {"scope": "region", "code": "east", "period": "2026", "metric": "signed_amount",
                "target": 12000000.5, "floor": None, "stretch": None} in goals


def _history(db: Database) -> None:
    org = build_org(db)
    ids = org.ids
    with db.unit_of_work() as s:
        s.add(ReportField(key="demos", type="count", labels_zh=["演示"], labels_en=["demos"], position=200))
        s.add(DailyReport(person_id=ids["user:zhang"], team_id=ids["team:sh1"], day=date(2026, 11, 20), visits=3,
                          signed_amount=Decimal("125000.50"), plan="拜访远航\n准备方案", extra={"demos": 2},
                          key_actions=["拜访远航", "写方案", "回款跟进"], raw_text="日报\n拜访: 3",
                          submitted_at=NOW, updated_at=NOW))
        s.add(DailyReport(person_id=ids["user:bob"], team_id=ids["team:n1"], day=date(2026, 11, 10), visits=1,
                          updated_at=NOW))
        s.add(Visit(customer_id=ids["cust:yuanhang"], person_id=ids["user:zhang"], region_id=ids["sh"],
                    day=date(2026, 11, 19), stage="needs", next_follow_up=date(2026, 11, 26), note="聊了需求",
                    without_permission=True))
        s.add(CollabRequest(customer_id=ids["cust:yuanhang"], requester_id=ids["user:zhang"],
                            owner_region_id=ids["gz"], reason="客户总部在上海", status="approved",
                            decided_by_id=ids["user:mgr_south"], decided_at=NOW - timedelta(days=20),
                            expires_at=NOW - timedelta(days=6), created_at=NOW - timedelta(days=21)))
        s.add(CollabRequest(customer_id=ids["cust:yuanhang"], requester_id=ids["user:li"],
                            owner_region_id=ids["gz"], reason="展会认识", status="pending", pending_key="p1",
                            created_at=NOW - timedelta(days=1)))
        s.add(FollowUp(customer_id=ids["cust:yuanhang"], owner_id=ids["user:wang"], kind="tier",
                       due=date(2026, 11, 18), status="open", open_key=ids["cust:yuanhang"], escalated=True))


def test_history_exports_have_the_contract_columns(db: Database) -> None:
    _history(db)
    reports = json.loads(export(db, "reports", "json"))
    assert list(reports[0]) == ["user_code", "date", "visits", "new_leads", "new_customers", "opportunities",
                                "signed_amount", "collected_amount", "plan", "blockers", "demos",
                                "key_actions", "raw_text", "updated_at"]
    zhang = next(r for r in reports if r["user_code"] == "zhang")
    assert zhang["date"] == "2026-11-20" and zhang["visits"] == 3 and zhang["demos"] == 2
    assert zhang["signed_amount"] == 125000.5 and zhang["key_actions"] == ["拜访远航", "写方案", "回款跟进"]
    csv_text = export(db, "reports")
    assert "125000.5," in csv_text and '"拜访远航\n写方案\n回款跟进"' in csv_text
    visits = json.loads(export(db, "visits", "json"))
    assert visits == [{"customer": "远航集团", "user_code": "zhang", "region": "sh", "stage": "needs",
                       "date": "2026-11-19", "next_follow_up": "2026-11-26", "note": "聊了需求",
                       "without_permission": True}]
    collabs = json.loads(export(db, "collabs", "json"))
    assert [c["status"] for c in collabs] == ["expired", "pending"]
    assert list(collabs[0]) == ["id", "customer", "requester", "owner_region", "reason", "status", "decided_by",
                                "decided_at", "expires_at", "created_at"]
    assert collabs[0]["decided_by"] == "mgr_south" and collabs[1]["decided_by"] == ""
    assert export(db, "followups").splitlines() == ["customer,owner,kind,due,status,escalated",
                                                    "远航集团,wang,tier,2026-11-18,open,true"]


def test_since_until_filter_dated_kinds(db: Database) -> None:
    _history(db)
    only = json.loads(export(db, "reports", "json", since=date(2026, 11, 15)))
    assert [r["user_code"] for r in only] == ["zhang"]
    assert json.loads(export(db, "reports", "json", until=date(2026, 11, 15)))[0]["user_code"] == "bob"
    assert json.loads(export(db, "visits", "json", since=date(2026, 11, 20))) == []
    assert len(json.loads(export(db, "collabs", "json", since=date(2026, 11, 20)))) == 1
    assert json.loads(export(db, "followups", "json", since=date(2026, 11, 19), until=date(2026, 11, 30))) == []


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"SALESBOT_DATABASE__URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          encoding="utf-8", timeout=60)


def test_cli_bad_row_exits_2_and_writes_nothing(db: Database, database_url: str, tmp_path: Path) -> None:
    build_org(db)
    bad = tmp_path / "users.csv"
    bad.write_text("code,name,role,team\nnew1,新人,rep,sh1\nnew2,新人二,rep,sh1\nnew3,新人三,chief,sh1\n",
                   encoding="utf-8-sig")
    proc = _cli(["import", "users", str(bad)], database_url, tmp_path)
    assert proc.returncode == 2
    assert f"{bad}:4: role: 'chief' is not one of rep, manager, admin" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert count(db, Person) == 8
    load(db, "users", "code,name,role,team\nnew1,新人,rep,sh1\n")
    proc = _cli(["export", "users", "--format", "json"], database_url, tmp_path)
    assert proc.returncode == 0 and {"新人", "张伟"} <= {u["name"] for u in json.loads(proc.stdout)}
    proc = _cli(["export", "reports", "--since", "2026-02-30"], database_url, tmp_path)
    assert proc.returncode == 2 and "--since: '2026-02-30' is not a date" in proc.stderr
