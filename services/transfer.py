"""Import and export of the organisation's data: typed row models, whole-file checks, upsert, export.

One validation for every way in: `salesbot import` and the console, CSV, JSON and Excel files.
Each kind has a pydantic row model whose fields check one cell each (`_cell`), and a function
beside it with the checks that need other rows or the database (references, duplicates, loops),
which returns the writer that upserts the rows. Every problem is reported with its line and
column, and nothing is written unless the whole file is good.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError
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
    Role,
    Team,
    TeamChat,
    Visit,
)
from services import audit
from services.customers import grant_status, normalize_name
from services.fields import FieldDef, FieldType, Stage, parse_stage
from services.goals import parse_period
from services.report_fields import get_value, load_fields
from services.tables import (
    ImportProblems,
    Problem,
    Row,
    cell_text,
    plain,
    read_table,
    to_csv,
    to_json,
    to_xlsx,
)

__all__ = [
    "COLUMNS",
    "DATED_KINDS",
    "EXPORT_KINDS",
    "IMPORT_KINDS",
    "Change",
    "ImportProblems",
    "ImportResult",
    "Preview",
    "Problem",
    "Row",
    "export_rows",
    "import_file",
    "import_rows",
    "preview",
    "read_table",
    "to_csv",
    "to_json",
    "to_xlsx",
]

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
# The columns that say which stored row a row updates.
KEYS: dict[str, tuple[str, ...]] = {"regions": ("code",), "teams": ("code",), "users": ("code",),
                                    "customers": ("name",), "goals": ("scope", "code", "period", "metric"),
                                    "holidays": ("date",)}
IMPORT_KINDS = tuple(COLUMNS)
EXPORT_KINDS = IMPORT_KINDS + ("reports", "visits", "collabs", "followups", "audit")
DATED_KINDS = ("holidays", "reports", "visits", "collabs", "followups", "audit")
_LISTS = {"manages", *TEAM_CHAT_COLUMNS}  # `;`-separated cells

_CODE_RE = re.compile(r"[^\s;,]+")
_MAX_MONEY = Decimal("1e16")


# ---------------------------------------------------------------------------
# cells: each checks one value and says what is wrong and what would be right


@dataclass(frozen=True)
class _Said:
    """A cell's problem carried through pydantic: its English words, and its code and values for other languages."""

    code: str
    english: str
    args: dict[str, Any]

    def __str__(self) -> str:
        return self.english.format(**self.args)


def _bad(code: str, english: str, /, **args: Any) -> NoReturn:
    """Refuse a cell: `english` filled in with `args` is the message (pydantic copies the one `{said}` field only)."""
    raise PydanticCustomError("bad_cell", "{said}", {"said": _Said(code, english, args)})


def _cell(check: Callable[[str], Any] | None = None, *, required: bool = False, limit: int | None = None,
          empty: Any = None) -> BeforeValidator:
    """A cell's validator: blank is `empty` (or a problem when required), else at most `limit` long and `check`ed."""

    def run(value: Any) -> Any:
        text = "" if value is None else str(value).strip()
        if not text:
            if required:
                _bad("empty", "is empty (a value is required)")
            return empty
        if limit is not None and len(text) > limit:
            _bad("too_long", "is {length} characters long (at most {limit})", length=len(text), limit=limit)
        return check(text) if check is not None else text

    return BeforeValidator(run)


def _rule(convert: Callable[[str], Any], code: str, expected: str, **args: Any) -> Callable[[str], Any]:
    """A check that converts a cell, or says `'VALUE' is not ...` (`code`) when `convert` fails or gives None."""

    def check(value: str) -> Any:
        try:
            out = convert(value)
        except (ValueError, LookupError, ArithmeticError):
            out = None
        return _bad(code, "{value!r} " + expected, value=value, **args) if out is None else out

    return check


def _choice(*options: str) -> Callable[[str], str]:
    folded = {o.casefold(): o for o in options}
    return _rule(lambda v: folded.get(v.casefold()), "not_one_of", "is not one of {options}", options=", ".join(options))


_code = _rule(lambda v: v if _CODE_RE.fullmatch(v) else None, "not_code",
              "is not a code (expected letters and digits without spaces, commas or semicolons, e.g. sh1)")
_day = _rule(lambda v: date.fromisoformat(v) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v) else None,
             "not_date", "is not a date (expected YYYY-MM-DD, e.g. 2026-11-23)")
