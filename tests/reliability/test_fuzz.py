"""Fuzz the report parser and every command's arguments: only user-facing replies, nothing half-written."""

from __future__ import annotations

import itertools
import logging
import os
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
from bot.wiring import build_router
from handlers.parsing import ReportParseError, parse_report
from models import DailyReport, InboundEvent, OutboxMessage, UnreadReport
from services.fields import DEFAULT_FIELDS
from services.templates import template_names
from tests.support.chat import Chat, platform_settings
from tests.support.org import build_org

# Short runs (the default suite): a few hypothesis examples plus plain seeded random cases, which
# cost a fraction of a hypothesis example to make; the soak runs are all hypothesis.
SHORT = {"parser": 300, "parser_random": 2000, "dispatch": 40, "dispatch_random": 120}
# Soak sizes; the environment may shrink one to run it in shards (each with its own --hypothesis-seed).
SOAK = {"parser": int(os.environ.get("SALESBOT_SOAK_PARSER", "100000")),
        "dispatch": int(os.environ.get("SALESBOT_SOAK_DISPATCH", "100000"))}
TODAY = date(2026, 11, 23)
# The same people as seen by each platform (tests/support/org.py), plus someone outside the organisation.
USERS = ("zhang", "li", "wang", "bob", "mgr_east", "mgr_north", "admin", "nobody")
SLACK_USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH", "U_ADMIN", "U_NOBODY")
WECOM_USERS = ("zhangwei", "lina", "wangfang", "chenjl", "liujl", "admin", "nobody")
PLATFORM_USERS = {"console": USERS, "slack": SLACK_USERS, "wecom": WECOM_USERS}
OUTSIDERS = {"nobody", "U_NOBODY"}
MORNING_TS = "1700000000.000100"  # the morning prompt's Slack thread, seeded by the chat fixture
THREADS = [MORNING_TS, "1699999999.000001", "", "x"]

LABELS = [label for f in DEFAULT_FIELDS for label in f.all_labels()]
HEADERS = ["日报", "daily report", "Daily Report", "ＤＡＩＬＹ ＲＥＰＯＲＴ", "日报 昨天", "daily report yesterday",
           "日报 2026-11-22", "日报 11-22", "日报 11/22", "日报 2026-11-30", "日报 1999-01-01", "日报 13-45",
           "日报 2026-02-30", "daily report 99999-1-1"]
SEPARATORS = [":", "：", " : ", "", "=", " "]
MONEY = ["125000", "125,000", "¥125,000", "125000元", "12.5万", "1.2亿", "125k", "1.25m", "-5", "1e309",
         "9" * 40, "NaN", "Infinity", "0x10", "１２５", "12..5万", "万", "¥", "3万5", "1,2,3", "0.000001"]
# Every command name the router knows (so a new command is fuzzed without editing this file), plus odd ones.
ROUTER = build_router()
COMMANDS = [*sorted("/" + name for name in ROUTER.command_names()),
            "／拜访", "/VISIT", " /goal", "/nosuch", "/"]
