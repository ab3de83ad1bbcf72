"""The one table component: columns with kinds, drill-down links, paging, CSV (BOM) and XLSX exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

PAGE_SIZE = 50
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Column:
    """One column: `kind` is text, number, money, pct, date or bool; `link(row)` makes a cell a drill-down."""

    key: str
    label: str
    kind: str = "text"
    link: Callable[[Mapping[str, Any]], str | None] | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "money", "pct")


@dataclass
class Table:
    """Rows (plain dicts of raw values) under columns; pages of PAGE_SIZE on screen, every row exported."""

    name: str
    title: str
    columns: list[Column]
    rows: Sequence[dict[str, Any]]  # a list, or a sequence that makes its rows when read
    page_size: int = PAGE_SIZE
    empty: str = ""
    page: int = 1
    shown: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 1
    links: dict[str, str] = field(default_factory=dict)  # prev, next, csv, xlsx

    def paginate(self, view: Any) -> None:
        """Pick the page asked for by `?page=` (`?NAME_page=` when a page has several tables)."""
        from bot.console.web import BadInput

        key = "page" if self.name == "main" else f"{self.name}_page"
        raw = view.param(key, "1") or "1"
        self.pages = max(1, -(-len(self.rows) // self.page_size))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise BadInput(key, raw, view.t("expected.page", pages=self.pages))
        number = int(raw)
        if number > self.pages:
            raise BadInput(key, raw, view.t("expected.page", pages=self.pages))
        self.page = number
        start = (number - 1) * self.page_size
        self.shown = self.rows[start:start + self.page_size]
        table_param = None if self.name == "main" else self.name
        if number > 1:
            self.links["prev"] = view.here(**{key: number - 1})
        if number < self.pages:
            self.links["next"] = view.here(**{key: number + 1})
        self.links["csv"] = view.here(format="csv", table=table_param, **{key: None})
        self.links["xlsx"] = view.here(format="xlsx", table=table_param, **{key: None})

    def cell_link(self, column: Column, row: Mapping[str, Any]) -> str | None:
        return column.link(row) if column.link is not None else None


def _plain(value: Any) -> Any:
    """A value as exported: numbers stay numbers, dates ISO, None empty; a progress cell is its percentage."""
    if isinstance(value, Mapping):  # kind "progress": {"pct": 达成率, "time": 时间进度}; the bar is for the screen
        value = value.get("pct")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _filename(table: Table, filters: Mapping[str, str], ext: str) -> str:
    parts = [table.name] + [f"{k}-{v}" for k, v in filters.items() if v]
    stem = re.sub(r"[^\w\-]+", "_", "_".join(parts), flags=re.UNICODE).strip("_") or "export"
    return f"{stem}.{ext}"


def to_csv(table: Table) -> bytes:
    """UTF-8 with a BOM, so Excel in Chinese opens it as it is."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow([_plain(row.get(c.key)) for c in table.columns])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def to_xlsx(table: Table, filters: Mapping[str, str], translate: Callable[..., str]) -> bytes:
    """A workbook: the rows on the first sheet, the filters that chose them on a second."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(table.title or table.name))
    sheet.append([c.label for c in table.columns])
    for row in table.rows:
        out = []
        for c in table.columns:
            value = _plain(row.get(c.key))
            if isinstance(value, Decimal):
                value = float(value) if c.kind in ("pct", "progress") else value
            out.append(value)
        sheet.append(out)
    meta = book.create_sheet(title=_sheet_title(translate("export.filters")))
    for key, value in filters.items():
        meta.append([key, value])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _sheet_title(text: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", text)[:31] or "sheet"


def export_response(table: Table, fmt: str, filters: Mapping[str, str], translate: Callable[..., str]) -> Response:
    if fmt == "csv":
        data, media = to_csv(table), "text/csv; charset=utf-8"
    else:
        data = to_xlsx(table, filters, translate)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = _filename(table, filters, fmt)
    ascii_name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    return Response(data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
