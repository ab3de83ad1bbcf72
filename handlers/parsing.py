"""Parse what people type: daily reports, key actions, command arguments, money and dates.

Everything here is pure: no database, no I/O, no clock ("today" is passed in), and no
user-facing sentences; problems come back as structured values that templates render.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from bot.core.amounts import ChineseNumeralError, parse_count, parse_money
from services.fields import FieldDef, FieldType, Stage, normalize_label, parse_stage

__all__ = [
    "ArgError",
    "ChineseNumeralError",
    "LabelIndex",
    "LeaderboardPeriod",
    "ParsedReport",
    "PastDateError",
    "Problem",
    "ProblemCode",
    "ReportParseError",
    "VisitArgs",
    "command_rest",
    "is_key_actions",
    "is_report",
    "label_index",
    "parse_count",
    "parse_day",
    "parse_future_day",
    "parse_key_actions",
    "parse_leaderboard_args",
    "parse_money",
    "parse_report",
    "parse_thread_key_actions",
    "parse_visit_args",
    "split_command",
]

FieldValue = int | Decimal | str | None
LeaderboardPeriod = Literal["today", "week", "month"]

_MAX_OFFSET_DAYS = 3660


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


# ---------------------------------------------------------------------------
# money and counts: bot/core/amounts.py (shared with the console); parse_money, parse_count and
# ChineseNumeralError are imported above and exported from here as before


# ---------------------------------------------------------------------------
# dates

_ISO_DAY_RE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")
_SHORT_DAY_RE = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})")
_CN_DAY_RE = re.compile(r"(?:([0-9]{4})年)?([0-9]{1,2})月([0-9]{1,2})[日号]?")
_RELATIVE_PAST = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2}
_RELATIVE_FUTURE = {
    "今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2,
    "大后天": 3,
}  # fmt: skip
_OFFSET_RE = re.compile(r"\+([0-9]{1,4})(d|day|days|天|日|w|wk|week|weeks|周|星期)?")


def _calendar_day(norm: str, today: date) -> tuple[date, bool] | None:
    """Return (day, year_given) for an absolute day, None when the text is not one."""
    match = _ISO_DAY_RE.fullmatch(norm)
    if match is not None:
        return date(int(match[1]), int(match[2]), int(match[3])), True
    match = _SHORT_DAY_RE.fullmatch(norm)
    if match is not None:
        return date(today.year, int(match[1]), int(match[2])), False
    match = _CN_DAY_RE.fullmatch(norm)
    if match is not None:
        year = int(match[1]) if match[1] else today.year
        return date(year, int(match[2]), int(match[3])), match[1] is not None
    return None


def _parse_day(text: str, today: date) -> tuple[date, bool]:
    norm = "".join(_nfkc(text).casefold().split())
    offset = _RELATIVE_PAST.get(norm)
    if offset is not None:
        return today - timedelta(days=offset), True
    found = _calendar_day(norm, today)  # date() raises ValueError for 02-30
    if found is None:
        raise ValueError(f"not a date: {text!r}")
    return found


def parse_day(text: str, *, today: date) -> date:
    """Parse a report day: `2026-11-22`, `2026/11/22`, `11-22`, `11/22`, 今天/昨天/前天.

    A day without a year takes today's year; the caller checks for the future.
    """
    return _parse_day(text, today)[0]


class PastDateError(ValueError):
    """A date that must not be in the past is."""


def parse_future_day(text: str, *, today: date) -> date:
    """Parse a follow-up day: `YYYY-MM-DD`, `MM-DD`, `+3d`, `+3`, `+3天`, `+2w`, 明天, 后天.

    `MM-DD` already past this year means next year. Raise PastDateError for a day before
    today, ValueError for anything that is not a day.
    """
    norm = "".join(_nfkc(text).casefold().split())
    offset = _RELATIVE_FUTURE.get(norm)
    if offset is not None:
        return today + timedelta(days=offset)
    match = _OFFSET_RE.fullmatch(norm)
    if match is not None:
        unit = match[2] or "d"
        days = int(match[1]) * (7 if unit in ("w", "wk", "week", "weeks", "周", "星期") else 1)
        if days > _MAX_OFFSET_DAYS:
            raise ValueError(f"too far ahead: {text!r}")
        return today + timedelta(days=days)
    found = _calendar_day(norm, today)
    if found is None:
        raise ValueError(f"not a date: {text!r}")
    day, year_given = found
    if not year_given and day < today:
        try:
            day = day.replace(year=today.year + 1)
        except ValueError as exc:  # 02-29 with no leap year ahead
            raise PastDateError(f"date in the past: {text!r}") from exc
    if day < today:
        raise PastDateError(f"date in the past: {text!r}")
    return day


# ---------------------------------------------------------------------------
# daily reports


class ProblemCode(StrEnum):
    MISSING_HEADER = "missing_header"
    BAD_DATE = "bad_date"
    FUTURE_DATE = "future_date"
    TOO_OLD = "too_old"
    UNKNOWN_LABEL = "unknown_label"
    DUPLICATE_LABEL = "duplicate_label"
    BAD_COUNT = "bad_count"
    CHINESE_NUMERAL = "chinese_numeral"
    BAD_MONEY = "bad_money"
    NO_SEPARATOR = "no_separator"
    EMPTY_REPORT = "empty_report"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a report, for a template to explain.

    `field` is the field key, `label` what the user typed, `value` the value as typed,
    `example` a right value for the field (or the date), `hint` a suggestion: the arabic
    number for `chinese_numeral`, the closest known label for `unknown_label`.
    """

    code: ProblemCode
    line: int | None
    field: str | None = None
    label: str | None = None
    value: str | None = None
    example: str | None = None
    hint: str | None = None