WORDS = ["远航集团", "\"远航集团\"", "'远航 集团'", "\"unterminated", "stage=lead", "stage=签约", "阶段=丢单",
         "stage=", "next=2026-12-01", "next=+3d", "next=明天", "下次=tomorrow", "next=02-30", "next=+99999d",
         "next=yesterday", "set", "split", "分解", "user", "team", "region", "zhang", "sh1", "east", "nosuch",
         "2026", "2026-11", "2026-Q4", "2026-W49", "2026-Q5", "2026-W60", "0000-00", "signed_amount", "visits",
         "nosuch_metric", "500000", "12.5万", "-1", "floor=1", "floor=abc", "by=history", "by=even", "by=x",
         "today", "week", "month", "本周", "list", "show", "edit", "preview", "history", "rollback", "help",
         "report_reply", "../../etc/passwd", "{{ 7*7 }}", "{% for %}", "add", "alias", "rename", "count",
         "money", "text", "=", "==", "\"\"", "\\", "\u200b", "🙂", "\x00", "DROP TABLE person;--", "%s", "1" * 300,
         # /goal
         "设定", "分解", "个人", "团队", "大区", "mgr_east", "gz1", "n1", "south", "north", "2026-12", "2027",
         "2026-W48", "2026年11月", "本月", "下月", "stretch=900000", "冲刺=1亿", "保底：10万", "按=历史", "by=均分",
         # /leaderboard, /visit, /collab
         "this", "本月", "周", "签约", "回款", "拜访", "阶段：签约", "stage=lost", "stage=after-sale", "note=带样品",
         "备注：", "跟进=后天", "next=2026-11-23", "「远航 集团」", "“远航集团”", "wang", "reason",
         # /template
         "ls", "列表", "查看", "编辑", "save", "保存", "预览", "历史", "回滚", "v0", "v1", "v2", "v-1", "v99999999999", "9" * 25,
         "zh-CN", "zh", "en", "all", "both", "fr", *template_names()[::3],
         # /field
         "new", "添加", "别名", "改名", "number", "金额", "文本", "calls", "zh:电话", "en:calls", "zh:", "cn:拜访",
         "en:\"phone calls\"", "日报", "today", "user_code", "extra", "0", "3.5", "key_actions", "a" * 70]
# A body after the first line: `/template save NAME` stores it, other commands should ignore it.
BODIES = ["Hi {{ name }}", "{{ name.__class__ }}", "{{ nope }}", "{% for i in range(99999999) %}x{% endfor %}",
          "{{ 'a' * 999999999 }}", "{{ 1/0 }}", "{% if %}", "{{ name|nosuch }}", "{% include 'help' %}",
          "{{ self }}", "{{ range(10)|list }}", "{{ (1, 2)[5] }}", "{{ 10**10**10 }}", "{% macro m() %}{% endmacro %}",
          "{{ m }}", "{{ lipsum() }}", "{{ cycler }}", "{{ '%s'|format(1) }}", "{{ name[:2] }}", "", "  ", "x" * 5000]
ACTIONS = sorted(route.action_id for route in ROUTER.routes if route.action_id) + ["nosuch_action", ""]
ACTION_VALUES = ["1", "0", "-1", "999999999", "99999999999999999999999", "abc", "", "1.5", " 1", "１", "1;2",
                 "\x00", "🙂" * 50]
FORMS = sorted(route.form_id for route in ROUTER.routes if route.form_id) + ["nosuch_form"]
FORM_KEYS = [f.key for f in DEFAULT_FIELDS] + ["body", "nosuch", ""]
FORM_METAS = ["2026-11-23", "2026-11-22", "2026-11-16", "2026-11-24", "1999-01-01", "9999-12-31", "2026-02-30", "",
              "x", *(f"{name}|{locale}" for name in ("help", "report_reply", "leaderboard", "nosuch", "")
                     for locale in ("zh-CN", "en", "fr", "")), "help", "|", "help|en|x"]

_ids = itertools.count(1)
# Characters people really type, plus the awkward ones; full-Unicode text is slow to generate.
CHARS = "0123456789 .,:：=-+/¥￥万亿kKmM元个日报拜访签约回款abcxyz\t\n\"'（）「」|{}%\u3000\u200b🙂\x00"
ALPHABET = st.sampled_from(list(CHARS))


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


KEY_ACTION_HEADERS = ["今日三件事", "今天三件事：", "三件事", "today", "Today:", "todays", "today123", ""]
KEY_ACTION_LINES = ["1. 见客户", "2、写方案", "- call ACME", "* [x] done", "① 拜访", "一、报价", "", "   ", "1)", "🙂" * 100]


def key_actions_text() -> st.SearchStrategy[str]:
    """Today's three key actions, or a reply in the morning prompt's thread."""
    return st.tuples(st.sampled_from(KEY_ACTION_HEADERS),
                     st.lists(st.one_of(st.sampled_from(KEY_ACTION_LINES), txt(30)), max_size=6)).map(
        lambda t: "\n".join([t[0], *t[1]]) if t[0] else "\n".join(t[1]))