_zone = _rule(lambda v: ZoneInfo(v) and v, "not_zone", "is not an IANA time zone (expected e.g. Asia/Shanghai)")
_email = _rule(lambda v: v if "@" in v else None, "not_email", "is not an email address")
_period = _rule(lambda v: str(parse_period(v)), "not_period",
                "is not a period (expected 2026, 2026-Q4, 2026-12 or 2026-W49)")
_stage = _rule(lambda v: (stage := parse_stage(v)) and stage.value, "not_stage",
               "is not a stage (expected a key or label: {stages}, or 线索, 需求挖掘, 方案设计, 商务谈判, 签约, 售后维护, 丢单)",
               stages=", ".join(s.value for s in Stage))


def _amount(value: str) -> Decimal:
    cleaned = unicodedata.normalize("NFKC", value).replace(",", "").replace("_", "").replace(" ", "")
    try:
        amount = Decimal(cleaned)
        if not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        _bad("not_number", "{value!r} is not a number (expected e.g. 500000 or 125000.50)", value=value)
    if amount < 0:
        _bad("negative", "{value!r} is negative (expected 0 or more)", value=value)
    if amount >= _MAX_MONEY:
        _bad("too_large", "{value!r} is too large", value=value)
    if amount != amount.quantize(Decimal("0.01")):
        _bad("decimals", "{value!r} has more than 2 decimal places", value=value)
    return amount


def _split(value: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in value.replace("；", ";").split(";") if p.strip()))


def _chats(value: str, *, url: bool = False) -> list[str]:
    """One chat id or several separated by ';' (a group robot's webhook: a URL)."""
    targets = _split(value)
    for target in targets:
        if len(target) > 512:
            _bad("chat_too_long", "{start!r}... is {length} characters long (at most 512)", start=target[:20],
                 length=len(target))
        if url and not re.match(r"https?://", target):
            _bad("not_url", "{value!r} is not a URL (expected the group robot's "
                 "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=... address)", value=target)
    return targets


Code = Annotated[str, _cell(_code, required=True, limit=64)]
OptionalCode = Annotated[str | None, _cell(_code, limit=64)]
Name = Annotated[str, _cell(required=True, limit=200)]
Text = Annotated[str | None, _cell(limit=200)]
Id = Annotated[str | None, _cell(limit=128)]
Day = Annotated[date | None, _cell(_day)]
Amount = Annotated[Decimal | None, _cell(_amount)]
Chats = Annotated[list[str], _cell(_chats, empty=[])]


class _RowModel(BaseModel):
    """A row of one import kind: a field per column (every field has a default, so a half-read row exists)."""

    model_config = ConfigDict(validate_assignment=True, extra="ignore", arbitrary_types_allowed=True)


class RegionRow(_RowModel):
    code: Code = ""
    name: Name = ""
    parent: OptionalCode = None


class TeamRow(_RowModel):
    code: Code = ""
    name: Name = ""
    region: Code = ""
    timezone: Annotated[str | None, _cell(_zone, limit=64)] = None
    locale: Annotated[str | None, _cell(_choice("zh-CN", "en"))] = None
    slack_channel: Chats = []
    wecom_chat: Chats = []
    wecom_webhook: Annotated[list[str], _cell(lambda v: _chats(v, url=True), empty=[])] = []
    dingtalk_chat: Chats = []
    feishu_chat: Chats = []


class UserRow(_RowModel):
    code: Code = ""
    name: Name = ""
    role: Annotated[str, _cell(_choice(*(r.value for r in Role)), required=True)] = ""
    team: OptionalCode = None
    manages: Annotated[list[str], _cell(_split, empty=[])] = []
    slack_user: Id = None
    wecom_user: Id = None
    dingtalk_user: Id = None
    feishu_user: Id = None
    email: Annotated[str | None, _cell(_email, limit=200)] = None


class CustomerRow(_RowModel):
    name: Name = ""
    region: Code = ""
    owner: OptionalCode = None
    tier: Annotated[str, _cell(_choice("A", "B", "C"), empty="C")] = "C"
    industry: Annotated[str | None, _cell(limit=100)] = None
    parent: Text = None
    stage: Annotated[str, _cell(_stage, empty=Stage.LEAD.value)] = Stage.LEAD.value
    last_contact: Day = None
    next_follow_up: Day = None