class ReportParseError(ValueError):
    """A report that cannot be read; `problems` lists every problem, in line order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(f"{p.code}@{p.line}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class ParsedReport:
    day: date
    values: dict[str, FieldValue]
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelIndex:
    """Normalised label -> field, built once per field set."""

    fields: tuple[FieldDef, ...]
    by_label: dict[str, FieldDef]
    display: dict[str, str]  # normalised label -> label as defined, for hints
    candidates: tuple[str, ...]  # normalised labels, for difflib
    keys: tuple[str, ...]  # field keys in order


def _build_index(fields: tuple[FieldDef, ...]) -> LabelIndex:
    by_label: dict[str, FieldDef] = {}
    display: dict[str, str] = {}
    # labels first so an admin's label never loses to another field's key
    for fdef in fields:
        for name in fdef.all_labels():
            norm = normalize_label(name)
            if norm and norm not in by_label:
                by_label[norm] = fdef
                display[norm] = name
    for fdef in fields:
        by_label.setdefault(normalize_label(fdef.key), fdef)
    return LabelIndex(fields, by_label, display, tuple(display), tuple(f.key for f in fields))


_build_index_cached = lru_cache(maxsize=64)(_build_index)
# identity fast path: hashing a tuple of dataclasses on every report costs more than parsing a line
_last_index: list[tuple[tuple[FieldDef, ...], LabelIndex]] = []


def label_index(fields: Sequence[FieldDef]) -> LabelIndex:
    """Return the label index of a field set, cached by the fields."""
    if _last_index and fields is _last_index[0][0]:
        return _last_index[0][1]
    index = _build_index_cached(tuple(fields))
    if isinstance(fields, tuple):
        _last_index[:] = [(fields, index)]
    return index


_HEADER_WORDS = ("日报", "daily report")
_HEADER_SEPARATORS = " :-—–~([【<《"
_HEADER_CLOSERS = " )]】>》"
_SEPARATOR_RE = re.compile(r"[:：﹕]")
_BULLET_RE = re.compile(r"^(?:[-*•·]|[0-9]{1,2}[.)、])\s*")
_NIL_WORDS = frozenset({"无", "没有", "暂无", "none", "nil", "n/a"})
_COUNT_EXAMPLE = "3"
_MONEY_EXAMPLE_ZH = "12.5万"
_MONEY_EXAMPLE_EN = "125,000"


def _first_line(text: str) -> tuple[int, str] | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            return number, line
    return None


def is_report(text: str) -> bool:
    """Tell whether a message is a daily report (first line starts with 日报 / daily report)."""
    first = _first_line(text)
    return first is not None and normalize_label(first[1]).startswith(_HEADER_WORDS)


def _header_rest(line: str) -> str | None:
    """Return what follows the header word on the first line, or None if it is no header."""
    norm = normalize_label(line)
    for word in _HEADER_WORDS:
        if norm.startswith(word):
            return norm[len(word) :].lstrip(_HEADER_SEPARATORS).rstrip(_HEADER_CLOSERS)
    return None


def _money_example(label: str) -> str:
    return _MONEY_EXAMPLE_ZH if _has_cjk(label) else _MONEY_EXAMPLE_EN


def _match_label(index: LabelIndex, raw_label: str) -> FieldDef | None:
    norm = normalize_label(raw_label)
    fdef = index.by_label.get(norm)
    if fdef is None and norm and not norm[0].isalpha():
        fdef = index.by_label.get(_BULLET_RE.sub("", norm))
    return fdef


def _closest_label(index: LabelIndex, raw_label: str) -> str | None:
    norm = _BULLET_RE.sub("", normalize_label(raw_label))
    close = difflib.get_close_matches(norm, index.candidates, n=1, cutoff=0.5)
    return index.display[close[0]] if close else None


def _prefix_label(index: LabelIndex, line: str) -> tuple[FieldDef, str, str] | None:
    """Find a known label at the start of a line with no separator: `拜访 5`."""
    norm = normalize_label(line)
    best: str | None = None
    for label in index.by_label:
        if norm.startswith(label) and (best is None or len(label) > len(best)):
            best = label
    if best is None:
        return None
    rest = norm[len(best) :].strip()
    return index.by_label[best], index.display.get(best, best), rest


def _read_day(rest: str, line_no: int, today: date, max_age_days: int, problems: list[Problem]) -> date:
    if not rest:
        return today
    try:
        day, year_given = _parse_day(rest, today)
    except ValueError:
        problems.append(Problem(ProblemCode.BAD_DATE, line_no, value=rest, example=today.isoformat()))
        return today
    if day > today and not year_given:
        # 日报 12-31 sent on 1 January means last year
        try:
            day = day.replace(year=day.year - 1)
        except ValueError:
            pass
    if day > today:
        problems.append(Problem(ProblemCode.FUTURE_DATE, line_no, value=rest, example=today.isoformat()))
    elif (today - day).days > max_age_days:
        problems.append(Problem(ProblemCode.TOO_OLD, line_no, value=rest, example=today.isoformat()))
    return day


def _read_value(
    fdef: FieldDef, raw_label: str, value: str, line_no: int, problems: list[Problem]
) -> FieldValue:
    if not value:
        return None
    if fdef.type is FieldType.TEXT:
        return value
    if fdef.type is FieldType.COUNT and value.isdigit() and value.isascii() and len(value) < 10:
        return int(value)  # the common case, without the regex
    if value.casefold() in _NIL_WORDS:
        return 0 if fdef.type is FieldType.COUNT else Decimal("0.00")
    if fdef.type is FieldType.MONEY:
        try:
            return parse_money(value)
        except ValueError:
            problems.append(
                Problem(ProblemCode.BAD_MONEY, line_no, fdef.key, raw_label, value, _money_example(raw_label))
            )
            return None
    try:
        return parse_count(value)
    except ChineseNumeralError as exc:
        hint = None if exc.value is None else str(exc.value)
        problems.append(
            Problem(ProblemCode.CHINESE_NUMERAL, line_no, fdef.key, raw_label, value, _COUNT_EXAMPLE, hint)
        )
    except ValueError:
        problems.append(Problem(ProblemCode.BAD_COUNT, line_no, fdef.key, raw_label, value, _COUNT_EXAMPLE))
    return None


def parse_report(text: str, *, fields: Sequence[FieldDef], today: date, max_age_days: int) -> ParsedReport:
    """Parse a daily report; raise ReportParseError listing every problem found.

    `values` has every field of the set (None when absent or empty); `lines` maps each field
    given to its 1-based line number.
    """
    index = label_index(fields)
    problems: list[Problem] = []
    lines = text.splitlines()
    values: dict[str, FieldValue] = dict.fromkeys(index.keys)
    found: dict[str, int] = {}

    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    day = today
    header_line = start + 1
    rest = _header_rest(lines[start]) if start < len(lines) else None
    if rest is None:
        problems.append(Problem(ProblemCode.MISSING_HEADER, header_line if lines else 1))
        if start < len(lines) and _SEPARATOR_RE.search(lines[start]) is None:
            start += 1  # the would-be header line; missing_header already names it
    else:
        day = _read_day(rest, header_line, today, max_age_days, problems)
        start += 1
    header_problems = len(problems)

    text_key: str | None = None  # the text field whose value continues on the next lines
    text_parts: list[str] = []
    texts: dict[str, list[str]] = {}

    for offset, line in enumerate(lines[start:]):
        line_no = start + offset + 1
        stripped = line.strip()
        if not stripped:
            if text_key is not None:
                text_parts.append("")
            continue
        sep = _SEPARATOR_RE.search(stripped)
        fdef = _match_label(index, stripped[: sep.start()]) if sep is not None else None
        if fdef is None:
            if text_key is not None:
                text_parts.append(stripped)
                continue
            if sep is not None:
                raw_label = stripped[: sep.start()].strip()
                problems.append(
                    Problem(
                        ProblemCode.UNKNOWN_LABEL,
                        line_no,
                        label=raw_label,
                        value=stripped[sep.end() :].strip(),
                        hint=_closest_label(index, raw_label),
                    )
                )
                continue
            prefix = _prefix_label(index, stripped)
            if prefix is None:
                problems.append(Problem(ProblemCode.NO_SEPARATOR, line_no, value=stripped))
            else:
                pdef, plabel, pvalue = prefix
                example = {
                    FieldType.COUNT: _COUNT_EXAMPLE,
                    FieldType.MONEY: _money_example(plabel),
                    FieldType.TEXT: None,
                }[pdef.type]
                problems.append(
                    Problem(ProblemCode.NO_SEPARATOR, line_no, pdef.key, plabel, pvalue or None, example)
                )
            continue
        assert sep is not None
        text_key = None
        raw_label = stripped[: sep.start()].strip()
        value = stripped[sep.end() :].strip()
        if fdef.key in found:
            problems.append(Problem(ProblemCode.DUPLICATE_LABEL, line_no, fdef.key, raw_label, value or None))
            continue
        found[fdef.key] = line_no
        if fdef.type is FieldType.TEXT:
            text_key = fdef.key
            text_parts = texts[text_key] = [value]
        else:
            values[fdef.key] = _read_value(fdef, raw_label, value, line_no, problems)
    for key, parts in texts.items():
        values[key] = "\n".join(parts).strip() or None

    if not found and len(problems) == header_problems and rest is not None:
        problems.append(Problem(ProblemCode.EMPTY_REPORT, header_line))
    if problems:
        raise ReportParseError(problems)
    return ParsedReport(day, values, found)


# ---------------------------------------------------------------------------
# today's three key actions

_KEY_ACTION_WORDS = ("今日三件事", "今天三件事", "三件事", "today")
_NUMBERING_RE = re.compile(
    r"""^(?:
        [(（]?[0-9０-９]{1,2}(?:[.．)）、:：](?![0-9０-９])|\s*[)）])
      | [①-⑳]
      | [一二三四五六七八九十][、.．]
      | (?:[-*•]\s*)?\[[ xX]?\]
      | [-*•·●▪◦]
    )\s*""",
    re.VERBOSE,
)


def _key_action_word(first: str) -> str | None:
    norm = normalize_label(first)
    for word in _KEY_ACTION_WORDS:
        if norm.startswith(word):
            after = norm[len(word) : len(word) + 1]
            if word == "today" and after and (after.isalnum() or after == "_"):
                return None  # todays, today123
            return word
    return None


def is_key_actions(text: str) -> bool:
    """Tell whether a message gives today's key actions (first line 今日三件事 / 三件事 / today)."""
    first = _first_line(text)
    return first is not None and _key_action_word(first[1]) is not None


