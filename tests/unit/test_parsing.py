"""Table-driven tests of handlers.parsing and services.fields."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.parsing import (
    ArgError,
    ChineseNumeralError,
    ParsedReport,
    PastDateError,
    Problem,
    ProblemCode,
    ReportParseError,
    command_rest,
    is_key_actions,
    is_report,
    label_index,
    parse_count,
    parse_day,
    parse_future_day,
    parse_key_actions,
    parse_leaderboard_args,
    parse_money,
    parse_report,
    parse_thread_key_actions,
    parse_visit_args,
    split_command,
)
from services.fields import (
    DEFAULT_FIELDS,
    STAGE_LABELS,
    FieldDef,
    FieldType,
    Stage,
    normalize_label,
    parse_stage,
    stage_label,
)
from services.goals import Period, PeriodKind, parse_period

TODAY = date(2026, 11, 23)  # a Monday
MAX_AGE = 7
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def report(text: str, *, fields: tuple[FieldDef, ...] = DEFAULT_FIELDS, today: date = TODAY) -> ParsedReport:
    return parse_report(text, fields=fields, today=today, max_age_days=MAX_AGE)


def problems(text: str, *, fields: tuple[FieldDef, ...] = DEFAULT_FIELDS) -> list[Problem]:
    with pytest.raises(ReportParseError) as info:
        report(text, fields=fields)
    return info.value.problems


# ---------------------------------------------------------------------------
# services.fields


def test_default_fields_follow_the_contract_table() -> None:
    table = {f.key: (f.type, f.labels_zh, f.labels_en) for f in DEFAULT_FIELDS}
    assert table == {
        "visits": (FieldType.COUNT, ("拜访", "拜访量"), ("visits",)),
        "new_leads": (FieldType.COUNT, ("新线索", "线索"), ("new leads", "leads")),
        "new_customers": (FieldType.COUNT, ("新客户",), ("new customers",)),
        "opportunities": (FieldType.COUNT, ("商机", "推进商机"), ("opportunities", "opps")),
        "signed_amount": (FieldType.MONEY, ("签约", "签约金额", "成交金额"), ("signed", "revenue")),
        "collected_amount": (FieldType.MONEY, ("回款", "回款金额"), ("collected",)),
        "plan": (FieldType.TEXT, ("明日计划", "计划"), ("plan", "tomorrow")),
        "blockers": (FieldType.TEXT, ("问题", "困难", "需要支持"), ("blockers", "issues")),
    }
    assert [f.key for f in DEFAULT_FIELDS][0] == "visits"
    assert all(f.builtin for f in DEFAULT_FIELDS)


def test_field_labels_by_locale() -> None:
    visits = DEFAULT_FIELDS[0]
    assert visits.label("zh-CN") == "拜访"
    assert visits.label("en") == "visits"
    assert visits.all_labels() == ("拜访", "拜访量", "visits")
    custom = FieldDef("calls", FieldType.COUNT, (), ("calls",), aliases=("电话",), builtin=False)
    assert custom.label("zh-CN") == "calls"
    assert custom.all_labels() == ("calls", "电话")
    assert FieldDef("x", FieldType.TEXT, (), ()).label("en") == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＶＩＳＩＴＳ", "visits"),
        ("  New   Leads ", "new leads"),
        ("Ｎｅｗ\u3000Ｌｅａｄｓ", "new leads"),
        ("拜访", "拜访"),
        ("", ""),
    ],
)
def test_normalize_label(text: str, expected: str) -> None:
    assert normalize_label(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lead", Stage.LEAD),
        ("线索", Stage.LEAD),
        ("需求确认", Stage.NEEDS),
        ("Discovery", Stage.NEEDS),
        ("方案设计", Stage.PROPOSAL),
        ("方案演示", Stage.PROPOSAL),
        ("DEMO", Stage.PROPOSAL),
        ("ｐｒｏｐｏｓａｌ", Stage.PROPOSAL),
        ("商务谈判", Stage.NEGOTIATION),
        ("签约", Stage.SIGNED),
        ("签约交付", Stage.SIGNED),
        ("成交", Stage.SIGNED),
        ("won", Stage.SIGNED),
        ("after_sale", Stage.AFTER_SALE),
        ("after-sale", Stage.AFTER_SALE),
        ("After Sale", Stage.AFTER_SALE),
        ("售后维护", Stage.AFTER_SALE),
        ("丢单", Stage.LOST),
        ("流失", Stage.LOST),
        (" lost ", Stage.LOST),
        ("签", None),
        ("", None),
        ("winning", None),
    ],
)
def test_parse_stage(text: str, expected: Stage | None) -> None:
    assert parse_stage(text) is expected


def test_stage_labels_cover_every_stage() -> None:
    assert set(STAGE_LABELS) == set(Stage)
    assert stage_label(Stage.PROPOSAL, "zh-CN") == "方案设计"
    assert stage_label(Stage.AFTER_SALE, "en") == "after-sale"
    for stage in Stage:
        assert parse_stage(stage_label(stage, "zh-CN")) is stage
        assert parse_stage(stage_label(stage, "en")) is stage


# ---------------------------------------------------------------------------
# money, counts, days


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("125000", "125000.00"),
        ("125,000", "125000.00"),
        ("¥125,000", "125000.00"),
        ("￥125,000", "125000.00"),
        ("125000元", "125000.00"),
        ("12.5万", "125000.00"),
        ("12.5 万", "125000.00"),
        ("12.5万元", "125000.00"),
        ("1.2亿", "120000000.00"),
        ("125k", "125000.00"),
        ("125K", "125000.00"),
        ("1.25m", "1250000.00"),
        ("1.25M", "1250000.00"),
        ("１２５，０００", "125000.00"),
        ("１２．５万", "125000.00"),
        ("3w", "30000.00"),
        ("0", "0.00"),
        ("0.005", "0.01"),
        ("99.999", "100.00"),
        (".5万", "5000.00"),
        ("1,234,567.891", "1234567.89"),
        (" 30000 ", "30000.00"),
        ("RMB 5000", "5000.00"),
    ],
)
def test_parse_money(text: str, expected: str) -> None:
    assert parse_money(text) == Decimal(expected)
    assert parse_money(text).as_tuple().exponent == -2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-5",
        "-12.5万",
        "abc",
        "万",
        "12,5",
        "1,25,000",
        "12.5.3",
        "十万",
        "1e5",
        "¥",
        "12万5",
        "1" * 20,
        "5kk",
    ],
)
def test_parse_money_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("5", 5), ("１２", 12), (" 7 ", 7), ("3个", 3), ("4家", 4), ("2次", 2), ("1,200", 1200)],
)
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三", 3),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十五", 25),
        ("一百零五", 105),
        ("三个", 3),
        ("两家", 2),
        ("一万二千", 12000),
        ("三四十", None),
    ],
)
def test_parse_count_chinese_numerals(text: str, value: int | None) -> None:
    with pytest.raises(ChineseNumeralError) as info:
        parse_count(text)
    assert info.value.value == value
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["", "-1", "3.5", "abc", "几个", "5 visits", "9" * 12])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_count(text)
    assert not isinstance(info.value, ChineseNumeralError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22", date(2026, 11, 22)),
        ("2026/11/22", date(2026, 11, 22)),
        ("2026.11.2", date(2026, 11, 2)),
        ("11-22", date(2026, 11, 22)),
        ("11/22", date(2026, 11, 22)),
        ("１１－２２", date(2026, 11, 22)),
        ("12-31", date(2026, 12, 31)),  # the caller checks for the future
        ("11月22日", date(2026, 11, 22)),
        ("昨天", date(2026, 11, 22)),
        ("Yesterday", date(2026, 11, 22)),
        ("今天", TODAY),
        ("TODAY", TODAY),
        ("前天", date(2026, 11, 21)),
    ],
)
def test_parse_day(text: str, expected: date) -> None:
    assert parse_day(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["", "2026-13-01", "02-30", "11-22-33", "tomorrowish", "22", "2026-11"])
def test_parse_day_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_day(text, today=TODAY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("12-01", date(2026, 12, 1)),
        ("11-23", TODAY),
        ("01-05", date(2027, 1, 5)),  # passed this year: next year
        ("+3d", date(2026, 11, 26)),
        ("+3", date(2026, 11, 26)),
        ("+3天", date(2026, 11, 26)),
        ("＋３ｄ", date(2026, 11, 26)),
        ("+2w", date(2026, 12, 7)),
        ("+1周", date(2026, 11, 30)),
        ("明天", date(2026, 11, 24)),
        ("Tomorrow", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("+0", TODAY),
    ],
)
def test_parse_future_day(text: str, expected: date) -> None:
    assert parse_future_day(text, today=TODAY) == expected


@pytest.mark.parametrize("text", ["2026-11-22", "2025-12-01", "昨天"])
def test_parse_future_day_past(text: str) -> None:
    with pytest.raises(ValueError):
        parse_future_day(text, today=TODAY)


def test_parse_future_day_past_is_a_distinct_error() -> None:
    with pytest.raises(PastDateError):
        parse_future_day("2026-01-01", today=TODAY)
    with pytest.raises(ValueError) as info:
        parse_future_day("soon", today=TODAY)
    assert not isinstance(info.value, PastDateError)


@pytest.mark.parametrize("text", ["", "-3d", "+9999d", "+3x", "next week", "13-01"])
def test_parse_future_day_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_future_day(text, today=TODAY)


# ---------------------------------------------------------------------------
# daily reports: good ones

D = Decimal
EMPTY: dict[str, int | Decimal | str | None] = {f.key: None for f in DEFAULT_FIELDS}


def values(**given: int | Decimal | str | None) -> dict[str, int | Decimal | str | None]:
    return {**EMPTY, **given}


GOOD_REPORTS: list[tuple[str, str, date, dict[str, int | Decimal | str | None], dict[str, int]]] = [
    (
        "zh yesterday, money in 万 and ¥, continued plan",
        "日报 昨天\n拜访：5\n新线索：2\n签约金额：12.5万\n回款：¥30,000\n明日计划：拜访远航集团\n  跟进报价\n问题：无",
        date(2026, 11, 22),
        values(
            visits=5,
            new_leads=2,
            signed_amount=D("125000.00"),
            collected_amount=D("30000.00"),
            plan="拜访远航集团\n跟进报价",
            blockers="无",
        ),
        {"visits": 2, "new_leads": 3, "signed_amount": 4, "collected_amount": 5, "plan": 6, "blockers": 8},
    ),
    (
        "no date means today, ascii colons",
        "日报\n拜访:3\n商机:1",
        TODAY,
        values(visits=3, opportunities=1),
        {"visits": 2, "opportunities": 3},
    ),
    (
        "english, any case, yesterday after a colon",
        "Daily Report: yesterday\nVisits: 4\nNew Leads: 1\nRevenue: 125k\nCollected: 1.25M\nPlan: call Acme\nBlockers:",
        date(2026, 11, 22),
        values(
            visits=4,
            new_leads=1,
            signed_amount=D("125000.00"),
            collected_amount=D("1250000.00"),
            plan="call Acme",
        ),
        {"visits": 2, "new_leads": 3, "signed_amount": 4, "collected_amount": 5, "plan": 6, "blockers": 7},
    ),
    (
        "full-width letters, digits and colons",
        "ＤＡＩＬＹ ＲＥＰＯＲＴ\nＶＩＳＩＴＳ：５\nＮｅｗ Ｌｅａｄｓ：２\nＳＩＧＮＥＤ：１２．５万",
        TODAY,
        values(visits=5, new_leads=2, signed_amount=D("125000.00")),
        {"visits": 2, "new_leads": 3, "signed_amount": 4},
    ),
    (
        "ISO date with a space and a full-width colon after the header",
        "日报：2026-11-20\n拜访量：6\n新客户：1",
        date(2026, 11, 20),
        values(visits=6, new_customers=1),
        {"visits": 2, "new_customers": 3},
    ),
    (
        "short date in full-width brackets",
        "日报（11-22）\n拜访：2",
        date(2026, 11, 22),
        values(visits=2),
        {"visits": 2},
    ),
    (
        "short date with a dash and slashes",
        "日报-11/21\n拜访：2",
        date(2026, 11, 21),
        values(visits=2),
        {"visits": 2},
    ),
    (
        "前天 and blank lines between fields",
        "\n\n日报 前天\n\n拜访：1\n\n\n回款金额：0\n",
        date(2026, 11, 21),
        values(visits=1, collected_amount=D("0.00")),
        {"visits": 5, "collected_amount": 8},
    ),
    (
        "multi-line plan and blockers with inner blank line kept, trailing ones stripped",
        "日报\n明日计划：\n1. 拜访远航集团\n\n2. 跟进报价\n\n\n困难：客户预算冻结\n需要法务支持\n\n",
        TODAY,
        values(plan="1. 拜访远航集团\n\n2. 跟进报价", blockers="客户预算冻结\n需要法务支持"),
        {"plan": 2, "blockers": 8},
    ),
    (
        "an unknown label inside a text value is part of the text",
        "日报\n计划：见客户\n备注：带样品\n拜访：2",
        TODAY,
        values(plan="见客户\n备注：带样品", visits=2),
        {"plan": 2, "visits": 4},
    ),
    (
        "empty values leave fields empty",
        "日报\n拜访：\n签约：\n计划：",
        TODAY,
        values(),
        {"visits": 2, "signed_amount": 3, "plan": 4},
    ),
    (
        "无 as a count or an amount means zero",
        "日报\n新客户：无\n签约：无\n问题：无",
        TODAY,
        values(new_customers=0, signed_amount=D("0.00"), blockers="无"),
        {"new_customers": 2, "signed_amount": 3, "blockers": 4},
    ),
    (
        "spaces around labels and values, units after counts",
        "日报 11月22日\n  拜访 ： 3家 \n 线索 ：2个\n成交金额： 125000元",
        date(2026, 11, 22),
        values(visits=3, new_leads=2, signed_amount=D("125000.00")),
        {"visits": 2, "new_leads": 3, "signed_amount": 4},
    ),
    (
        "bulleted labels",
        "日报\n- 拜访：3\n• 商机：1\n1. 回款：2w",
        TODAY,
        values(visits=3, opportunities=1, collected_amount=D("20000.00")),
        {"visits": 2, "opportunities": 3, "collected_amount": 4},
    ),
    (
        "the oldest day allowed",
        "日报 2026-11-16\n拜访：1",
        date(2026, 11, 16),
        values(visits=1),
        {"visits": 2},
    ),
    (
        "english labels with a second en label and opps",
        "daily report today\nleads: 7\nopps: 3\nissues: pricing\n  legal review\ntomorrow: demo",
        TODAY,
        values(new_leads=7, opportunities=3, blockers="pricing\nlegal review", plan="demo"),
        {"new_leads": 2, "opportunities": 3, "blockers": 4, "plan": 6},
    ),
    (
        "a colon inside a text value",
        "日报\n计划：10:00 见客户；14:00 报价",
        TODAY,
        values(plan="10:00 见客户；14:00 报价"),
        {"plan": 2},
    ),
    (
        "field keys work as labels",
        "日报\nsigned_amount: 1,000\nvisits: 2",
        TODAY,
        values(signed_amount=D("1000.00"), visits=2),
        {"signed_amount": 2, "visits": 3},
    ),
    (
        "CRLF line endings",
        "日报\r\n拜访：2\r\n计划：a\r\n b\r\n",
        TODAY,
        values(visits=2, plan="a\nb"),
        {"visits": 2, "plan": 3},
    ),
    (
        "需要支持 is a blockers label, 推进商机 an opportunities one",
        "日报\n推进商机：2\n需要支持：报价审批",
        TODAY,
        values(opportunities=2, blockers="报价审批"),
        {"opportunities": 2, "blockers": 3},
    ),
]


@pytest.mark.parametrize(
    ("text", "day", "expected", "lines"),
    [case[1:] for case in GOOD_REPORTS],
    ids=[case[0] for case in GOOD_REPORTS],
)
def test_parse_report(
    text: str, day: date, expected: dict[str, int | Decimal | str | None], lines: dict[str, int]
) -> None:
    assert is_report(text)
    parsed = report(text)
    assert parsed.day == day
    assert parsed.values == expected
    assert parsed.lines == lines
    for key, value in parsed.values.items():
        if isinstance(value, Decimal):
            assert value.as_tuple().exponent == -2, key


def test_report_with_custom_fields_and_aliases() -> None:
    calls = FieldDef(
        "calls", FieldType.COUNT, ("电话",), ("calls",), aliases=("外呼", "dials"), builtin=False
    )
    fields = (*DEFAULT_FIELDS, calls)
    parsed = report("日报\n外呼：12\n拜访：1", fields=fields)
    assert parsed.values["calls"] == 12
    assert parsed.values["visits"] == 1
    assert report("daily report\nDials: 3", fields=fields).values["calls"] == 3
    # the default set does not know it
    assert problems("日报\n外呼：12")[0].code is ProblemCode.UNKNOWN_LABEL


def test_label_index_is_cached_per_field_set() -> None:
    assert label_index(DEFAULT_FIELDS) is label_index(DEFAULT_FIELDS)
    assert label_index(list(DEFAULT_FIELDS)) is label_index(tuple(DEFAULT_FIELDS))


def test_new_year_short_date_means_last_year() -> None:
    parsed = report("日报 12-31\n拜访：1", today=date(2027, 1, 2))
    assert parsed.day == date(2026, 12, 31)


# ---------------------------------------------------------------------------
# daily reports: bad ones


def P(
    code: ProblemCode,
    line: int | None,
    field: str | None = None,
    label: str | None = None,
    value: str | None = None,
    example: str | None = None,
    hint: str | None = None,
) -> Problem:
    return Problem(code, line, field, label, value, example, hint)


C = ProblemCode
BAD_REPORTS: list[tuple[str, str, list[Problem]]] = [
    ("no header", "拜访：5", [P(C.MISSING_HEADER, 1)]),
    ("empty text", "", [P(C.MISSING_HEADER, 1)]),
    ("header only", "日报", [P(C.EMPTY_REPORT, 1)]),
    ("header after blank lines only", "\n\n日报 昨天\n\n", [P(C.EMPTY_REPORT, 3)]),
    (
        "a bad date",
        "日报 11-35\n拜访：1",
        [P(C.BAD_DATE, 1, value="11-35", example="2026-11-23")],
    ),
    (
        "words instead of a date",
        "日报 本周\n拜访：1",
        [P(C.BAD_DATE, 1, value="本周", example="2026-11-23")],
    ),
    (
        "a future date",
        "日报 2026-11-24\n拜访：1",
        [P(C.FUTURE_DATE, 1, value="2026-11-24", example="2026-11-23")],
    ),
    (
        "too old",
        "日报 2026-11-15\n拜访：1",
        [P(C.TOO_OLD, 1, value="2026-11-15", example="2026-11-23")],
    ),
    (
        "unknown label with a hint",
        "日报\n拜仿：3\nvisit: 2",
        [
            P(C.UNKNOWN_LABEL, 2, label="拜仿", value="3", hint="拜访"),
            P(C.UNKNOWN_LABEL, 3, label="visit", value="2", hint="visits"),
        ],
    ),
    (
        "unknown label with no close match",
        "日报\n天气：晴",
        [P(C.UNKNOWN_LABEL, 2, label="天气", value="晴")],
    ),
    (
        "duplicate label, also through another label of the same field",
        "日报\n拜访：3\n拜访量：4",
        [P(C.DUPLICATE_LABEL, 3, "visits", "拜访量", "4")],
    ),
    (
        "bad count",
        "日报\n拜访：3.5\n新线索：-1",
        [
            P(C.BAD_COUNT, 2, "visits", "拜访", "3.5", "3"),
            P(C.BAD_COUNT, 3, "new_leads", "新线索", "-1", "3"),
        ],
    ),
    (
        "chinese numerals",
        "日报\n拜访：三\n商机：十二个",
        [
            P(C.CHINESE_NUMERAL, 2, "visits", "拜访", "三", "3", "3"),
            P(C.CHINESE_NUMERAL, 3, "opportunities", "商机", "十二个", "3", "12"),
        ],
    ),
    (
        "bad money, zh and en examples",
        "日报\n签约：很多\nCollected: lots",
        [
            P(C.BAD_MONEY, 2, "signed_amount", "签约", "很多", "12.5万"),
            P(C.BAD_MONEY, 3, "collected_amount", "Collected", "lots", "125,000"),
        ],
    ),
    (
        "negative money",
        "daily report\nrevenue: -500",
        [P(C.BAD_MONEY, 2, "signed_amount", "revenue", "-500", "125,000")],
    ),
    (
        "no separator after a count field",
        "日报\n拜访：2\n今天很累",
        [P(C.NO_SEPARATOR, 3, value="今天很累")],
    ),
    (
        "no separator but a known label: the field is named",
        "日报\n拜访 5\nrevenue 12k",
        [
            P(C.NO_SEPARATOR, 2, "visits", "拜访", "5", "3"),
            P(C.NO_SEPARATOR, 3, "signed_amount", "revenue", "12k", "125,000"),
        ],
    ),
    (
        "every problem is collected, in line order",
        "日报 2026-12-01\n拜访：三\n签约：abc\nfoo: 1\n拜访：2\nhello\n回款：1万",
        [
            P(C.FUTURE_DATE, 1, value="2026-12-01", example="2026-11-23"),
            P(C.CHINESE_NUMERAL, 2, "visits", "拜访", "三", "3", "3"),
            P(C.BAD_MONEY, 3, "signed_amount", "签约", "abc", "12.5万"),
            P(C.UNKNOWN_LABEL, 4, label="foo", value="1"),
            P(C.DUPLICATE_LABEL, 5, "visits", "拜访", "2"),
            P(C.NO_SEPARATOR, 6, value="hello"),
        ],
    ),
    (
        "missing header and bad lines below it",
        "hello\nvists: 3",
        [P(C.MISSING_HEADER, 1), P(C.UNKNOWN_LABEL, 2, label="vists", value="3", hint="visits")],
    ),
    (
        "a too-old header and no fields",
        "日报 2026-11-01",
        [P(C.TOO_OLD, 1, value="2026-11-01", example="2026-11-23"), P(C.EMPTY_REPORT, 1)],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in BAD_REPORTS],
    ids=[case[0] for case in BAD_REPORTS],
)
def test_parse_report_problems(text: str, expected: list[Problem]) -> None:
    assert problems(text) == expected


def test_report_parse_error_is_a_value_error_listing_codes() -> None:
    with pytest.raises(ValueError) as info:
        report("日报\n拜访：x")
    assert isinstance(info.value, ReportParseError)
    assert "bad_count" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("日报\n拜访：1", True),
        ("\n  日报 昨天", True),
        ("Daily Report", True),
        ("DAILY   REPORT 11-22", True),
        ("ＤＡＩＬＹ ＲＥＰＯＲＴ", True),
        ("daily", False),
        ("我的日报", False),
        ("/日报", False),
        ("", False),
        ("拜访：1\n日报", False),
    ],
)
def test_is_report(text: str, expected: bool) -> None:
    assert is_report(text) is expected


# ---------------------------------------------------------------------------
# key actions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今日三件事\n1. 拜访远航\n2. 报价\n3. 回款", True),
        ("三件事：a", True),
        ("今天三件事", True),
        ("Today:\n- a", True),
        ("TODAY'S three key actions", True),
        ("\n\ntoday\na", True),
        ("/today", False),
        ("todays news", False),
        ("today123", False),
        ("日报\n计划：x", False),
        ("", False),
    ],
)
def test_is_key_actions(text: str, expected: bool) -> None:
    assert is_key_actions(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今日三件事\n1. 拜访远航集团\n2. 跟进报价\n3. 催回款", ["拜访远航集团", "跟进报价", "催回款"]),
        ("今日三件事：拜访远航\n2、报价\n3）回款", ["拜访远航", "报价", "回款"]),
        ("三件事：\n① 拜访\n② 报价\n③ 回款\n", ["拜访", "报价", "回款"]),
        ("今日三件事 1. 拜访\n2) 报价\n(3) 回款", ["拜访", "报价", "回款"]),
        ("三件事 1. 10:00 见客户\n2. 14:00 报价", ["10:00 见客户", "14:00 报价"]),
        ("Today: call Acme\n- send quote\n* demo\n• lunch", ["call Acme", "send quote", "demo", "lunch"]),
        ("Today's three key actions:\n1) call\n2) quote", ["call", "quote"]),
        ("Today's three key actions\n1) call", ["call"]),
        ("today\n\n  a  \n\nb", ["a", "b"]),
        ("今日三件事\n一、拜访\n二、报价", ["拜访", "报价"]),
        ("今日三件事\n１．拜访\n２．报价", ["拜访", "报价"]),
        ("今日三件事\n- [ ] 拜访\n- [x] 报价", ["拜访", "报价"]),
        ("今日三件事", []),
    ],
)
def test_parse_key_actions(text: str, expected: list[str]) -> None:
    assert parse_key_actions(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("拜访远航\n报价\n回款", ["拜访远航", "报价", "回款"]),
        ("1. a\n\n2. b\n", ["a", "b"]),
        ("  \n", []),
        ("10.5万回款", ["10.5万回款"]),
    ],
)
def test_parse_thread_key_actions(text: str, expected: list[str]) -> None:
    assert parse_thread_key_actions(text) == expected


# ---------------------------------------------------------------------------
# commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/visit 远航集团", ("visit", ["远航集团"])),
        ("/Visit  A  B ", ("visit", ["A", "B"])),
        ("／ＶＩＳＩＴ 远航", ("visit", ["远航"])),
        ("/拜访 远航集团 阶段=签约", ("拜访", ["远航集团", "阶段=签约"])),
        (
            '/visit "远航 集团" stage=方案设计 next=+3d 带了样品',
            ("visit", ["远航 集团", "stage=方案设计", "next=+3d", "带了样品"]),
        ),
        ("/visit “远航 集团” 备注", ("visit", ["远航 集团", "备注"])),
        ("/visit 「远航 集团」 x", ("visit", ["远航 集团", "x"])),
        ("/visit 『远航 集团』", ("visit", ["远航 集团"])),
        ("/visit '远航 集团' x", ("visit", ["远航 集团", "x"])),
        ("/visit ‘远航 集团’", ("visit", ["远航 集团"])),
        ('/visit A stage="方案 设计"', ("visit", ["A", "stage=方案 设计"])),
        ("/visit A note=“带了 样品”", ("visit", ["A", "note=带了 样品"])),
        ("/visit Acme it's fine", ("visit", ["Acme", "it's", "fine"])),
        ('/visit "远航 集团', ("visit", ['"远航', "集团"])),
        ("/visit “远航 集团", ("visit", ["“远航", "集团"])),
        ('/visit ""', ("visit", [""])),
        ("/help", ("help", [])),
        ("  /leaderboard week", ("leaderboard", ["week"])),
        (
            "/template edit help\nline one\nline two",
            ("template", ["edit", "help", "line", "one", "line", "two"]),
        ),
        ("/", None),
        ("/ visit", None),
        ("visit A", None),
        ("", None),
        ("日报", None),
    ],
)
def test_split_command(text: str, expected: tuple[str, list[str]] | None) -> None:
    assert split_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/collab 远航集团 想和他们 CTO 聊聊", "远航集团 想和他们 CTO 聊聊"),
        ("/help", ""),
        ("/template edit help\n你好 {{ name }}\n", "edit help\n你好 {{ name }}"),
        ("not a command", ""),
    ],
)
def test_command_rest(text: str, expected: str) -> None:
    assert command_rest(text) == expected


def visit(text: str):  # type: ignore[no-untyped-def]
    parts = split_command(text)
    assert parts is not None
    return parse_visit_args(parts[1], today=TODAY)


@pytest.mark.parametrize(
    ("text", "customer", "stage", "next_day", "note"),
    [
        (
            '/visit "远航 集团" stage=方案设计 next=+3d 带了样品',
            "远航 集团",
            Stage.PROPOSAL,
            date(2026, 11, 26),
            "带了样品",
        ),
        (
            "/拜访 远航集团 阶段=签约 下次=明天 已签合同",
            "远航集团",
            Stage.SIGNED,
            date(2026, 11, 24),
            "已签合同",
        ),
        ("/拜访 远航集团 阶段：签约 下次：12-01", "远航集团", Stage.SIGNED, date(2026, 12, 1), ""),
        ("/拜访 远航集团 阶段： 商务谈判 聊了价格", "远航集团", Stage.NEGOTIATION, None, "聊了价格"),
        ("/visit Acme", "Acme", None, None, ""),
        ("/visit Acme met the CTO, next step demo", "Acme", None, None, "met the CTO, next step demo"),
        ("/visit stage=demo Acme next=2026-12-24 xmas", "Acme", Stage.PROPOSAL, date(2026, 12, 24), "xmas"),
        ("/visit Acme STAGE=Won NEXT=tomorrow", "Acme", Stage.SIGNED, date(2026, 11, 24), ""),
        ("/visit Acme note=“带了 样品” 顺利", "Acme", None, None, "带了 样品 顺利"),
        ("/visit Acme price=100 ok", "Acme", None, None, "price=100 ok"),
        ("/visit 远航:集团 x", "远航:集团", None, None, "x"),
        ("/visit Acme next=+2w", "Acme", None, date(2026, 12, 7), ""),
    ],
)
def test_parse_visit_args(
    text: str, customer: str, stage: Stage | None, next_day: date | None, note: str
) -> None:
    args = visit(text)
    assert (args.customer, args.stage, args.next_day, args.note) == (customer, stage, next_day, note)


@pytest.mark.parametrize(
    ("text", "code", "arg", "value", "example"),
    [
        ("/visit", "missing_customer", "customer", None, "远航集团"),
        ("/visit stage=signed", "missing_customer", "customer", None, "远航集团"),
        ('/visit ""', "missing_customer", "customer", None, "远航集团"),
        (
            "/visit Acme stage=winning",
            "unknown_stage",
            "stage",
            "winning",
            "lead, needs, proposal, negotiation, signed, after-sale, lost",
        ),
        (
            "/拜访 远航 阶段=快签了",
            "unknown_stage",
            "stage",
            "快签了",
            "线索, 需求挖掘, 方案设计, 商务谈判, 签约, 售后维护, 丢单",
        ),
        (
            "/visit Acme stage=",
            "unknown_stage",
            "stage",
            "",
            "lead, needs, proposal, negotiation, signed, after-sale, lost",
        ),
        ("/visit Acme next=someday", "bad_date", "next", "someday", "+3d"),
        ("/拜访 远航 下次=下辈子", "bad_date", "next", "下辈子", "明天"),
        ("/visit Acme next=2026-11-01", "past_date", "next", "2026-11-01", "+3d"),
        ("/visit Acme stage=lead stage=won", "duplicate_arg", "stage", "won", None),
    ],
)
def test_parse_visit_args_errors(
    text: str, code: str, arg: str, value: str | None, example: str | None
) -> None:
    with pytest.raises(ArgError) as info:
        visit(text)
    err = info.value
    assert (err.code, err.arg, err.value, err.example) == (code, arg, value, example)
    assert code in str(err)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ("today", None)),
        (["week"], ("week", None)),
        (["本周"], ("week", None)),
        (["本月", "签约金额"], ("month", "签约金额")),
        (["签约金额", "本月"], ("month", "签约金额")),
        (["visits", "TODAY"], ("today", "visits")),
        (["今天"], ("today", None)),
        (["new", "leads", "month"], ("month", "new leads")),
        (["this", "week"], ("week", None)),
        (["回款"], ("today", "回款")),
        (["Week", "week"], ("week", None)),
    ],
)
def test_parse_leaderboard_args(args: list[str], expected: tuple[str, str | None]) -> None:
    assert parse_leaderboard_args(args) == expected


def test_parse_leaderboard_args_conflicting_periods() -> None:
    with pytest.raises(ArgError) as info:
        parse_leaderboard_args(["week", "month"])
    assert info.value.code == "conflicting_period"


# ---------------------------------------------------------------------------
# goal periods


@pytest.mark.parametrize(
    ("text", "kind", "index", "canonical", "start", "end"),
    [
        ("2026", "year", None, "2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-Q4", "quarter", 4, "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-q1", "quarter", 1, "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026Q2", "quarter", 2, "2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-12", "month", 12, "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-2", "month", 2, "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-02", "month", 2, "2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        ("2026-W49", "week", 49, "2026-W49", date(2026, 11, 30), date(2026, 12, 6)),
        ("2026-w01", "week", 1, "2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
        ("2026-W53", "week", 53, "2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
        ("２０２６－Ｑ４", "quarter", 4, "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026年12月", "month", 12, "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026年第4季度", "quarter", 4, "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ],
)
def test_parse_period(
    text: str, kind: str, index: int | None, canonical: str, start: date, end: date
) -> None:
    period = parse_period(text)
    assert (period.kind, period.year, period.index) == (kind, int(canonical[:4]), index)
    assert str(period) == canonical
    assert (period.start, period.end) == (start, end)
    assert parse_period(str(period)) == period
    assert start in period and end in period


@pytest.mark.parametrize(
    "text",
    [
        "",
        "26",
        "2026-Q5",
        "2026-Q0",
        "2026-13",
        "2026-00",
        "2025-W53",
        "2026-W00",
        "2026-W54",
        "Q4",
        "20264",
        "0999",
    ],
)
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_goal_period_is_a_value() -> None:
    assert Period(PeriodKind.MONTH, 2026, 12) == parse_period("2026-12")
    assert date(2026, 11, 30) not in Period(PeriodKind.MONTH, 2026, 12)
    assert "2026-12-01" not in Period(PeriodKind.MONTH, 2026, 12)


# ---------------------------------------------------------------------------
# properties: only the documented errors, whatever people type

_report_alphabet = st.sampled_from(
    list(
        "日报拜访量新线索客户商机签约金额回款明日计划问题：:，, \n\t-/+.0123456789万亿kKmM¥￥元三十两abcXYZ（）\"'“”「」"
    )
    + ["拜访", "签约金额", "visits", "daily report", "\n", "：", "12.5万", "昨天", "11-22", "2026-11-22"]
)
_report_text = st.lists(_report_alphabet, max_size=40).map("".join)


@FAST
@given(st.one_of(st.text(max_size=200), _report_text, _report_text.map(lambda s: "日报\n" + s)))
def test_parse_report_only_raises_report_parse_error(text: str) -> None:
    try:
        parsed = report(text)
    except ReportParseError as exc:
        assert exc.problems
        assert all(isinstance(p.code, ProblemCode) for p in exc.problems)
        assert all(p.line is None or p.line >= 1 for p in exc.problems)
    else:
        assert parsed.day <= TODAY
        assert set(parsed.values) == {f.key for f in DEFAULT_FIELDS}


_arg_token = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["stage=", "阶段=", "next=", "下次：", "note=", "+3d", "明天", "签约", "丢单", "2026-11-01"]
    ),
    st.tuples(st.sampled_from(["stage=", "next=", "阶段：", "下次="]), st.text(max_size=8)).map("".join),
)


@FAST
@given(st.lists(_arg_token, max_size=8))
def test_parse_visit_args_only_raises_arg_error(args: list[str]) -> None:
    try:
        parsed = parse_visit_args(args, today=TODAY)
    except ArgError:
        pass
    else:
        assert parsed.customer
        assert parsed.next_day is None or parsed.next_day >= TODAY


_command_text = st.one_of(
    st.text(max_size=100),
    st.text(max_size=100).map(lambda s: "/" + s),
    st.lists(
        st.sampled_from(['"', "'", "“", "”", "「", "」", "‘", "’", " ", "a", "=", "\n", "/"]), max_size=30
    ).map(lambda parts: "/visit " + "".join(parts)),
)


@FAST
@given(_command_text)
def test_split_command_never_raises(text: str) -> None:
    parts = split_command(text)
    assert isinstance(command_rest(text), str)
    if parts is not None:
        name, args = parts
        assert name and not any(ch.isspace() for ch in name)
        assert all(isinstance(a, str) for a in args)


@FAST
@given(st.text(max_size=60))
def test_small_parsers_raise_only_value_error(text: str) -> None:
    for parse in (parse_money, parse_count, parse_period):
        try:
            parse(text)  # type: ignore[operator]
        except ValueError:
            pass
    for parse_date in (parse_day, parse_future_day):
        try:
            parse_date(text, today=TODAY)
        except ValueError:
            pass
    parse_key_actions(text)
    parse_thread_key_actions(text)
    is_key_actions(text)
    is_report(text)


@FAST
@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False))
def test_parse_money_round_trips_plain_and_grouped(amount: Decimal) -> None:
    assert parse_money(str(amount)) == amount
    assert parse_money(f"¥{amount:,}") == amount