class GoalRow(_RowModel):
    scope: Annotated[str, _cell(_choice("user", "team", "region"), required=True)] = ""
    code: Code = ""
    period: Annotated[str, _cell(_period, required=True)] = ""
    metric: Annotated[str, _cell(required=True, limit=64)] = ""
    target: Annotated[Decimal | None, _cell(_amount, required=True)] = None
    floor: Amount = None
    stretch: Amount = None


class HolidayRow(_RowModel):
    date: Annotated[Any, _cell(_day, required=True)] = None
    kind: Annotated[str, _cell(_choice("holiday", "workday"), required=True)] = ""
    name: Text = None


MODELS: dict[str, type[_RowModel]] = {"regions": RegionRow, "teams": TeamRow, "users": UserRow,
                                      "customers": CustomerRow, "goals": GoalRow, "holidays": HolidayRow}


def _parse(model: type[_RowModel], row: Row, columns: Sequence[str], problems: list[Problem]) -> Any:
    """Validate one row; on problems, keep the cells that were good (the cross-row checks still see them)."""
    values = {c: row.get(c) for c in columns}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            said = (e.get("ctx") or {}).get("said")
            problems.append(Problem.say(row.line, str(e["loc"][0]), said.code, said.english, **said.args)
                            if isinstance(said, _Said) else Problem(row.line, str(e["loc"][0]), e["msg"]))
    partial = model.model_construct()
    for column, value in values.items():
        try:
            setattr(partial, column, value)
        except ValidationError:
            pass
    return partial


def check_header(kind: str, header: Sequence[str]) -> list[Problem]:
    """Name unknown, duplicate and missing required columns."""
    allowed, required = COLUMNS[kind], REQUIRED[kind]
    problems = []
    unknown = [h for h in header if h not in allowed]
    if unknown:
        problems.append(Problem.say(1, "header", "unknown_columns", "unknown column(s) {columns} (expected: {allowed})",
                                    columns=", ".join(repr(u) for u in unknown), allowed=", ".join(allowed)))
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(Problem.say(1, "header", "repeated_columns", "column(s) {columns} appear more than once",
                                    columns=", ".join(dupes)))
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(Problem.say(1, "header", "missing_columns",
                                    "missing required column(s) {columns} (required: {required})",
                                    columns=", ".join(missing), required=", ".join(required)))
    return problems


# ---------------------------------------------------------------------------
# whole-file checks and writes, one function per kind


@dataclass
class ImportResult:
    kind: str
    created: int = 0
    updated: int = 0
    rows: int = 0


Progress = Callable[[int], None]
Plan = Callable[[ImportResult, Progress], None]


@dataclass
class _Batch:
    """A file being imported: its rows read into models, the problems found so far."""

    session: Session
    header: frozenset[str]
    items: list[tuple[Row, Any]]
    now: datetime
    problems: list[Problem] = field(default_factory=list)

    def has(self, column: str) -> bool:
        return column in self.header

    def bad(self, row: Row, column: str, code: str, english: str, /, **args: Any) -> None:
        self.problems.append(Problem.say(row.line, column, code, english, **args))

    def unique(self, column: str, key: Callable[[Any], str]) -> None:
        """A key may appear once in a file (letter case aside)."""
        seen: dict[str, Row] = {}
        for row, item in self.items:
            value = key(item)
            if not value:
                continue
            if value.casefold() in seen:
                self.bad(row, column, "repeated", "{value!r} is already on line {line} of this file", value=value,
                         line=seen[value.casefold()].line)
            else:
                seen[value.casefold()] = row

    def no_case_clash(self, column: str, stored: dict[str, Any]) -> None:
        """Refuse a new code that differs only in letter case from a stored one (MariaDB treats them as equal)."""
        folded = {code.casefold(): code for code in stored}
        for row, item in self.items:
            value = getattr(item, column)
            if value and value not in stored and value.casefold() in folded:
                code = folded[value.casefold()]
                self.bad(row, column, "letter_case", "{value!r} differs only in letter case from the existing "
                                                     "{code!r} (use {code!r})", value=value, code=code)

    def known(self, column: str, known: Any, code: str, english: str) -> None:
        """Every value of a column (or of a `;` list) must be in `known` (else `english` about `{value!r}`)."""
        for row, item in self.items:
            value = getattr(item, column)
            for one in value if isinstance(value, list) else [value]:
                if one and one not in known:
                    self.bad(row, column, code, english, value=one)