def _strip_numbering(line: str) -> str:
    return _NUMBERING_RE.sub("", line.strip(), count=1).strip()


def parse_thread_key_actions(text: str) -> list[str]:
    """Return one action per non-empty line, numbering and bullets removed."""
    actions: list[str] = []
    for line in text.splitlines():
        action = _strip_numbering(line)
        if action:
            actions.append(action)
    return actions


def parse_key_actions(text: str) -> list[str]:
    """Return the actions of a key-actions message: the rest of the first line, then a line each."""
    first = _first_line(text)
    if first is None:
        return []
    line_no, line = first
    word = _key_action_word(line)
    if word is None:
        return parse_thread_key_actions(text)
    # the keyword is matched on the normalised line; find where it ends in the raw one
    raw = line.strip()
    cut = len(word)
    while cut <= len(raw) and normalize_label(raw[:cut]) != word:
        cut += 1
    rest = raw[cut:]
    sep = _SEPARATOR_RE.search(rest)
    # `今日三件事：` or `Today's key actions:`, but not the colon of `三件事 1. 10:00 见客户`
    if sep is not None and sep.start() < 40 and not any(ch.isdigit() for ch in rest[: sep.start()]):
        rest = rest[sep.end() :]
    elif word == "today" and rest.lstrip().startswith(("'s", "’s")):
        rest = ""
    actions = []
    head = _strip_numbering(rest.lstrip(" -—–"))
    if head:
        actions.append(head)
    remaining = "\n".join(text.splitlines()[line_no:])
    return actions + parse_thread_key_actions(remaining)


