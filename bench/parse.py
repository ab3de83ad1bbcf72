"""Measure daily-report parsing speed on one core against a trivial split+partition floor.

Run: python bench/parse.py [--reports N] [--repeat R] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.parsing import ReportParseError, parse_report  # noqa: E402
from services.fields import DEFAULT_FIELDS  # noqa: E402

TODAY = date(2026, 11, 23)
GOAL_REPORTS_PER_SECOND = 20_000

_CUSTOMERS = ["远航集团", "华信科技", "东方物流", "星河医疗", "Acme Corp", "Globex", "Initech", "蓝海教育"]
_ACTIONS_ZH = ["拜访{c}", "跟进{c}报价", "给{c}做方案演示", "催{c}回款", "约{c}技术交流"]
_ACTIONS_EN = ["visit {c}", "follow up the {c} quote", "demo for {c}", "chase {c} payment"]
_BLOCKERS_ZH = ["无", "客户预算冻结", "需要法务支持合同审核", "报价审批太慢", ""]
_BLOCKERS_EN = ["none", "budget freeze at the customer", "legal review pending", ""]


def _money(rng: random.Random, zh: bool) -> str:
    amount = rng.choice([0, 3_000, 12_500, 30_000, 125_000, 480_000, 1_250_000])
    style = rng.randrange(6)
    if style == 0:
        return str(amount)
    if style == 1:
        return f"{amount:,}"
    if style == 2:
        return f"¥{amount:,}" if zh else f"{amount / 1000:g}k"
    if style == 3:
        return f"{amount / 10_000:g}万" if zh else f"{amount / 1_000_000:g}M"
    if style == 4:
        return f"{amount}元" if zh else f"{amount:,}"
    return f"￥{amount:,}"


def _day(rng: random.Random, zh: bool) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return ""
    if choice == 1:
        return " 昨天" if zh else ": yesterday"
    day = TODAY - timedelta(days=rng.randrange(0, 6))
    if choice == 2:
        return f" {day.isoformat()}"
    if choice == 3:
        return f"（{day.month}-{day.day}）" if zh else f" {day.month}/{day.day}"
    if choice == 4:
        return f"：{day.month:02d}-{day.day:02d}"
    return " 今天" if zh else " today"


def make_report(rng: random.Random) -> str:
    """Return one realistic report, zh or en, with the quirks people type."""
    zh = rng.random() < 0.7
    colon = rng.choice(["：", "：", ":", " : "]) if zh else rng.choice([": ", ":", "："])
    header = (
        rng.choice(["日报", "日报", "ＤＡＩＬＹ ＲＥＰＯＲＴ"])
        if zh
        else rng.choice(["Daily Report", "daily report", "DAILY REPORT"])
    )
    lines = [header + _day(rng, zh)]
    if zh:
        fields = [
            (rng.choice(["拜访", "拜访量"]), str(rng.randrange(0, 9))),
            (rng.choice(["新线索", "线索"]), rng.choice([str(rng.randrange(0, 5)), "２", "1个"])),
            ("新客户", str(rng.randrange(0, 3))),
            (rng.choice(["商机", "推进商机"]), str(rng.randrange(0, 4))),
            (rng.choice(["签约", "签约金额", "成交金额"]), _money(rng, zh)),
            (rng.choice(["回款", "回款金额"]), _money(rng, zh)),
        ]
        plan = [rng.choice(_ACTIONS_ZH).format(c=rng.choice(_CUSTOMERS)) for _ in range(rng.randrange(1, 4))]
        plan_label = rng.choice(["明日计划", "计划"])
        blocker = (rng.choice(["问题", "困难", "需要支持"]), rng.choice(_BLOCKERS_ZH))
    else:
        fields = [
            (rng.choice(["Visits", "visits", "VISITS"]), str(rng.randrange(0, 9))),
            (rng.choice(["New leads", "leads"]), str(rng.randrange(0, 5))),
            ("new customers", str(rng.randrange(0, 3))),
            (rng.choice(["Opportunities", "opps"]), str(rng.randrange(0, 4))),
            (rng.choice(["Signed", "revenue"]), _money(rng, zh)),
            ("Collected", _money(rng, zh)),
        ]
        plan = [rng.choice(_ACTIONS_EN).format(c=rng.choice(_CUSTOMERS)) for _ in range(rng.randrange(1, 4))]
        plan_label = rng.choice(["Plan", "tomorrow"])
        blocker = (rng.choice(["Blockers", "issues"]), rng.choice(_BLOCKERS_EN))
    rng.shuffle(fields)
    keep = rng.randrange(3, len(fields) + 1)
    for label, value in fields[:keep]:
        if rng.random() < 0.1:
            lines.append("")
        lines.append(f"{label}{colon}{value}")
    lines.append(f"{plan_label}{colon}{plan[0]}")
    lines.extend(("  " if rng.random() < 0.5 else "") + step for step in plan[1:])
    lines.append(f"{blocker[0]}{colon}{blocker[1]}")
    return "\n".join(lines) + ("\n" if rng.random() < 0.3 else "")


def _parse_all(reports: list[str]) -> int:
    fields = DEFAULT_FIELDS
    ok = 0
    for text in reports:
        try:
            parse_report(text, fields=fields, today=TODAY, max_age_days=7)
            ok += 1
        except ReportParseError:
            pass
    return ok


def _floor_all(reports: list[str]) -> int:
    lines = 0
    for text in reports:
        for line in text.splitlines():
            label, _, value = line.partition(":")
            if label:
                lines += 1
    return lines


def _best_seconds(work: Callable[[list[str]], int], reports: list[str], repeat: int) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = work(reports)
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> int:
    """Print parse throughput, the split+partition floor and their ratio; exit 1 below the goal."""
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--reports", type=int, default=5_000)
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--seed", type=int, default=20261123)
    args = options.parse_args(argv)

    rng = random.Random(args.seed)
    reports = [make_report(rng) for _ in range(args.reports)]
    total_lines = sum(len(text.splitlines()) for text in reports)

    _parse_all(reports[:200])  # warm the label index and regex caches
    parse_seconds, ok = _best_seconds(_parse_all, reports, args.repeat)
    floor_seconds, _ = _best_seconds(_floor_all, reports, args.repeat)
    if ok != len(reports):
        print(f"warning: {len(reports) - ok} generated reports did not parse", file=sys.stderr)

    parse_rate = len(reports) / parse_seconds
    floor_rate = len(reports) / floor_seconds
    floor_lines = total_lines / floor_seconds
    verdict = "PASS" if parse_rate >= GOAL_REPORTS_PER_SECOND else "FAIL"
    print(
        f"parse: {parse_rate:,.0f} reports/s ({len(reports):,} reports, {total_lines:,} lines, best of {args.repeat}); "
        f"floor (split+partition): {floor_lines:,.0f} lines/s = {floor_rate:,.0f} reports/s; "
        f"ratio floor/parse = {floor_rate / parse_rate:.1f}x; "
        f"goal >= {GOAL_REPORTS_PER_SECOND:,} reports/s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
