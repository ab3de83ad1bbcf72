"""Import and export of the organisation's data: validate a whole file, upsert it, export it back."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    TEAM_CHAT_COLUMNS,
    USER_ID_COLUMNS,
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
    Role,
    Team,
    TeamChat,
    Visit,
)
from services import audit
from services.customers import grant_status, normalize_name
from services.fields import DEFAULT_FIELDS, FieldDef, FieldType, Stage, parse_stage
from services.goals import parse_period

__all__ = [
    "COLUMNS",
    "DATED_KINDS",
    "EXPORT_KINDS",
    "IMPORT_KINDS",
    "ImportProblems",
    "ImportResult",
    "Problem",
    "Row",
    "export_rows",
    "import_rows",
    "read_table",
    "to_csv",
    "to_json",
]


class Kind(StrEnum):
    REGIONS = "regions"
    TEAMS = "teams"
    USERS = "users"
    CUSTOMERS = "customers"
    GOALS = "goals"
    HOLIDAYS = "holidays"
    REPORTS = "reports"
    VISITS = "visits"
    COLLABS = "collabs"
    FOLLOWUPS = "followups"


COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name", "parent"),
    "teams": ("code", "name", "region", "timezone", "locale", *TEAM_CHAT_COLUMNS),
    "users": ("code", "name", "role", "team", "manages", "slack_user", "wecom_user", "email", "dingtalk_user",
              "feishu_user"),
    "customers": ("name", "region", "owner", "tier", "industry", "parent", "stage", "last_contact",
                  "next_follow_up"),
    "goals": ("scope", "code", "period", "metric", "target", "floor", "stretch"),
    "holidays": ("date", "kind", "name"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "regions": ("code", "name"),
    "teams": ("code", "name", "region"),
    "users": ("code", "name", "role"),
    "customers": ("name", "region"),
    "goals": ("scope", "code", "period", "metric", "target"),
    "holidays": ("date", "kind"),
}
IMPORT_KINDS = tuple(COLUMNS)
EXPORT_KINDS = IMPORT_KINDS + ("reports", "visits", "collabs", "followups", "audit")
DATED_KINDS = ("holidays", "reports", "visits", "collabs", "followups", "audit")

MAX_LEN = {"code": 64, "name": 200, "parent": 200, "region": 64, "team": 64, "owner": 64, "industry": 100,
           "timezone": 64, "slack_user": 128, "wecom_user": 128, "dingtalk_user": 128, "feishu_user": 128,
           "email": 200}
_CODE_RE = re.compile(r"[^\s;,]+")
_MAX_MONEY = Decimal("1e16")


# ---------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (line, column) and what, with what was expected."""

    line: int
    column: str
    message: str

    def format(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportProblems(Exception):
    """The file has problems; nothing from it was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))

    def lines(self, filename: str) -> list[str]:
        return [p.format(filename) for p in self.problems]


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class ImportResult:
    kind: str
    created: int = 0
    updated: int = 0
    rows: int = 0


def read_table(data: bytes, *, filename: str = "") -> tuple[list[str], list[Row]]:
    """Decode a CSV (UTF-8, BOM accepted) or JSON list of objects into a header and numbered rows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblems([Problem(0, "", f"not UTF-8 text (byte {exc.start} cannot be read); "
                                             "save the file as UTF-8 CSV")]) from None
    stripped = text.lstrip()
    if filename.lower().endswith(".json") or stripped.startswith("["):
        return _read_json(text)
    return _read_csv(text)


def _read_csv(text: str) -> tuple[list[str], list[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportProblems([Problem(1, "", "the file is empty (expected a header row)")]) from None
    except csv.Error as exc:
        raise ImportProblems([Problem(1, "", f"cannot read the header row: {exc}")]) from None
    header = [h.strip() for h in header]
    rows: list[Row] = []
    problems: list[Problem] = []
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(line, "", f"cannot read this line as CSV: {exc}"))
            break
        if any(v.strip() for v in values):
            if len(values) > len(header):
                problems.append(Problem(line, "", f"{len(values)} values but the header has {len(header)} "
                                                  "columns (quote a value that contains a comma)"))
            else:
                rows.append(Row(line, {h: (values[i].strip() if i < len(values) else "")
                                       for i, h in enumerate(header)}))
        line = reader.line_num + 1
    if problems:
        raise ImportProblems(problems)
    return header, rows


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, list):
        return ";".join(_scalar(v) for v in value)
    return str(value).strip()


def _read_json(text: str) -> tuple[list[str], list[Row]]:
    try:
        items = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportProblems([Problem(exc.lineno, "", f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(items, list):
        raise ImportProblems([Problem(1, "", "expected a JSON list of objects")])
    header: list[str] = []
    rows: list[Row] = []
    problems: list[Problem] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(Problem(n, "", "expected an object (item numbers count from 1)"))
            continue
        for key in item:
            if key not in header:
                header.append(key)
        rows.append(Row(n, {str(k): _scalar(v) for k, v in item.items()}))
    if problems:
        raise ImportProblems(problems)
    return header, rows


def check_header(kind: str, header: Sequence[str]) -> list[Problem]:
    """Name unknown, duplicate and missing required columns."""
    allowed = COLUMNS[kind]
    problems = []
    unknown = [h for h in header if h not in allowed]
    if unknown:
        problems.append(Problem(1, "header", f"unknown column(s) {', '.join(repr(u) for u in unknown)} "
                                             f"(expected: {', '.join(allowed)})"))
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(Problem(1, "header", f"column(s) {', '.join(dupes)} appear more than once"))
    missing = [c for c in REQUIRED[kind] if c not in header]
    if missing:
        problems.append(Problem(1, "header", f"missing required column(s) {', '.join(missing)} "
                                             f"(required: {', '.join(REQUIRED[kind])})"))
    return problems


# ---------------------------------------------------------------------------
# value checks


class _Checker:
    """Collects problems while rows are validated."""

    def __init__(self, header: Sequence[str]) -> None:
        self.header = set(header)
        self.problems: list[Problem] = []

    def has(self, column: str) -> bool:
        return column in self.header

    def bad(self, row: Row, column: str, message: str) -> None:
        self.problems.append(Problem(row.line, column, message))

    def text(self, row: Row, column: str, *, required: bool = False) -> str:
        value = row.get(column)
        if required and not value:
            self.bad(row, column, "is empty (a value is required)")
        limit = MAX_LEN.get(column)
        if limit and len(value) > limit:
            self.bad(row, column, f"is {len(value)} characters long (at most {limit})")
        return value

    def code(self, row: Row, column: str, *, required: bool = False) -> str:
        value = self.text(row, column, required=required)
        if value and not _CODE_RE.fullmatch(value):
            self.bad(row, column, f"{value!r} is not a code (expected letters and digits without spaces, "
                                  "commas or semicolons, e.g. sh1)")
        return value

    def day(self, row: Row, column: str, *, required: bool = False) -> date | None:
        value = self.text(row, column, required=required)
        if not value:
            return None
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.bad(row, column, f"{value!r} is not a date (expected YYYY-MM-DD, e.g. 2026-11-23)")
            return None

    def choice(self, row: Row, column: str, options: Sequence[str], *, required: bool = False) -> str:
        value = self.text(row, column, required=required)
        if not value:
            return ""
        for option in options:
            if value.casefold() == option.casefold():
                return option
        self.bad(row, column, f"{value!r} is not one of {', '.join(options)}")
        return ""

    def amount(self, row: Row, column: str, *, required: bool = False) -> Decimal | None:
        value = self.text(row, column, required=required)
        if not value:
            return None
        cleaned = unicodedata.normalize("NFKC", value).replace(",", "").replace("_", "").replace(" ", "")
        try:
            amount = Decimal(cleaned)
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.bad(row, column, f"{value!r} is not a number (expected e.g. 500000 or 125000.50)")
            return None
        if amount < 0:
            self.bad(row, column, f"{value!r} is negative (expected 0 or more)")
        elif amount >= _MAX_MONEY:
            self.bad(row, column, f"{value!r} is too large")
        elif amount != amount.quantize(Decimal("0.01")):
            self.bad(row, column, f"{value!r} has more than 2 decimal places")
        return amount


def _plain(value: Decimal) -> str:
    """Return a Decimal without exponent or trailing zeros (500000.00 -> 500000)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _split_list(value: str) -> list[str]:
    return [p.strip() for p in value.replace("；", ";").split(";") if p.strip()]


# ---------------------------------------------------------------------------
# import


Progress = Callable[[int], None]


def import_rows(*, session: Session, kind: str, header: Sequence[str], rows: Sequence[Row], now: datetime,
                progress: Progress | None = None) -> ImportResult:
    """Validate every row, then upsert them all; raise ImportProblems (writing nothing) if any is bad."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}")
    problems = check_header(kind, header)
    if problems:
        raise ImportProblems(problems)
    importer = _IMPORTERS[kind]
    check = _Checker(header)
    plan = importer(session, check, list(rows), now)
    if check.problems:
        raise ImportProblems(check.problems)
    result = ImportResult(kind, rows=len(rows))
    plan(result, progress or (lambda n: None))
    session.flush()
    return result


Plan = Callable[[ImportResult, Progress], None]


def _dupes(check: _Checker, rows: Iterable[tuple[Row, str]], column: str) -> None:
    seen: dict[str, Row] = {}
    for row, key in rows:
        if not key:
            continue
        folded = key.casefold()
        if folded in seen:
            check.bad(row, column, f"{key!r} is already on line {seen[folded].line} of this file")
        else:
            seen[folded] = row


def _case_clash(check: _Checker, row: Row, column: str, value: str, existing: dict[str, Any]) -> None:
    """Refuse a new code that differs only in letter case from a stored one (MariaDB treats them as equal)."""
    if value and value not in existing:
        for code in existing:
            if code.casefold() == value.casefold():
                check.bad(row, column, f"{value!r} differs only in letter case from the existing {code!r} "
                                       f"(use {code!r})")
                return


def _loop(parents: dict[Any, Any], start: Any) -> list[Any] | None:
    """Return the loop through `start` in a parent map, or None."""
    path, node = [start], parents.get(start)
    seen = {start}
    while node is not None:
        path.append(node)
        if node == start:
            return path
        if node in seen:
            return None
        seen.add(node)
        node = parents.get(node)
    return None


def _import_regions(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    existing = {r.code: r for r in session.scalars(select(Region))}
    by_id = {r.id: r.code for r in existing.values()}
    parsed: list[tuple[Row, str, str, str]] = []
    for row in rows:
        code = check.code(row, "code", required=True)
        name = check.text(row, "name", required=True)
        parent = check.code(row, "parent")
        _case_clash(check, row, "code", code, existing)
        parsed.append((row, code, name, parent))
    _dupes(check, ((r, c) for r, c, _, _ in parsed), "code")
    in_file = {c for _, c, _, _ in parsed}
    parents: dict[str, str | None] = {c: (by_id.get(r.parent_id) if r.parent_id else None)
                                      for c, r in existing.items()}
    for row, code, _, parent in parsed:
        if check.has("parent"):
            parents[code] = parent or None
        if parent and parent not in in_file and parent not in existing:
            check.bad(row, "parent", f"no region {parent!r} in this file or the database "
                                     "(expected a region code, or empty for a top region)")
    for row, code, _, parent in parsed:
        if parent:
            loop = _loop(parents, code)
            if loop:
                check.bad(row, "parent", f"{parent!r} makes a loop ({' > '.join(loop)})")

    def plan(result: ImportResult, progress: Progress) -> None:
        regions = dict(existing)
        for _row, code, name, _ in parsed:
            region = regions.get(code)
            if region is None:
                region = Region(code=code, name=name)
                session.add(region)
                regions[code] = region
                result.created += 1
            else:
                region.name = name
                result.updated += 1
            progress(1)
        session.flush()
        if check.has("parent"):
            for _, code, _, parent in parsed:
                regions[code].parent_id = regions[parent].id if parent else None
    return plan


def _zone(check: _Checker, row: Row) -> str:
    value = check.text(row, "timezone")
    if value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            check.bad(row, "timezone", f"{value!r} is not an IANA time zone (expected e.g. Asia/Shanghai)")
    return value


def _import_teams(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    existing = {t.code: t for t in session.scalars(select(Team))}
    regions = {code: rid for code, rid in session.execute(select(Region.code, Region.id))}
    parsed: list[tuple[Row, dict[str, Any], dict[str, list[str]]]] = []
    for row in rows:
        values: dict[str, Any] = {
            "code": check.code(row, "code", required=True),
            "name": check.text(row, "name", required=True),
            "timezone": _zone(check, row) or None,
            "locale": check.choice(row, "locale", ("zh-CN", "en")) or None,
        }
        chats = {column: _chat_targets(check, row, column) for column in TEAM_CHAT_COLUMNS if check.has(column)}
        _case_clash(check, row, "code", values["code"], existing)
        region = check.code(row, "region", required=True)
        if region and region not in regions:
            check.bad(row, "region", f"no region {region!r} in the database (import regions.csv first)")
        values["region_id"] = regions.get(region)
        for hook in chats.get("wecom_webhook", []):
            if not re.match(r"https?://", hook):
                    check.bad(row, "wecom_webhook", f"{hook!r} is not a URL (expected the group robot's "
                                                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=... address)")
        parsed.append((row, values, chats))
    _dupes(check, ((r, v["code"]) for r, v, _ in parsed), "code")
    present = {"code", "name", "region_id"} | {c for c in COLUMNS["teams"] if check.has(c)}

    def plan(result: ImportResult, progress: Progress) -> None:
        for _, values, chats in parsed:
            team = existing.get(values["code"])
            if team is None:
                team = Team(**values)
                session.add(team)
                result.created += 1
            else:
                for key, value in values.items():
                    if key in present:
                        setattr(team, key, value)
                result.updated += 1
            for column, targets in chats.items():
                team.set_chats(*TEAM_CHAT_COLUMNS[column], targets)
            progress(1)
    return plan


def _chat_targets(check: _Checker, row: Row, column: str) -> list[str]:
    """Read a team chat column: one chat id, or several separated by ';'."""
    targets = list(dict.fromkeys(_split_list(row.get(column))))
    for target in targets:
        if len(target) > 512:
            check.bad(row, column, f"{target[:20]!r}... is {len(target)} characters long (at most 512)")
    return targets


def _import_users(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    existing = {p.code: p for p in session.scalars(select(Person))}
    teams = {code: tid for code, tid in session.execute(select(Team.code, Team.id))}
    regions = {code: rid for code, rid in session.execute(select(Region.code, Region.id))}
    id_owner: dict[tuple[str, str], str] = {}
    for platform, external, code in session.execute(
            select(Identity.platform, Identity.external_id, Person.code).join(Person)):
        id_owner[(platform, external)] = code
    parsed: list[tuple[Row, dict[str, Any], list[str], dict[str, str]]] = []
    for row in rows:
        code = check.code(row, "code", required=True)
        _case_clash(check, row, "code", code, existing)
        values: dict[str, Any] = {
            "code": code,
            "name": check.text(row, "name", required=True),
            "role": check.choice(row, "role", [r.value for r in Role], required=True),
            "email": check.text(row, "email") or None,
        }
        if values["email"] and "@" not in values["email"]:
            check.bad(row, "email", f"{values['email']!r} is not an email address")
        team = check.code(row, "team")
        if team and team not in teams:
            check.bad(row, "team", f"no team {team!r} in the database (import teams.csv first)")
        values["team_id"] = teams.get(team) if team else None
        manages = _split_list(check.text(row, "manages"))
        for rc in manages:
            if rc not in regions:
                check.bad(row, "manages", f"no region {rc!r} in the database (expected region codes "
                                          "separated by ';', e.g. east;south)")
        ids = {platform: check.text(row, column) for column, platform in USER_ID_COLUMNS.items()}
        parsed.append((row, values, manages, ids))
    _dupes(check, ((r, v["code"]) for r, v, _, _ in parsed), "code")
    # Identities are unique per platform: work out who holds each id once this file is in.
    in_file = {v["code"] for _, v, _, _ in parsed}
    for column, platform in USER_ID_COLUMNS.items():
        if not check.has(column):
            continue
        claimed: dict[str, Row] = {}
        for row, values, _, ids in parsed:
            external = ids[platform]
            if not external:
                continue
            if external in claimed:
                check.bad(row, column, f"{external!r} is already given to another user on line "
                                       f"{claimed[external].line} (each {platform} id belongs to one person)")
                continue
            claimed[external] = row
            holder = id_owner.get((platform, external))
            if holder and holder != values["code"] and holder not in in_file:
                check.bad(row, column, f"{external!r} already belongs to user {holder!r} "
                                       f"(each {platform} id belongs to one person)")
    present = {c for c in ("name", "role", "email") if check.has(c)} | {"code"}
    if check.has("team"):
        present.add("team_id")

    def plan(result: ImportResult, progress: Progress) -> None:
        people = dict(existing)
        for _, values, _, _ in parsed:
            person = people.get(values["code"])
            if person is None:
                person = Person(**values)
                session.add(person)
                people[values["code"]] = person
                result.created += 1
            else:
                for key, value in values.items():
                    if key in present:
                        setattr(person, key, value)
                result.updated += 1
            progress(1)
        session.flush()
        # Release identities that change hands before giving them out again.
        for column, platform in USER_ID_COLUMNS.items():
            if not check.has(column):
                continue
            wanted = {values["code"]: ids[platform] for _, values, _, ids in parsed}
            released = {ext for _, _, _, ids in parsed if (ext := ids[platform])}
            stale = session.execute(select(Identity, Person.code).join(Person, Identity.person_id == Person.id)
                                    .where(Identity.platform == platform)).all()
            keep: dict[int, Identity] = {}
            for ident, owner in stale:
                if owner in wanted and ident.external_id != wanted[owner] or (
                        owner not in wanted and ident.external_id in released):
                    session.delete(ident)
                elif owner in wanted:
                    keep[ident.person_id] = ident
            session.flush()
            for code, external in wanted.items():
                person = people[code]
                if external and person.id not in keep:
                    session.add(Identity(person_id=person.id, platform=platform, external_id=external))
        if check.has("manages"):
            for _, values, manages, _ in parsed:
                person = people[values["code"]]
                current = {m.region_id: m for m in session.scalars(
                    select(ManagedRegion).where(ManagedRegion.person_id == person.id))}
                wanted_ids = {regions[rc] for rc in manages}
                for rid, link in current.items():
                    if rid not in wanted_ids:
                        session.delete(link)
                for rid in wanted_ids - set(current):
                    session.add(ManagedRegion(person_id=person.id, region_id=rid))
    return plan


def _stage_hint() -> str:
    return ", ".join(s.value for s in Stage)


def _import_customers(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    stored = list(session.scalars(select(Customer)))
    by_name = {c.name: c for c in stored}
    by_key = {c.name_key: c for c in stored}
    regions = {code: rid for code, rid in session.execute(select(Region.code, Region.id))}
    people = {code: pid for code, pid in session.execute(select(Person.code, Person.id))}
    parsed: list[tuple[Row, dict[str, Any], str]] = []
    file_keys: dict[str, Row] = {}
    for row in rows:
        name = check.text(row, "name", required=True)
        key = normalize_name(name) if name else ""
        values: dict[str, Any] = {"name": name, "name_key": key}
        region = check.code(row, "region", required=True)
        if region and region not in regions:
            check.bad(row, "region", f"no region {region!r} in the database (import regions.csv first)")
        values["region_id"] = regions.get(region)
        owner = check.code(row, "owner")
        if owner and owner not in people:
            check.bad(row, "owner", f"no user {owner!r} in the database (expected a user code; import "
                                    "users.csv first)")
        values["owner_id"] = people.get(owner) if owner else None
        values["tier"] = check.choice(row, "tier", ("A", "B", "C")) or "C"
        values["industry"] = check.text(row, "industry") or None
        stage_text = check.text(row, "stage")
        stage = parse_stage(stage_text) if stage_text else Stage.LEAD
        if stage is None:
            check.bad(row, "stage", f"{stage_text!r} is not a stage (expected a key or label: "
                                    f"{_stage_hint()}, or 线索, 需求挖掘, 方案设计, 商务谈判, 签约, 售后维护, 丢单)")
        values["stage"] = (stage or Stage.LEAD).value
        values["last_contact"] = check.day(row, "last_contact")
        values["next_follow_up"] = check.day(row, "next_follow_up")
        parent = check.text(row, "parent")
        if key:
            if key in file_keys:
                first = file_keys[key]
                check.bad(row, "name", f"{name!r} is the same customer as {first.get('name')!r} on line "
                                       f"{first.line} (names match once normalised)")
            else:
                file_keys[key] = row
        parsed.append((row, values, parent))
    # A row's identity: the stored customer it updates, or its own new key.
    ident: dict[int, Any] = {}
    for row, values, _ in parsed:
        match = by_name.get(values["name"]) or by_key.get(values["name_key"])
        ident[row.line] = ("db", match.id) if match else ("new", values["name_key"])
    file_by_name = {v["name"]: row for row, v, _ in parsed}
    file_by_key = {v["name_key"]: row for row, v, _ in parsed}

    def resolve(parent: str) -> Any:
        row = file_by_name.get(parent) or file_by_key.get(normalize_name(parent))
        if row is not None:
            return ident[row.line]
        match = by_name.get(parent) or by_key.get(normalize_name(parent))
        return ("db", match.id) if match else None

    parents: dict[Any, Any] = {("db", c.id): ("db", c.parent_id) if c.parent_id else None for c in stored}
    for row, _, parent in parsed:
        if not check.has("parent"):
            break
        if not parent:
            parents[ident[row.line]] = None
            continue
        target = resolve(parent)
        if target is None:
            check.bad(row, "parent", f"no customer {parent!r} in this file or the database "
                                     "(expected the group's customer name, or empty)")
        parents[ident[row.line]] = target
    names = {("db", c.id): c.name for c in stored} | {ident[r.line]: v["name"] for r, v, _ in parsed}
    for row, _, parent in parsed:
        if parent and check.has("parent"):
            loop = _loop(parents, ident[row.line])
            if loop:
                check.bad(row, "parent", f"{parent!r} makes a loop ({' > '.join(names[n] for n in loop)})")
    present = {"name", "name_key", "region_id"} | {
        col_attr for col, col_attr in (("owner", "owner_id"), ("tier", "tier"), ("industry", "industry"),
                                       ("stage", "stage"), ("last_contact", "last_contact"),
                                       ("next_follow_up", "next_follow_up")) if check.has(col)}

    def plan(result: ImportResult, progress: Progress) -> None:
        made: dict[Any, Customer] = {("db", c.id): c for c in stored}
        for row, values, _ in parsed:
            customer = made.get(ident[row.line])
            if customer is None:
                customer = Customer(**values, stage_changed_at=now, created_at=now)
                session.add(customer)
                made[ident[row.line]] = customer
                result.created += 1
            else:
                if "stage" in present and customer.stage != values["stage"]:
                    customer.stage_changed_at = now
                for key, value in values.items():
                    if key in present:
                        setattr(customer, key, value)
                result.updated += 1
            progress(1)
        session.flush()
        if check.has("parent"):
            for row, _, parent in parsed:
                target = resolve(parent) if parent else None
                made[ident[row.line]].parent_id = made[target].id if target else None
    return plan


def _report_fields(session: Session) -> tuple[FieldDef, ...]:
    try:
        from services.report_fields import load_fields
    except ImportError:
        known = {f.key for f in DEFAULT_FIELDS}
        extra = tuple(FieldDef(rf.key, FieldType(rf.type), tuple(rf.labels_zh), tuple(rf.labels_en),
                               tuple(rf.aliases), builtin=False)
                      for rf in session.scalars(select(ReportField).order_by(ReportField.position, ReportField.key))
                      if rf.key not in known)
        return DEFAULT_FIELDS + extra
    return tuple(load_fields(session=session))


def _import_goals(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    codes = {
        "user": {c for (c,) in session.execute(select(Person.code))},
        "team": {c for (c,) in session.execute(select(Team.code))},
        "region": {c for (c,) in session.execute(select(Region.code))},
    }
    fields = {f.key: f for f in _report_fields(session)}
    metrics = [k for k, f in fields.items() if f.type != FieldType.TEXT]
    existing = {(g.scope, g.code, g.period, g.metric): g for g in session.scalars(select(Goal))}
    parsed: list[tuple[Row, dict[str, Any]]] = []
    for row in rows:
        scope = check.choice(row, "scope", ("user", "team", "region"), required=True)
        code = check.code(row, "code", required=True)
        if scope and code and code not in codes[scope]:
            check.bad(row, "code", f"no {scope} {code!r} in the database (expected a {scope} code)")
        period_text = check.text(row, "period", required=True)
        period = ""
        if period_text:
            try:
                period = str(parse_period(period_text))
            except ValueError:
                check.bad(row, "period", f"{period_text!r} is not a period (expected 2026, 2026-Q4, "
                                         "2026-12 or 2026-W49)")
        metric = check.text(row, "metric", required=True)
        if metric and metric not in metrics:
            check.bad(row, "metric", f"{metric!r} is not a count or money report field "
                                     f"(expected one of {', '.join(metrics)})")
        target = check.amount(row, "target", required=True)
        floor = check.amount(row, "floor")
        stretch = check.amount(row, "stretch")
        if target is not None and floor is not None and floor > target:
            check.bad(row, "floor", f"{_plain(floor)} is above the target {_plain(target)} "
                                    "(the floor is the minimum, at most the target)")
        if target is not None and stretch is not None and stretch < target:
            check.bad(row, "stretch", f"{_plain(stretch)} is below the target {_plain(target)} "
                                      "(the stretch goal is at least the target)")
        parsed.append((row, {"scope": scope, "code": code, "period": period, "metric": metric,
                             "target": target, "floor": floor, "stretch": stretch}))
    _dupes(check, ((r, "|".join((v["scope"], v["code"], v["period"], v["metric"]))) for r, v in parsed),
           "code")

    def plan(result: ImportResult, progress: Progress) -> None:
        for _, values in parsed:
            goal = existing.get((values["scope"], values["code"], values["period"], values["metric"]))
            if goal is None:
                session.add(Goal(**values, updated_at=now))
                result.created += 1
            else:
                goal.target = values["target"]
                if check.has("floor"):
                    goal.floor = values["floor"]
                if check.has("stretch"):
                    goal.stretch = values["stretch"]
                goal.updated_at = now
                result.updated += 1
            progress(1)
    return plan


def _import_holidays(session: Session, check: _Checker, rows: list[Row], now: datetime) -> Plan:
    existing = {h.day: h for h in session.scalars(select(Holiday))}
    parsed: list[tuple[Row, date | None, str, str]] = []
    for row in rows:
        day = check.day(row, "date", required=True)
        kind = check.choice(row, "kind", ("holiday", "workday"), required=True)
        name = check.text(row, "name")
        parsed.append((row, day, kind, name))
    _dupes(check, ((r, d.isoformat() if d else "") for r, d, _, _ in parsed), "date")

    def plan(result: ImportResult, progress: Progress) -> None:
        for _, day, kind, name in parsed:
            holiday = existing.get(day)  # type: ignore[arg-type]
            if holiday is None:
                session.add(Holiday(day=day, kind=kind, name=name))
                result.created += 1
            else:
                holiday.kind = kind
                if check.has("name"):
                    holiday.name = name
                result.updated += 1
            progress(1)
    return plan


_IMPORTERS: dict[str, Callable[[Session, _Checker, list[Row], datetime], Plan]] = {
    "regions": _import_regions,
    "teams": _import_teams,
    "users": _import_users,
    "customers": _import_customers,
    "goals": _import_goals,
    "holidays": _import_holidays,
}


# ---------------------------------------------------------------------------
# export


def _in(day: date | None, since: date | None, until: date | None) -> bool:
    if day is None:
        return since is None and until is None
    return (since is None or day >= since) and (until is None or day <= until)


def export_rows(*, session: Session, kind: str, now: datetime, zone: str = "Asia/Shanghai",
                since: date | None = None, until: date | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the columns and rows (plain typed values) of one export kind, dated kinds filtered."""
    region_codes = {rid: code for rid, code in session.execute(select(Region.id, Region.code))}
    person_codes = {pid: code for pid, code in session.execute(select(Person.id, Person.code))}
    if kind == "regions":
        rows = [{"code": r.code, "name": r.name, "parent": region_codes.get(r.parent_id) if r.parent_id else ""}
                for r in session.scalars(select(Region).order_by(Region.code))]
        return list(COLUMNS[kind]), rows
    if kind == "teams":
        chats: dict[tuple[int, str, str], list[str]] = {}
        for tid, platform, chat_kind, target in session.execute(
                select(TeamChat.team_id, TeamChat.platform, TeamChat.kind, TeamChat.target).order_by(TeamChat.id)):
            chats.setdefault((tid, platform, chat_kind), []).append(target)
        rows = [{"code": t.code, "name": t.name, "region": region_codes.get(t.region_id, ""),
                 "timezone": t.timezone or "", "locale": t.locale or "",
                 **{column: ";".join(chats.get((t.id, *where), [])) for column, where in TEAM_CHAT_COLUMNS.items()}}
                for t in session.scalars(select(Team).order_by(Team.code))]
        return list(COLUMNS[kind]), rows
    if kind == "users":
        team_codes = {tid: code for tid, code in session.execute(select(Team.id, Team.code))}
        manages: dict[int, list[str]] = {}
        for pid, rid in session.execute(select(ManagedRegion.person_id, ManagedRegion.region_id)):
            manages.setdefault(pid, []).append(region_codes[rid])
        idents = {(pid, platform): ext for pid, platform, ext in session.execute(
            select(Identity.person_id, Identity.platform, Identity.external_id))}
        rows = [{"code": p.code, "name": p.name, "role": p.role,
                 "team": team_codes.get(p.team_id, "") if p.team_id else "",
                 "manages": ";".join(sorted(manages.get(p.id, []))),
                 **{column: idents.get((p.id, platform), "") for column, platform in USER_ID_COLUMNS.items()},
                 "email": p.email or ""}
                for p in session.scalars(select(Person).order_by(Person.code))]
        return list(COLUMNS[kind]), rows
    if kind == "customers":
        customer_names = {cid: name for cid, name in session.execute(select(Customer.id, Customer.name))}
        rows = [{"name": c.name, "region": region_codes.get(c.region_id, ""),
                 "owner": person_codes.get(c.owner_id, "") if c.owner_id else "", "tier": c.tier,
                 "industry": c.industry or "",
                 "parent": customer_names.get(c.parent_id, "") if c.parent_id else "",
                 "stage": c.stage, "last_contact": c.last_contact, "next_follow_up": c.next_follow_up}
                for c in session.scalars(select(Customer).order_by(Customer.name))]
        return list(COLUMNS[kind]), rows
    if kind == "goals":
        rows = [{"scope": g.scope, "code": g.code, "period": g.period, "metric": g.metric, "target": g.target,
                 "floor": g.floor, "stretch": g.stretch}
                for g in session.scalars(select(Goal).order_by(Goal.scope, Goal.code, Goal.period, Goal.metric))]
        return list(COLUMNS[kind]), rows
    if kind == "holidays":
        query = select(Holiday).order_by(Holiday.day)
        if since:
            query = query.where(Holiday.day >= since)
        if until:
            query = query.where(Holiday.day <= until)
        return list(COLUMNS[kind]), [{"date": h.day, "kind": h.kind, "name": h.name}
                                     for h in session.scalars(query)]
    if kind == "reports":
        return _export_reports(session, person_codes, since, until)
    if kind == "visits":
        return _export_visits(session, region_codes, person_codes, since, until)
    if kind == "collabs":
        return _export_collabs(session, region_codes, person_codes, since, until, now, zone)
    if kind == "followups":
        return _export_followups(session, person_codes, since, until)
    if kind == "audit":
        return audit.export_rows(session, since=since, until=until, zone=zone)
    raise ValueError(f"unknown export kind {kind!r}")


def _field_value(report: DailyReport, field_def: FieldDef) -> Any:
    try:
        from services.report_fields import get_value
    except ImportError:
        value = getattr(report, field_def.key) if hasattr(DailyReport, field_def.key) \
            else (report.extra or {}).get(field_def.key)
    else:
        value = get_value(report, field_def.key)
    if value is None or value == "":
        return None
    if field_def.type == FieldType.MONEY and not isinstance(value, Decimal):
        return Decimal(str(value))
    if field_def.type == FieldType.COUNT and not isinstance(value, int):
        return int(Decimal(str(value)))
    return value


def _export_reports(session: Session, person_codes: dict[int, str], since: date | None,
                    until: date | None) -> tuple[list[str], list[dict[str, Any]]]:
    fields = _report_fields(session)
    columns = ["user_code", "date", *(f.key for f in fields), "key_actions", "raw_text", "updated_at"]
    query = select(DailyReport).order_by(DailyReport.day, DailyReport.person_id)
    if since:
        query = query.where(DailyReport.day >= since)
    if until:
        query = query.where(DailyReport.day <= until)
    rows = []
    for report in session.scalars(query):
        row: dict[str, Any] = {"user_code": person_codes.get(report.person_id, ""), "date": report.day}
        for f in fields:
            row[f.key] = _field_value(report, f)
        row["key_actions"] = list(report.key_actions or [])
        row["raw_text"] = report.raw_text or ""
        row["updated_at"] = report.updated_at
        rows.append(row)
    rows.sort(key=lambda r: (r["date"], r["user_code"]))
    return columns, rows


def _export_visits(session: Session, region_codes: dict[int, str], person_codes: dict[int, str],
                   since: date | None, until: date | None) -> tuple[list[str], list[dict[str, Any]]]:
    columns = ["customer", "user_code", "region", "stage", "date", "next_follow_up", "note", "without_permission"]
    query = select(Visit, Customer.name).join(Customer, Visit.customer_id == Customer.id) \
        .order_by(Visit.day, Visit.id)
    if since:
        query = query.where(Visit.day >= since)
    if until:
        query = query.where(Visit.day <= until)
    rows = [{"customer": name, "user_code": person_codes.get(v.person_id, ""),
             "region": region_codes.get(v.region_id, "") if v.region_id else "", "stage": v.stage or "",
             "date": v.day, "next_follow_up": v.next_follow_up, "note": v.note or "",
             "without_permission": bool(v.without_permission)}
            for v, name in session.execute(query)]
    return columns, rows


def _export_collabs(session: Session, region_codes: dict[int, str], person_codes: dict[int, str],
                    since: date | None, until: date | None, now: datetime,
                    zone: str) -> tuple[list[str], list[dict[str, Any]]]:
    columns = ["id", "customer", "requester", "owner_region", "reason", "status", "decided_by", "decided_at",
               "expires_at", "created_at"]
    tz = ZoneInfo(zone)
    query = select(CollabRequest, Customer.name).join(Customer, CollabRequest.customer_id == Customer.id) \
        .order_by(CollabRequest.id)
    rows = []
    for c, name in session.execute(query):
        if not _in(c.created_at.astimezone(tz).date(), since, until):
            continue
        rows.append({"id": c.id, "customer": name, "requester": person_codes.get(c.requester_id, ""),
                     "owner_region": region_codes.get(c.owner_region_id, ""), "reason": c.reason or "",
                     "status": grant_status(c, now),
                     "decided_by": person_codes.get(c.decided_by_id, "") if c.decided_by_id else "",
                     "decided_at": c.decided_at, "expires_at": c.expires_at, "created_at": c.created_at})
    return columns, rows


def _export_followups(session: Session, person_codes: dict[int, str], since: date | None,
                      until: date | None) -> tuple[list[str], list[dict[str, Any]]]:
    columns = ["customer", "owner", "kind", "due", "status", "escalated"]
    query = select(FollowUp, Customer.name).join(Customer, FollowUp.customer_id == Customer.id) \
        .order_by(FollowUp.due, FollowUp.id)
    if since:
        query = query.where(FollowUp.due >= since)
    if until:
        query = query.where(FollowUp.due <= until)
    rows = [{"customer": name, "owner": person_codes.get(f.owner_id, "") if f.owner_id else "",
             "kind": f.kind, "due": f.due, "status": f.status, "escalated": bool(f.escalated)}
            for f, name in session.execute(query)]
    return columns, rows


# ---------------------------------------------------------------------------
# formats


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Render rows as CSV text (header first, `\\n` line ends, no BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        # Only hand out a float when it prints back as exactly this amount (no float noise).
        return as_float if Decimal(repr(as_float)) == value else _plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def to_json(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Render rows as a JSON list of objects with the columns in order."""
    items = [{c: _json_value(row.get(c)) for c in columns} for row in rows]
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"