def command_text() -> st.SearchStrategy[str]:
    arg = st.one_of(st.sampled_from(WORDS), txt(15))
    body = st.one_of(st.just(None), st.sampled_from(BODIES), txt(60))
    return st.tuples(st.sampled_from(COMMANDS), st.lists(arg, max_size=8), body).map(
        lambda t: " ".join([t[0], *t[1]]) + ("" if t[2] is None else "\n" + t[2]))


def action_value() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ACTION_VALUES), st.integers(0, 60).map(str), txt(20))


def form_values() -> st.SearchStrategy[dict[str, str]]:
    value = st.one_of(st.sampled_from(MONEY), st.sampled_from(BODIES), st.integers(-10**12, 10**12).map(str),
                      txt(40))
    return st.dictionaries(st.sampled_from(FORM_KEYS), value, max_size=6)


def platform_user() -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(sorted(PLATFORM_USERS)).flatmap(
        lambda platform: st.tuples(st.just(platform), st.sampled_from(PLATFORM_USERS[platform])))


def inbound() -> st.SearchStrategy[tuple[str, str, Any]]:
    """(user, kind, payload): a report, a command, free text, a button press or a form, on any platform.

    The user is a console code, or (platform, id) for Slack and WeCom; `extras` adds a Slack thread or trigger.
    """
    user = st.one_of(st.sampled_from(USERS), platform_user())
    extras = st.fixed_dictionaries({}, optional={"thread_ts": st.sampled_from(THREADS),
                                                 "trigger_id": st.sampled_from(["trig-1", ""])})
    return st.one_of(
        st.tuples(user, st.just("message"), report_text(), extras),
        st.tuples(user, st.just("command"), command_text(), extras),
        st.tuples(user, st.just("message"), txt(200), extras),
        st.tuples(user, st.just("message"), key_actions_text(), extras),
        st.tuples(user, st.just("action"), st.tuples(st.sampled_from(ACTIONS), action_value())),
        st.tuples(user, st.just("form"), st.tuples(st.sampled_from(FORMS), form_values(),
                                                   st.one_of(st.sampled_from(FORM_METAS), txt(20)))),
    )



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


def random_inbound(rng: random.Random) -> tuple[Any, ...]:
    """The same shapes as inbound(), from a plain seeded generator."""
    user: Any = rng.choice(USERS)
    if rng.random() < 0.3:
        platform = rng.choice(["slack", "wecom"])
        user = (platform, rng.choice(PLATFORM_USERS[platform]))
    extras: dict[str, str] = {}
    if rng.random() < 0.2:
        extras["thread_ts"] = rng.choice(THREADS)
    if rng.random() < 0.2:
        extras["trigger_id"] = "trig-1"
    pick = rng.random()
    if pick < 0.25:
        return user, "message", random_report(rng), extras
    if pick < 0.65:
        args = [rng.choice(WORDS) if rng.random() < 0.7 else rtxt(rng, 15) for _ in range(rng.randrange(9))]
        body = "" if rng.random() < 0.7 else "\n" + (rng.choice(BODIES) if rng.random() < 0.6 else rtxt(rng, 60))
        return user, "command", " ".join([rng.choice(COMMANDS), *args]) + body, extras
    if pick < 0.7:
        return user, "message", rtxt(rng, 200), extras
    if pick < 0.75:
        lines = [rng.choice(KEY_ACTION_LINES) if rng.random() < 0.7 else rtxt(rng, 30) for _ in range(rng.randrange(7))]
        return user, "message", "\n".join([rng.choice(KEY_ACTION_HEADERS), *lines]), extras
    if pick < 0.9:
        value = rng.choice(ACTION_VALUES) if rng.random() < 0.5 else str(rng.randrange(61)) \
            if rng.random() < 0.5 else rtxt(rng, 20)
        return user, "action", (rng.choice(ACTIONS), value)
    values = {rng.choice(FORM_KEYS): rng.choice(MONEY) if rng.random() < 0.4 else rng.choice(BODIES)
              if rng.random() < 0.3 else rtxt(rng, 40) for _ in range(rng.randrange(7))}
    meta = rng.choice(FORM_METAS) if rng.random() < 0.8 else rtxt(rng, 20)
    return user, "form", (rng.choice(FORMS), values, meta)


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
def test_report_parser_never_crashes_soak(capsys: pytest.CaptureFixture[str]) -> None:
    cases = itertools.count()

    def check(text: str) -> None:
        next(cases)
        check_parser(text)

    settings(max_examples=SOAK["parser"], deadline=None, database=None)(given(report_text())(check))()
    with capsys.disabled():  # the count shows how many cases ran (hypothesis' statistics skip nested @given)
        print(f"\nparser soak: {next(cases)} cases")