# ---------------------------------------------------------------------------
# commands

_QUOTE_CLOSERS: dict[str, str] = {
    '"': '"”“',
    "“": '”“"',
    "”": '”“"',
    "'": "'’‘",
    "‘": "’‘'",
    "’": "’‘'",
    "「": "」",
    "『": "』",
    "«": "»",
    "＂": '＂"',
    "＇": "＇'",
}
_QUOTE_OPEN_AFTER = "=:："


def _shell_split(text: str) -> list[str] | None:
    """Split on whitespace honouring quotes; None when a quote is left open."""
    tokens: list[str] = []
    current: list[str] = []
    prev = ""  # last raw character of the current token
    in_token = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if in_token:
                tokens.append("".join(current))
                current = []
                in_token = False
            prev = ""
            i += 1
            continue
        closers = _QUOTE_CLOSERS.get(ch)
        if closers is not None and (not in_token or prev in _QUOTE_OPEN_AFTER):
            end = i + 1
            while end < n and text[end] not in closers:
                end += 1
            if end >= n:
                return None
            current.append(text[i + 1 : end])
            in_token = True
            prev = text[end]
            i = end + 1
            continue
        current.append(ch)
        in_token = True
        prev = ch
        i += 1
    if in_token:
        tokens.append("".join(current))
    return tokens


