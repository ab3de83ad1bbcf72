"""Amounts and counts as people type them: `12.5万`, `¥125,000`, `125k`, `7个` (pure, no I/O).

Shared by the chat's parsing (handlers/parsing.py) and the services and console that take the same
input (a goal's target typed in the web console reads like one typed in `/goal set`).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["MAX_COUNT", "MAX_MONEY", "ChineseNumeralError", "parse_amount", "parse_count", "parse_money"]

MAX_COUNT = 2**31 - 1
MAX_MONEY = Decimal(10) ** 15
_MAX_COUNT = MAX_COUNT
_MAX_MONEY = MAX_MONEY
_CENT = Decimal("0.01")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


_MONEY_RE = re.compile(
    r"""
    (?:[¥$]|rmb|cny)?
    (?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?
    (?:\.(?P<frac>[0-9]+))?
    (?P<unit>万|亿|千|百|k|m|w)?
    (?:元|块|rmb|cny)?
    """,
    re.VERBOSE,
)
_MONEY_UNITS: dict[str | None, Decimal] = {
    None: Decimal(1),
    "百": Decimal(100),
    "千": Decimal(1000),
    "k": Decimal(1000),
    "万": Decimal(10_000),
    "w": Decimal(10_000),
    "m": Decimal(1_000_000),
    "亿": Decimal(100_000_000),
}


def parse_money(text: str) -> Decimal:
    """Parse an amount like `125,000`, `¥125,000`, `12.5万`, `1.2亿`, `125k`, `1.25M`.

    Raise ValueError for negative amounts and anything that is not an amount.
    """
    norm = "".join(_nfkc(text).casefold().split())
    match = _MONEY_RE.fullmatch(norm)
    if match is None or (match["int"] is None and match["frac"] is None):
        raise ValueError(f"not an amount: {text!r}")
    whole = (match["int"] or "0").replace(",", "")
    if len(whole.lstrip("0")) > 15:
        raise ValueError(f"amount too large: {text!r}")
    try:
        amount = Decimal(f"{whole}.{match['frac'] or '0'}") * _MONEY_UNITS[match["unit"]]
        if amount >= _MAX_MONEY:
            raise ValueError(f"amount too large: {text!r}")
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the length check
        raise ValueError(f"not an amount: {text!r}") from exc


class ChineseNumeralError(ValueError):
    """A count written in Chinese numerals; `value` is the arabic number when it can be read."""

    def __init__(self, text: str, value: int | None) -> None:
        super().__init__(f"Chinese numerals in count: {text!r}")
        self.text = text
        self.value = value


_COUNT_SUFFIXES = "个次家条位人单场件"
_COUNT_RE = re.compile(rf"([0-9]{{1,3}}(?:,[0-9]{{3}})+|[0-9]+)[{_COUNT_SUFFIXES}]?")
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_NUMERAL_RE = re.compile(rf"([{''.join(_CN_DIGITS)}{''.join(_CN_UNITS)}万]+)[{_COUNT_SUFFIXES}]?")


def _chinese_numeral_value(text: str) -> int | None:
    """Return the value of a Chinese numeral like 三, 十二, 两百零五, 一万二千, or None."""
    if not any(ch in _CN_UNITS or ch == "万" for ch in text):
        # 三 or 一二 (digit by digit)
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = section = 0
    number: int | None = None
    for ch in text:
        if ch in _CN_DIGITS:
            if number is not None and number != 0 and _CN_DIGITS[ch] != 0:
                return None  # two digits with no unit between them: 三四十
            number = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (1 if number is None else number) * _CN_UNITS[ch]
            number = None
        else:  # 万
            section += number or 0
            if section == 0 and total == 0:
                return None
            total += section * 10_000
            section = 0
            number = None
    return total + section + (number or 0)


def parse_count(text: str) -> int:
    """Parse a non-negative whole number (full width and a unit word like 个/次/家 allowed).

    Raise ChineseNumeralError for Chinese numerals (三, 十二) so the caller can hint at the
    arabic form, ValueError for anything else that is not a count.
    """
    norm = "".join(_nfkc(text).split())
    match = _COUNT_RE.fullmatch(norm)
    if match is not None:
        value = int(match[1].replace(",", ""))
        if value > _MAX_COUNT:
            raise ValueError(f"count too large: {text!r}")
        return value
    cn = _CN_NUMERAL_RE.fullmatch(norm)
    if cn is not None:
        raise ChineseNumeralError(text, _chinese_numeral_value(cn[1]))
    raise ValueError(f"not a count: {text!r}")


def parse_amount(text: str, *, count: bool) -> Decimal:
    """Read a goal amount or a figure as people type it: a count (`12`, `12个`, `1,200`) or an amount of money.

    A count may also be written like money (`1.2万`); ValueError for anything else, including Chinese
    numerals (`三`, a ChineseNumeralError).
    """
    if not count:
        return parse_money(text)
    try:
        return Decimal(parse_count(text))
    except ChineseNumeralError:
        raise
    except ValueError:
        return parse_money(text)
