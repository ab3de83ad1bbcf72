"""The console's parts: locale files agree, vendored files are what we pinned, tables export as promised."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from decimal import Decimal
from importlib.resources import files

from openpyxl import load_workbook

from bot.console import assets
from bot.console.i18n import LOCALES, catalogue
from bot.console.tables import Column, Table, to_csv, to_xlsx

HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_locales_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalogue("zh-CN"), catalogue("en")
    assert set(zh) == set(en)
    import string

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for key in zh:
        assert fields(zh[key]) == fields(en[key]), key
    assert LOCALES == ("zh-CN", "en")
    for locale in LOCALES:  # valid JSON objects of strings
        data = json.loads(files("bot.console").joinpath("locales", f"{locale}.json").read_text("utf-8"))
        assert all(isinstance(v, str) for v in data.values())


def test_vendored_htmx_is_the_pinned_file_and_urls_are_content_hashed() -> None:
    data = files("bot.console").joinpath("static", "htmx-2.0.11.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    url = assets.url("htmx-2.0.11.min.js")
    assert url == f"/console/static/htmx-2.0.11.min.{HTMX_SHA256[:12]}.js"
    css = assets.url("console.css")
    assert css.startswith("/console/static/console.") and css.endswith(".css")
    assert files("bot.console").joinpath("static", "htmx.LICENSE.txt").is_file()


def _table() -> Table:
    return Table("main", "排行", [Column("name", "人员"), Column("value", "签约", "money"),
                                 Column("pct", "达成率", "pct")],
                 [{"name": "张伟", "value": Decimal("125000.50"), "pct": Decimal("40.0")},
                  {"name": 'O"Brien, 李', "value": Decimal(0), "pct": None}])


def test_csv_has_a_bom_and_every_row() -> None:
    data = to_csv(_table())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows == [["人员", "签约", "达成率"], ["张伟", "125000.50", "40.0"], ['O"Brien, 李', "0", ""]]


def test_xlsx_has_the_rows_and_the_filters() -> None:
    data = to_xlsx(_table(), {"period": "2026-11", "region": "east"}, lambda key: "筛选条件")
    book = load_workbook(io.BytesIO(data))
    sheet, meta = book.worksheets
    assert [c.value for c in sheet[1]] == ["人员", "签约", "达成率"]
    assert sheet["A2"].value == "张伟" and sheet["B2"].value == 125000.5
    assert meta.title == "筛选条件" and [[c.value for c in r] for r in meta.iter_rows()] == [
        ["period", "2026-11"], ["region", "east"]]