def _command_parts(text: str) -> tuple[str, str] | None:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "/／":
        return None
    body = stripped[1:]
    end = 0
    while end < len(body) and not body[end].isspace():
        end += 1
    name = "".join(_nfkc(body[:end]).casefold().split())  # NFKC may turn ¯ into a space
    if not name:
        return None
    return name, body[end:]


def split_command(text: str) -> tuple[str, list[str]] | None:
    """Split `/name args...` into the lower-cased name and its arguments; None if no command.

    Arguments may be quoted with straight, curly or corner quotes; an unbalanced quote makes
    it fall back to a plain whitespace split. Never raises.
    """
    parts = _command_parts(text)
    if parts is None:
        return None
    name, rest = parts
    args = _shell_split(rest)
    if args is None:
        args = rest.split()
    return name, args


def command_rest(text: str) -> str:
    """Return everything after the command word, stripped ("" when text is no command)."""
    parts = _command_parts(text)
    return "" if parts is None else parts[1].strip()


@dataclass(eq=False)
class ArgError(Exception):
    """A command argument that cannot be used; codes: missing_customer, unknown_stage,
    bad_date, past_date, duplicate_arg, conflicting_period."""

    code: str
    arg: str | None = None
    value: str | None = None
    example: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.arg}={self.value!r}"


