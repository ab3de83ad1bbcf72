"""format_money and format_number: how amounts and counts read in each locale (12.5万 / 125,000, 95,238.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.rendering import Renderer, format_money, format_number


@pytest.mark.parametrize(("value", "zh", "en"), [
    ("0", "0", "0"),
    ("0.4", "0", "0"),
    ("0.5", "1", "1"),
    ("157.89", "158", "158"),  # a run rate: as whole as any other amount
    ("800", "800", "800"),
    ("3473.68", "3,474", "3,474"),
    ("9999", "9,999", "9,999"),
    ("9999.5", "1万", "10,000"),
    ("10000", "1万", "10,000"),
    ("12345", "1.23万", "12,345"),
    ("125000", "12.5万", "125,000"),
    ("125000.00", "12.5万", "125,000"),
    ("1000000", "100万", "1,000,000"),
    ("99994999", "9999.5万", "99,994,999"),
    ("99999999", "1亿", "99,999,999"),  # not 10000万
    ("120000000", "1.2亿", "120,000,000"),
    ("-125000", "-12.5万", "-125,000"),
    ("-157.89", "-158", "-158"),
    ("-0.2", "0", "0"),
])
def test_money_in_each_locale(value: str, zh: str, en: str) -> None:
    assert format_money(Decimal(value), "zh-CN") == zh
    assert format_money(Decimal(value), "en") == en


def test_money_accepts_ints_strings_and_none() -> None:
    assert format_money(125000, "zh-CN") == "12.5万"
    assert format_money("125000.00", "en") == "125,000"
    assert format_money(None, "en") == "0"


def test_money_filter_in_a_template() -> None:
    renderer = Renderer(lambda name, locale: "{{ x|money(locale) }}")
    assert renderer.render("any", "zh-CN", x=Decimal("125000")) == "12.5万"
    assert renderer.render("any", "en", x=Decimal("125000")) == "125,000"


@pytest.mark.parametrize(("value", "shown"), [
    ("3", "3"),
    ("12000", "12,000"),
    ("95238.1", "95,238.1"),  # a count's run rate: separated like a whole number
    ("95238.104", "95,238.1"),
    ("2.5", "2.5"),
    ("0.333", "0.33"),
    ("99.999", "100"),
    ("-1234.5", "-1,234.5"),
])
def test_counts_keep_thousands_separators_with_decimals(value: str, shown: str) -> None:
    assert format_number(Decimal(value)) == shown