def _loop(parents: dict[Any, Any], start: Any) -> list[Any] | None:
    """Return the loop through `start` in a parent map, or None."""
    path, node, seen = [start], parents.get(start), {start}
    while node is not None:
        path.append(node)
        if node == start:
            return path
        if node in seen:
            return None
        seen.add(node)
        node = parents.get(node)
    return None


def _upsert(session: Session, result: ImportResult, obj: Any, model: type, values: dict[str, Any],
            present: set[str]) -> Any:
    """Create a row with `values`, or set the `present` ones on the stored row."""
    if obj is None:
        obj = model(**values)
        session.add(obj)
        result.created += 1
    else:
        for key, value in values.items():
            if key in present:
                setattr(obj, key, value)
        result.updated += 1
    return obj


def _codes(session: Session, model: Any) -> dict[str, int]:
    return {code: id_ for code, id_ in session.execute(select(model.code, model.id))}


def _regions(b: _Batch) -> Plan:
    s = b.session
    stored = {r.code: r for r in s.scalars(select(Region))}
    b.no_case_clash("code", stored)
    b.unique("code", lambda r: r.code)
    by_id = {r.id: r.code for r in stored.values()}
    parents: dict[str, str | None] = {c: by_id.get(r.parent_id) for c, r in stored.items()}
    if b.has("parent"):
        parents.update({r.code: r.parent for _, r in b.items})
        b.known("parent", parents, "no_parent_region", "no region {value!r} in this file or the database "
                                                        "(expected a region code, or empty for a top region)")
        for row, r in b.items:
            if r.parent and (loop := _loop(parents, r.code)):
                b.bad(row, "parent", "loop", "{value!r} makes a loop ({path})", value=r.parent, path=" > ".join(loop))

    def write(result: ImportResult, progress: Progress) -> None:
        for _, r in b.items:
            stored[r.code] = _upsert(s, result, stored.get(r.code), Region, {"code": r.code, "name": r.name}, {"name"})
            progress(1)
        s.flush()
        if b.has("parent"):
            for _, r in b.items:
                stored[r.code].parent_id = stored[r.parent].id if r.parent else None
    return write


def _teams(b: _Batch) -> Plan:
    s = b.session
    stored = {t.code: t for t in s.scalars(select(Team))}
    regions = _codes(s, Region)
    b.no_case_clash("code", stored)
    b.unique("code", lambda t: t.code)
    b.known("region", regions, "no_region", "no region {value!r} in the database (import regions.csv first)")
    present = {"name", "region_id"} | {c for c in ("timezone", "locale") if b.has(c)}
    chats = [c for c in TEAM_CHAT_COLUMNS if b.has(c)]

    def write(result: ImportResult, progress: Progress) -> None:
        for _, t in b.items:
            team = _upsert(s, result, stored.get(t.code), Team, {
                "code": t.code, "name": t.name, "region_id": regions[t.region], "timezone": t.timezone,
                "locale": t.locale}, present)
            for column in chats:
                team.set_chats(*TEAM_CHAT_COLUMNS[column], getattr(t, column))
            progress(1)
    return write