@dataclass(frozen=True)
class VisitArgs:
    customer: str
    stage: Stage | None
    next_day: date | None
    note: str


_VISIT_KEYS: dict[str, str] = {
    "stage": "stage",
    "阶段": "stage",
    "next": "next",
    "下次": "next",
    "下次跟进": "next",
    "跟进": "next",
    "followup": "next",
    "follow-up": "next",
    "note": "note",
    "备注": "note",
}
_KEY_ARG_RE = re.compile(r"([^\s=:：]+)\s*[=:：]\s*(.*)", re.DOTALL)
_STAGE_EXAMPLE_ZH = "线索, 需求挖掘, 方案设计, 商务谈判, 签约, 售后维护, 丢单"
_STAGE_EXAMPLE_EN = "lead, needs, proposal, negotiation, signed, after-sale, lost"


def _key_arg(token: str) -> tuple[str, str, str] | None:
    """Return (canonical key, key as typed, value) for `stage=x`, `阶段：x`, else None."""
    match = _KEY_ARG_RE.fullmatch(token)
    if match is None:
        return None
    key = _VISIT_KEYS.get(_nfkc(match[1]).casefold())
    if key is None:
        return None
    return key, match[1], match[2].strip()


def parse_visit_args(args: list[str], *, today: date) -> VisitArgs:
    """Read `/visit CUSTOMER [stage=S] [next=DATE] [note...]`; raise ArgError when unusable."""
    customer: str | None = None
    stage: Stage | None = None
    next_day: date | None = None
    seen: set[str] = set()
    note: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        keyed = _key_arg(token)
        if keyed is None:
            if customer is None and token.strip():
                customer = token.strip()
            elif token.strip():
                note.append(token.strip())
            continue
        key, typed, value = keyed
        if not value and key != "note" and i < len(args) and _key_arg(args[i]) is None:
            value = args[i].strip()  # 阶段： 签约
            i += 1
        zh = _has_cjk(typed)
        if key == "note":
            if value:
                note.append(value)
            continue
        if key in seen:
            raise ArgError("duplicate_arg", key, value, None)
        seen.add(key)
        if key == "stage":
            stage = parse_stage(value) if value else None
            if stage is None:
                raise ArgError(
                    "unknown_stage", "stage", value, _STAGE_EXAMPLE_ZH if zh else _STAGE_EXAMPLE_EN
                )
        else:
            example = "明天" if zh else "+3d"
            try:
                next_day = parse_future_day(value, today=today)
            except PastDateError:
                raise ArgError("past_date", "next", value, example) from None
            except ValueError:
                raise ArgError("bad_date", "next", value, example) from None
    if customer is None:
        raise ArgError("missing_customer", "customer", None, "远航集团")
    return VisitArgs(customer, stage, next_day, " ".join(note))


_PERIOD_WORDS: dict[str, LeaderboardPeriod] = {
    "today": "today", "今天": "today", "今日": "today", "day": "today", "日": "today",
    "week": "week", "本周": "week", "这周": "week", "周": "week", "this week": "week",
    "month": "month", "本月": "month", "这个月": "month", "月": "month", "this month": "month",
}  # fmt: skip


def parse_leaderboard_args(args: Sequence[str]) -> tuple[LeaderboardPeriod, str | None]:
    """Read `/leaderboard [today|week|month] [METRIC]` in any order; the period defaults to today."""
    period: LeaderboardPeriod | None = None
    metric: list[str] = []
    for token in args:
        norm = normalize_label(token)
        if not norm or norm == "this":
            continue
        found = _PERIOD_WORDS.get(norm)
        if found is None:
            metric.append(token.strip())
            continue
        if period is not None and period != found:
            raise ArgError("conflicting_period", "period", token, "week")
        period = found
    return period or "today", (" ".join(metric) or None)