def _reports(db: Database) -> list[tuple[Any, ...]]:
    with db.unit_of_work() as s:
        return [(r.person_id, r.day, r.visits, r.signed_amount, r.collected_amount, r.plan, r.raw_text)
                for r in s.scalars(select(DailyReport).order_by(DailyReport.id))]


def _count(db: Database, model: Any) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


class _LastError(logging.Handler):
    """Keep the traceback of the last exception dispatch logged, to show it in the failure message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.text = logging.Formatter().formatException(record.exc_info)


@pytest.fixture()
def chat(settings: Settings, database_url: str, db: Database, clock: FixedClock) -> Iterator[Chat]:
    """Slack and WeCom enabled (only the console port sends); a morning prompt thread to answer in."""
    build_org(db)
    with db.unit_of_work() as s:
        s.add(OutboxMessage(key="job:morning:sh1:2026-11-23:zhang:slack", platform="slack", target_kind="user",
                            target="U_ZHANG", payload={"text": "早"}, status="sent", ref_channel="D1",
                            ref_id=MORNING_TS))
    errors = _LastError()
    logger = logging.getLogger("salesbot.dispatch")
    logger.addHandler(errors)
    chat = Chat(platform_settings(database_url), db, clock)
    chat.errors = errors  # type: ignore[attr-defined]
    yield chat
    logger.removeHandler(errors)


def make_inbound(case: tuple[Any, ...]) -> Inbound:
    """Build the Inbound for a case: (user, kind, payload[, extras]); user is a console code or (platform, id)."""
    user, kind, payload, *rest = case
    platform, user_id = user if isinstance(user, tuple) else ("console", user)
    extras = {k: v for k, v in (rest[0] if rest else {}).items() if v}
    event = f"fz{next(_ids)}"
    if kind == "action":
        action_id, value = payload
        return Inbound(platform, event, user_id, InboundKind.ACTION, action=Action(action_id, value))
    if kind == "form":
        form_id, values, meta = payload
        return Inbound(platform, event, user_id, InboundKind.FORM, form_id=form_id, form_values=dict(values),
                       form_meta=meta)
    return Inbound(platform, event, user_id, InboundKind(kind), text=payload, **extras)


def dispatch_one(chat: Chat, db: Database, case: tuple[Any, ...]) -> None:
    user, kind, payload, *_ = case
    before_events = _count(db, InboundEvent)
    before_reports = _reports(db)
    before_unread = _count(db, UnreadReport)
    chat.errors.text = ""  # type: ignore[attr-defined]
    result = chat.last = chat.app.dispatch(make_inbound(case))
    assert result.route != "error", f"unexpected exception for {case!r}:\n{chat.errors.text}"  # type: ignore[attr-defined]
    assert not result.duplicate
    assert _count(db, InboundEvent) == before_events + 1
    if result.form_errors is not None:  # a refused form: the errors go under its inputs, nothing is stored
        assert kind == "form" and result.form_errors, f"empty form errors for {case!r}"
        assert all(isinstance(v, str) and v.strip() for v in result.form_errors.values()), case
        assert _reports(db) == before_reports, f"a refused form changed stored reports: {payload!r}"
        return
    assert result.keys, f"no reply for {case!r}"
    with db.unit_of_work() as s:
        stored = set(s.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(result.keys))))
    assert stored == set(result.keys)
    if _count(db, UnreadReport) > before_unread:  # refused as unreadable: kept raw, nothing else touched
        assert _reports(db) == before_reports, f"a refused report changed stored reports: {payload!r}"
    if (user[1] if isinstance(user, tuple) else user) in OUTSIDERS:
        assert _reports(db) == before_reports


def _fuzz_dispatch(chat: Chat, db: Database, examples: int) -> int:
    """Run `examples` hypothesis cases through dispatch; return how many ran."""
    cases = itertools.count()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=examples < 10_000,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(inbound())
    def run(case: tuple[Any, ...]) -> None:
        next(cases)
        dispatch_one(chat, db, case)

    run()
    return next(cases)


def test_the_fuzz_covers_every_route() -> None:
    """Every command, button and form the router has is drawn by the fuzzer, and every message route is reachable."""
    assert {"/" + name for name in ROUTER.command_names()} <= set(COMMANDS)
    assert {r.action_id for r in ROUTER.routes if r.action_id} <= set(ACTIONS)
    assert {r.form_id for r in ROUTER.routes if r.form_id} <= set(FORMS)
    routes = {r.name for r in ROUTER.routes if r.kind == InboundKind.MESSAGE}
    assert routes == {"report", "key_actions"}, "a new message route: make sure the fuzz reaches it"


def test_every_command_and_button_answers_in_words(chat: Chat, db: Database) -> None:
    _fuzz_dispatch(chat, db, SHORT["dispatch"])
    rng = random.Random(7)
    for _ in range(SHORT["dispatch_random"]):
        dispatch_one(chat, db, random_inbound(rng))


def test_a_huge_count_in_a_report_is_answered(chat: Chat, db: Database) -> None:
    """Found by the fuzzer: a count above the sandbox's argument cap broke the reply template."""
    dispatch_one(chat, db, ("zhang", "message", "日报\n拜访:125000"))