def _users(b: _Batch) -> Plan:
    s = b.session
    stored = {p.code: p for p in s.scalars(select(Person))}
    teams, regions = _codes(s, Team), _codes(s, Region)
    b.no_case_clash("code", stored)
    b.unique("code", lambda u: u.code)
    b.known("team", teams, "no_team", "no team {value!r} in the database (import teams.csv first)")
    b.known("manages", regions, "no_managed_region", "no region {value!r} in the database (expected region codes "
                                                     "separated by ';', e.g. east;south)")
    # Platform ids are unique per platform: work out who holds each one once this file is in.
    holders = {(p, ext): code for p, ext, code in s.execute(
        select(Identity.platform, Identity.external_id, Person.code).join(Person))}
    in_file = {u.code for _, u in b.items}
    id_columns = {c: p for c, p in USER_ID_COLUMNS.items() if b.has(c)}
    for column, platform in id_columns.items():
        claimed: dict[str, Row] = {}
        for row, u in b.items:
            external = getattr(u, column)
            if not external:
                continue
            holder = holders.get((platform, external))
            if external in claimed:
                b.bad(row, column, "id_repeated", "{value!r} is already given to another user on line {line} "
                                                  "(each {platform} id belongs to one person)",
                      value=external, line=claimed[external].line, platform=platform)
            elif holder and holder != u.code and holder not in in_file:
                b.bad(row, column, "id_taken", "{value!r} already belongs to user {holder!r} "
                                               "(each {platform} id belongs to one person)",
                      value=external, holder=holder, platform=platform)
            claimed.setdefault(external, row)
    present = {"name", "role"} | {c for c in ("email",) if b.has(c)} | ({"team_id"} if b.has("team") else set())

    def write(result: ImportResult, progress: Progress) -> None:
        people = dict(stored)
        for _, u in b.items:
            people[u.code] = _upsert(s, result, people.get(u.code), Person, {
                "code": u.code, "name": u.name, "role": u.role, "email": u.email,
                "team_id": teams[u.team] if u.team else None}, present)
            progress(1)
        s.flush()
        for column, platform in id_columns.items():
            # Release the ids that change hands before giving them out again.
            wanted = {u.code: getattr(u, column) for _, u in b.items}
            moving = {ext for ext in wanted.values() if ext}
            keep: set[int] = set()
            for ident, owner in s.execute(select(Identity, Person.code).join(Person)
                                          .where(Identity.platform == platform)).all():
                if (owner in wanted and ident.external_id != wanted[owner]) or (
                        owner not in wanted and ident.external_id in moving):
                    s.delete(ident)
                elif owner in wanted:
                    keep.add(ident.person_id)
            s.flush()
            for code, external in wanted.items():
                if external and people[code].id not in keep:
                    s.add(Identity(person_id=people[code].id, platform=platform, external_id=external))
        if b.has("manages"):
            for _, u in b.items:
                person = people[u.code]
                current = {m.region_id: m for m in s.scalars(
                    select(ManagedRegion).where(ManagedRegion.person_id == person.id))}
                wanted_ids = {regions[code] for code in u.manages}
                for rid, link in current.items():
                    if rid not in wanted_ids:
                        s.delete(link)
                s.add_all(ManagedRegion(person_id=person.id, region_id=rid) for rid in wanted_ids - set(current))
    return write


def _customers(b: _Batch) -> Plan:
    s = b.session
    stored = list(s.scalars(select(Customer)))
    by_name, by_key = {c.name: c for c in stored}, {c.name_key: c for c in stored}
    regions, people = _codes(s, Region), _codes(s, Person)
    b.known("region", regions, "no_region", "no region {value!r} in the database (import regions.csv first)")
    b.known("owner", people, "no_owner", "no user {value!r} in the database (expected a user code; import "
                                         "users.csv first)")
    first: dict[str, tuple[Row, str]] = {}
    for row, c in b.items:
        key = normalize_name(c.name) if c.name else ""
        if key in first:
            b.bad(row, "name", "same_customer", "{value!r} is the same customer as {other!r} on line {line} "
                                                "(names match once normalised)",
                  value=c.name, other=first[key][1], line=first[key][0].line)
        elif key:
            first[key] = (row, c.name)

    def ident(name: str) -> Any:
        """A customer by name: the stored one it matches, else a new one of this file, else None."""
        match = by_name.get(name) or by_key.get(key := normalize_name(name))
        return ("db", match.id) if match else ("new", key) if key in first else None

    if b.has("parent"):
        parents: dict[Any, Any] = {("db", c.id): ("db", c.parent_id) if c.parent_id else None for c in stored}
        for _, c in b.items:
            parents[ident(c.name)] = ident(c.parent) if c.parent else None
        for row, c in b.items:
            if c.parent and parents[ident(c.name)] is None:
                b.bad(row, "parent", "no_parent_customer", "no customer {value!r} in this file or the database "
                                                           "(expected the group's customer name, or empty)",
                      value=c.parent)
        names = {("db", c.id): c.name for c in stored} | {ident(c.name): c.name for _, c in b.items}
        for row, c in b.items:
            if c.parent and (loop := _loop(parents, ident(c.name))):
                b.bad(row, "parent", "loop", "{value!r} makes a loop ({path})", value=c.parent,
                      path=" > ".join(names[n] for n in loop))
    present = {"name", "name_key", "region_id"} | {
        attr for column, attr in (("owner", "owner_id"), ("tier", "tier"), ("industry", "industry"),
                                  ("stage", "stage"), ("last_contact", "last_contact"),
                                  ("next_follow_up", "next_follow_up")) if b.has(column)}

    def write(result: ImportResult, progress: Progress) -> None:
        made: dict[Any, Customer] = {("db", c.id): c for c in stored}
        for _, c in b.items:
            customer = made.get(ident(c.name))
            if customer is not None and "stage" in present and customer.stage != c.stage:
                customer.stage_changed_at = b.now
            made[ident(c.name)] = _upsert(s, result, customer, Customer, {
                "name": c.name, "name_key": normalize_name(c.name), "region_id": regions[c.region],
                "owner_id": people[c.owner] if c.owner else None, "tier": c.tier, "industry": c.industry,
                "stage": c.stage, "last_contact": c.last_contact, "next_follow_up": c.next_follow_up,
                **({} if customer else {"stage_changed_at": b.now, "created_at": b.now})}, present)
            progress(1)
        s.flush()
        if b.has("parent"):
            for _, c in b.items:
                made[ident(c.name)].parent_id = made[ident(c.parent)].id if c.parent else None
    return write


