"""Fuzz the report parser and every command's arguments: only user-facing replies, nothing half-written."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Action, Inbound, InboundKind
from handlers.parsing import ReportParseError, parse_report
from models import DailyReport, InboundEvent, OutboxMessage, UnreadReport
from services.fields import DEFAULT_FIELDS
from tests.support.chat import Chat
from tests.support.org import build_org

# Short runs (the default suite): a few hypothesis examples plus plain seeded random cases, which
# cost a fraction of a hypothesis example to make; the soak runs are all hypothesis.
SHORT = {"parser": 300, "parser_random": 2000, "dispatch": 40, "dispatch_random": 120}
SOAK = {"parser": 100_000, "dispatch": 100_000}
TODAY = date(2026, 11, 23)
USERS = ("zhang", "li", "wang", "bob", "mgr_east", "mgr_north", "admin", "nobody")

LABELS = [label for f in DEFAULT_FIELDS for label in f.all_labels()]
HEADERS = ["日报", "daily report", "Daily Report", "ＤＡＩＬＹ ＲＥＰＯＲＴ", "日报 昨天", "daily report yesterday",
           "日报 2026-11-22", "日报 11-22", "日报 11/22", "日报 2026-11-30", "日报 1999-01-01", "日报 13-45",
           "日报 2026-02-30", "daily report 99999-1-1"]
SEPARATORS = [":", "：", " : ", "", "=", " "]
MONEY = ["125000", "125,000", "¥125,000", "125000元", "12.5万", "1.2亿", "125k", "1.25m", "-5", "1e309",
         "9" * 40, "NaN", "Infinity", "0x10", "１２５", "12..5万", "万", "¥", "3万5", "1,2,3", "0.000001"]
COMMANDS = ["/visit", "/拜访", "/collab", "/协作", "/goal", "/目标", "/leaderboard", "/排行", "/customer", "/客户",
            "/template", "/模板", "/field", "/字段", "/report", "/日报", "/followups", "/help", "/nosuch", "/"]
WORDS = ["远航集团", "\"远航集团\"", "'远航 集团'", "\"unterminated", "stage=lead", "stage=签约", "阶段=丢单",
         "stage=", "next=2026-12-01", "next=+3d", "next=明天", "下次=tomorrow", "next=02-30", "next=+99999d",
         "next=yesterday", "set", "split", "分解", "user", "team", "region", "zhang", "sh1", "east", "nosuch",
         "2026", "2026-11", "2026-Q4", "2026-W49", "2026-Q5", "2026-W60", "0000-00", "signed_amount", "visits",
         "nosuch_metric", "500000", "12.5万", "-1", "floor=1", "floor=abc", "by=history", "by=even", "by=x",
         "today", "week", "month", "本周", "list", "show", "edit", "preview", "history", "rollback", "help",
         "report_reply", "../../etc/passwd", "{{ 7*7 }}", "{% for %}", "add", "alias", "rename", "count",
         "money", "text", "=", "==", "\"\"", "\\", "\u200b", "🙂", "\x00", "DROP TABLE person;--", "%s", "1" * 300]
ACTIONS = ["collab_approve", "collab_reject", "nudge_done", "nudge_snooze", "goal_apply", "nosuch_action", ""]
ACTION_VALUES = ["1", "0", "-1", "999999999", "99999999999999999999999", "abc", "", "1.5", " 1", "１", "1;2",
                 "\x00", "🙂" * 50]

_ids = itertools.count(1)
# Characters people really type, plus the awkward ones; full-Unicode text is slow to generate.
ALPHABET = st.sampled_from(list("0123456789 .,:：=-+/¥￥万亿kKmM元个日报拜访签约回款abcxyz\t\"'（）\u3000\u200b🙂\x00"))


def txt(max_size: int) -> st.SearchStrategy[str]:
    return st.text(ALPHABET, max_size=max_size)


def line() -> st.SearchStrategy[str]:
    value = st.one_of(st.sampled_from(MONEY), st.integers(-10**12, 10**12).map(str), txt(30))
    label = st.one_of(st.sampled_from(LABELS), txt(12))
    return st.tuples(label, st.sampled_from(SEPARATORS), value).map(lambda t: f"{t[0]}{t[1]}{t[2]}")


def report_text() -> st.SearchStrategy[str]:
    header = st.one_of(st.sampled_from(HEADERS), txt(20).map(lambda t: "日报" + t))
    body = st.lists(st.one_of(line(), txt(40)), max_size=12)
    return st.tuples(header, body).map(lambda t: "\n".join([t[0], *t[1]]))


def command_text() -> st.SearchStrategy[str]:
    arg = st.one_of(st.sampled_from(WORDS), txt(15))
    return st.tuples(st.sampled_from(COMMANDS), st.lists(arg, max_size=8)).map(
        lambda t: " ".join([t[0], *t[1]]))


def inbound() -> st.SearchStrategy[tuple[str, str, Any]]:
    """(user, kind, payload): a report, a command, free text, or a button press."""
    user = st.sampled_from(USERS)
    return st.one_of(
        st.tuples(user, st.just("message"), report_text()),
        st.tuples(user, st.just("command"), command_text()),
        st.tuples(user, st.just("message"), txt(200)),
        st.tuples(user, st.just("action"), st.tuples(st.sampled_from(ACTIONS),
                                                     st.one_of(st.sampled_from(ACTION_VALUES),
                                                               txt(20)))),
    )


CHARS = "0123456789 .,:：=-+/¥￥万亿kKmM元个日报拜访签约回款abcxyz\t\"'（）\u3000\u200b🙂\x00"


def rtxt(rng: random.Random, max_size: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randrange(max_size + 1)))


def random_report(rng: random.Random) -> str:
    """The same shapes as report_text(), from a plain seeded generator."""
    lines = [rng.choice(HEADERS) if rng.random() < 0.8 else "日报" + rtxt(rng, 20)]
    for _ in range(rng.randrange(13)):
        if rng.random() < 0.2:
            lines.append(rtxt(rng, 40))
            continue
        label = rng.choice(LABELS) if rng.random() < 0.8 else rtxt(rng, 12)
        pick = rng.random()
        value = (rng.choice(MONEY) if pick < 0.4 else str(rng.randint(-10**12, 10**12)) if pick < 0.7
                 else rtxt(rng, 30))
        lines.append(f"{label}{rng.choice(SEPARATORS)}{value}")
    return "\n".join(lines)


def random_inbound(rng: random.Random) -> tuple[str, str, Any]:
    user = rng.choice(USERS)
    pick = rng.random()
    if pick < 0.3:
        return user, "message", random_report(rng)
    if pick < 0.7:
        args = [rng.choice(WORDS) if rng.random() < 0.7 else rtxt(rng, 15) for _ in range(rng.randrange(9))]
        return user, "command", " ".join([rng.choice(COMMANDS), *args])
    if pick < 0.8:
        return user, "message", rtxt(rng, 200)
    value = rng.choice(ACTION_VALUES) if rng.random() < 0.7 else rtxt(rng, 20)
    return user, "action", (rng.choice(ACTIONS), value)


def check_parser(text: str) -> None:
    try:
        parsed = parse_report(text, fields=DEFAULT_FIELDS, today=TODAY, max_age_days=7)
    except ReportParseError as err:
        assert err.problems, "a refused report names at least one problem"
        return
    assert parsed is not None


@pytest.mark.parametrize("examples", [SHORT["parser"]])
def test_report_parser_never_crashes(examples: int) -> None:
    run = settings(max_examples=examples, deadline=None, database=None, derandomize=True)(
        given(report_text())(check_parser))
    run()
    rng = random.Random(20261123)
    for _ in range(SHORT["parser_random"]):
        check_parser(random_report(rng))


@pytest.mark.soak
def test_report_parser_never_crashes_soak() -> None:
    settings(max_examples=SOAK["parser"], deadline=None, database=None)(given(report_text())(check_parser))()


def _reports(db: Database) -> list[tuple[Any, ...]]:
    with db.unit_of_work() as s:
        return [(r.person_id, r.day, r.visits, r.signed_amount, r.collected_amount, r.plan, r.raw_text)
                for r in s.scalars(select(DailyReport).order_by(DailyReport.id))]


def _count(db: Database, model: Any) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture()
def chat(settings: Settings, db: Database, clock: FixedClock) -> Iterator[Chat]:
    build_org(db)
    yield Chat(settings, db, clock)


def dispatch_one(chat: Chat, db: Database, case: tuple[str, str, Any]) -> None:
    user, kind, payload = case
    before_events = _count(db, InboundEvent)
    before_reports = _reports(db)
    before_unread = _count(db, UnreadReport)
    event = f"fz{next(_ids)}"
    if kind == "action":
        action_id, value = payload
        inbound = Inbound("console", event, user, InboundKind.ACTION, action=Action(action_id, value))
    else:
        inbound = Inbound("console", event, user, InboundKind(kind), text=payload)
    result = chat.app.dispatch(inbound)
    assert result.route != "error", f"unexpected exception for {case!r}"
    assert not result.duplicate
    assert _count(db, InboundEvent) == before_events + 1
    assert result.keys, f"no reply for {case!r}"
    with db.unit_of_work() as s:
        stored = set(s.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(result.keys))))
    assert stored == set(result.keys)
    if _count(db, UnreadReport) > before_unread:  # refused as unreadable: kept raw, nothing else touched
        assert _reports(db) == before_reports, f"a refused report changed stored reports: {payload!r}"
    if user == "nobody":
        assert _reports(db) == before_reports


def _fuzz_dispatch(chat: Chat, db: Database, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=examples < 10_000,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(inbound())
    def run(case: tuple[str, str, Any]) -> None:
        dispatch_one(chat, db, case)

    run()


def test_every_command_and_button_answers_in_words(chat: Chat, db: Database) -> None:
    _fuzz_dispatch(chat, db, SHORT["dispatch"])
    rng = random.Random(7)
    for _ in range(SHORT["dispatch_random"]):
        dispatch_one(chat, db, random_inbound(rng))


def test_a_huge_count_in_a_report_is_answered(chat: Chat, db: Database) -> None:
    """Found by the fuzzer: a count above the sandbox's argument cap broke the reply template."""
    dispatch_one(chat, db, ("zhang", "message", "日报\n拜访:125000"))


@pytest.mark.soak
def test_every_command_and_button_answers_in_words_soak(chat: Chat, db: Database) -> None:
    _fuzz_dispatch(chat, db, SOAK["dispatch"])


def test_a_nul_character_is_answered(chat: Chat, db: Database) -> None:
    """Found by the fuzzer on PostgreSQL, which cannot store NUL in text."""
    dispatch_one(chat, db, ("zhang", "message", "日报\n拜访:\x00\n签约: 1万"))
    dispatch_one(chat, db, ("zhang", "command", "/visit 远航\x00集团"))
    dispatch_one(chat, db, ("zhang", "action", ("nudge_done", "1\x00")))