@pytest.mark.soak
def test_every_command_and_button_answers_in_words_soak(chat: Chat, db: Database,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cases = _fuzz_dispatch(chat, db, SOAK["dispatch"])
    with capsys.disabled():
        print(f"\ndispatch soak: {cases} cases")


def test_a_nul_character_is_answered(chat: Chat, db: Database) -> None:
    """Found by the fuzzer on PostgreSQL, which cannot store NUL in text."""
    dispatch_one(chat, db, ("zhang", "message", "日报\n拜访:\x00\n签约: 1万"))
    dispatch_one(chat, db, ("zhang", "command", "/visit 远航\x00集团"))
    dispatch_one(chat, db, ("zhang", "action", ("nudge_done", "1\x00")))


def test_a_template_with_an_unknown_filter_is_refused(chat: Chat, db: Database) -> None:
    """Found by the fuzzer: an unknown filter raised while listing the template's variables."""
    dispatch_one(chat, db, ("admin", "command", "/template save help all\n{{ name|nosuch }}"))
    assert "nosuch" in chat.out.getvalue() and "未保存" in chat.out.getvalue()
    dispatch_one(chat, db, (("slack", "U_ADMIN"), "form", ("template_edit", {"body": "{{ name|nosuch(1) }}"},
                                                          "help|en")))
    assert "nosuch" in chat.last.form_errors["body"]


def test_a_template_form_with_a_bad_name_is_refused(chat: Chat, db: Database) -> None:
    """Found by the fuzzer: a NUL in the edit form's template name reached the file system and raised."""
    dispatch_one(chat, db, ("admin", "form", ("template_edit", {"body": "x"}, "\x00")))
    dispatch_one(chat, db, ("admin", "form", ("template_edit", {"body": "x"}, "help\x00|en")))
    before = chat.out.tell()
    dispatch_one(chat, db, ("admin", "command", "/template show ../en/help"))  # a path is not a template name
    assert "salesbot help" not in chat.out.getvalue()[before:]


def test_a_huge_template_version_is_answered(chat: Chat, db: Database) -> None:
    """Found by probing the fuzzer's words: a version past 64 bits overflowed the lookup on SQLite."""
    dispatch_one(chat, db, ("admin", "command", "/template rollback help " + "1" * 300))
    dispatch_one(chat, db, ("admin", "command", "/template rollback help v99999999999999999999 en"))
    assert "没有版本" in chat.out.getvalue()