def _goals(b: _Batch) -> Plan:
    s = b.session
    codes = {"user": _codes(s, Person), "team": _codes(s, Team), "region": _codes(s, Region)}
    metrics = [f.key for f in load_fields(session=s) if f.type != FieldType.TEXT]
    stored = {(g.scope, g.code, g.period, g.metric): g for g in s.scalars(select(Goal))}
    for row, g in b.items:
        if g.scope and g.code and g.code not in codes[g.scope]:
            b.bad(row, "code", f"no_{g.scope}_code", "no {scope} {value!r} in the database (expected a {scope} code)",
                  scope=g.scope, value=g.code)
        if g.metric and g.metric not in metrics:
            b.bad(row, "metric", "not_metric", "{value!r} is not a count or money report field "
                                               "(expected one of {metrics})", value=g.metric, metrics=", ".join(metrics))
        if g.target is not None and g.floor is not None and g.floor > g.target:
            b.bad(row, "floor", "floor_above_target", "{value} is above the target {target} "
                                                      "(the floor is the minimum, at most the target)",
                  value=plain(g.floor), target=plain(g.target))
        if g.target is not None and g.stretch is not None and g.stretch < g.target:
            b.bad(row, "stretch", "stretch_below_target", "{value} is below the target {target} "
                                                          "(the stretch goal is at least the target)",
                  value=plain(g.stretch), target=plain(g.target))
    b.unique("code", lambda g: "|".join((g.scope, g.code, g.period, g.metric)) if g.code else "")
    present = {"target", "updated_at"} | {c for c in ("floor", "stretch") if b.has(c)}

    def write(result: ImportResult, progress: Progress) -> None:
        for _, g in b.items:
            values = g.model_dump()
            _upsert(s, result, stored.get((g.scope, g.code, g.period, g.metric)), Goal,
                    {**values, "updated_at": b.now}, present)
            progress(1)
    return write


def _holidays(b: _Batch) -> Plan:
    s = b.session
    stored = {h.day: h for h in s.scalars(select(Holiday))}
    b.unique("date", lambda h: h.date.isoformat() if h.date else "")
    present = {"kind"} | ({"name"} if b.has("name") else set())

    def write(result: ImportResult, progress: Progress) -> None:
        for _, h in b.items:
            _upsert(s, result, stored.get(h.date), Holiday, {"day": h.date, "kind": h.kind, "name": h.name or ""},
                    present)
            progress(1)
    return write


_CHECKS: dict[str, Callable[[_Batch], Plan]] = {
    "regions": _regions, "teams": _teams, "users": _users, "customers": _customers, "goals": _goals,
    "holidays": _holidays,
}


def _check(session: Session, kind: str, header: Sequence[str], rows: Sequence[Row], now: datetime) -> tuple[
        _Batch, Plan | None]:
    """Read every row into its model and run the kind's checks; the plan is None when the header is wrong."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}")
    header_problems = check_header(kind, header)
    batch = _Batch(session, frozenset(header), [], now, header_problems)
    if header_problems:
        return batch, None
    columns = [c for c in COLUMNS[kind] if c in batch.header]
    batch.items = [(row, _parse(MODELS[kind], row, columns, batch.problems)) for row in rows]
    return batch, _CHECKS[kind](batch)


def import_rows(*, session: Session, kind: str, header: Sequence[str], rows: Sequence[Row], now: datetime,
                progress: Progress | None = None) -> ImportResult:
    """Validate every row, then upsert them all; raise ImportProblems (writing nothing) if any is bad."""
    batch, plan = _check(session, kind, header, rows, now)
    if batch.problems or plan is None:
        raise ImportProblems(batch.problems)
    result = ImportResult(kind, rows=len(rows))
    plan(result, progress or (lambda n: None))
    session.flush()
    return result


def import_file(*, session: Session, kind: str, data: bytes, filename: str, now: datetime, actor: Person | str,
                source: str, progress: Callable[[int], Progress] | None = None) -> ImportResult:
    """Import a whole file (CSV, JSON or .xlsx) in the caller's transaction and record it in the audit log.

    Raises ImportProblems, having written nothing, when anything in the file is wrong. `actor` and
    `source` are as for `services.audit.record` (the console: the signed-in person, `console`).
    `progress`, given the number of rows, returns the callback to advance per row written.
    """
    header, rows = read_table(data, filename=filename)
    result = import_rows(session=session, kind=kind, header=header, rows=rows, now=now,
                         progress=progress(len(rows)) if progress else None)
    name = PurePath(filename).name
    audit.record(session, action=audit.Action.IMPORT, actor=actor, source=source, at=now, target=f"{kind} ({name})",
                 after={"kind": kind, "file": name, "rows": result.rows, "created": result.created,
                        "updated": result.updated})
    return result


# ---------------------------------------------------------------------------
# preview: what a file would change, without writing


@dataclass(frozen=True)
class Change:
    """What one row of a file would do: `new` (with the values of its non-empty columns besides the key, as they
    would be stored), `updated` (with each changed column's before and after) or `unchanged`."""

    line: int
    key: str
    status: str
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Preview:
    """A file checked and compared with the database: every row's change and every problem."""

    kind: str
    filename: str
    changes: list[Change]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, status: str) -> int:
        return sum(1 for c in self.changes if c.status == status)

    def lines(self) -> list[str]:
        return [p.format(self.filename) for p in sorted(self.problems, key=lambda p: (p.line, p.column))]


def _flat(column: str, value: Any) -> str:
    """A value as comparable text (the items of a list column in any order)."""
    if column in _LISTS:
        return ";".join(sorted(_split(value) if isinstance(value, str) else value or []))
    return cell_text(value)


def _key(kind: str, get: Callable[[str], Any]) -> str:
    if kind == "customers":
        return normalize_name(str(get("name") or ""))
    return " ".join(_flat(c, get(c)) for c in KEYS[kind])


def preview(*, session: Session, kind: str, data: bytes, filename: str, now: datetime) -> Preview:
    """Check a file as `import_file` would and say what it would change (new, updated, unchanged), writing nothing."""
    name = PurePath(filename).name
    try:
        header, rows = read_table(data, filename=filename)
    except ImportProblems as exc:
        return Preview(kind, name, [], list(exc.problems))
    batch, plan = _check(session, kind, header, rows, now)
    if plan is None:
        return Preview(kind, name, [], batch.problems)
    columns, current_rows = export_rows(session=session, kind=kind, now=now)
    current = {_key(kind, r.get): r for r in current_rows}
    compared = [c for c in columns if c in batch.header and c not in KEYS[kind]]
    changes = []
    for row, item in batch.items:
        stored = current.get(_key(kind, lambda c, item=item: getattr(item, c)))
        # the row as the file names it: a customer by its name as written, not its matching form ("acme")
        key = " ".join(_flat(c, getattr(item, c)) for c in KEYS[kind])
        if stored is None:
            values = {c: _flat(c, getattr(item, c)) for c in compared}
            changes.append(Change(row.line, key, "new", values={c: v for c, v in values.items() if v}))
            continue
        diff = {c: (_flat(c, stored.get(c)), _flat(c, getattr(item, c))) for c in compared}
        diff = {c: pair for c, pair in diff.items() if pair[0] != pair[1]}
        changes.append(Change(row.line, key, "updated" if diff else "unchanged", diff))
    return Preview(kind, name, changes, batch.problems)


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
    fields = load_fields(session=session)
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
