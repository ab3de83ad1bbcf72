"""Tables in and out: CSV, JSON and Excel files read into numbered rows of text, and rows written back.

Reading gives every file the same shape, a header and `Row`s of stripped text with the line a
person would look for: the CSV line, the Excel row, the JSON item (counted from 1). Whatever is
wrong with the file itself is raised as `ImportProblems` with that line.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

__all__ = [
    "ImportProblems",
    "Problem",
    "Row",
    "cell_text",
    "plain",
    "read_table",
    "to_csv",
    "to_json",
    "to_xlsx",
]

XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (line, column) and what, with what was expected.

    `message` is in English (the command line's words); `code` and `args` say the same for another language
    (the console's `imp.problem.CODE` with these values). Build one with `Problem.say`.
    """

    line: int
    column: str
    message: str
    code: str = field(default="", compare=False)
    args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def say(cls, line: int, column: str, code: str, english: str, /, **args: Any) -> Problem:
        """A problem whose message is `english` filled in with `args` (`{value!r} is not ...`)."""
        return cls(line, column, english.format(**args), code, args)

    def format(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportProblems(Exception):
    """The file has problems; nothing from it was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))

    def lines(self, filename: str) -> list[str]:
        return [p.format(filename) for p in self.problems]


@dataclass(frozen=True)
class Row:
    """One line of a file: its number as the person sees it, and its values as stripped text by column."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


def plain(value: Decimal) -> str:
    """Return a Decimal without exponent or trailing zeros (500000.00 -> 500000)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# ---------------------------------------------------------------------------
# reading


def read_table(data: bytes, *, filename: str = "") -> tuple[list[str], list[Row]]:
    """Read a CSV (UTF-8, BOM accepted), a JSON list of objects or an Excel workbook (first sheet)."""
    if filename.lower().endswith(".xlsx") or data.startswith(XLSX_MAGIC):
        return _read_xlsx(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblems([Problem.say(0, "", "not_utf8", "not UTF-8 text (byte {byte} cannot be read); save the "
                                                             "file as UTF-8 CSV or as an Excel workbook (.xlsx)",
                                          byte=exc.start)]) from None
    if filename.lower().endswith(".json") or text.lstrip().startswith("["):
        return _read_json(text)
    return _read_csv(text)


def _rows(header: list[str], lines: Iterable[tuple[int, list[str]]], problems: list[Problem]) -> list[Row]:
    """Number the non-empty lines; a line with more values than the header has columns is a problem."""
    rows = []
    for line, values in lines:
        if not any(values):
            continue
        extra = [i for i, v in enumerate(values) if v and (i >= len(header) or not header[i])]
        if extra:
            problems.append(Problem.say(line, "", "too_many_values", "{values} values but the header has {columns} "
                                        "columns (quote a value that contains a comma; give every column a name)",
                                        values=len(values), columns=len(header)))
            continue
        rows.append(Row(line, {h: (values[i] if i < len(values) else "") for i, h in enumerate(header) if h}))
    return rows


def _read_csv(text: str) -> tuple[list[str], list[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportProblems([Problem.say(1, "", "empty_file", "the file is empty (expected a header row)")]) from None
    except csv.Error as exc:
        raise ImportProblems([Problem.say(1, "", "bad_header_row", "cannot read the header row: {error}",
                                          error=exc)]) from None
    problems: list[Problem] = []

    def lines() -> Iterable[tuple[int, list[str]]]:
        line = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.append(Problem.say(line, "", "bad_csv_line", "cannot read this line as CSV: {error}",
                                            error=exc))
                return
            yield line, [v.strip() for v in values]
            line = reader.line_num + 1

    rows = _rows(header, lines(), problems)
    if problems:
        raise ImportProblems(problems)
    return header, rows


def cell_text(value: Any) -> str:
    """A JSON value or an Excel cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(cell_text(v) for v in value)
    return str(value).strip()


def _read_json(text: str) -> tuple[list[str], list[Row]]:
    try:
        items = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportProblems([Problem.say(exc.lineno, "", "bad_json", "not valid JSON: {error}",
                                          error=exc.msg)]) from None
    if not isinstance(items, list):
        raise ImportProblems([Problem.say(1, "", "not_json_list", "expected a JSON list of objects")])
    bad = [Problem.say(n, "", "not_json_object", "expected an object (item numbers count from 1)")
           for n, item in enumerate(items, start=1) if not isinstance(item, dict)]
    if bad:
        raise ImportProblems(bad)
    header = list(dict.fromkeys(str(k) for item in items for k in item))
    return header, [Row(n, {str(k): cell_text(v) for k, v in item.items()}) for n, item in enumerate(items, start=1)]


def _read_xlsx(data: bytes) -> tuple[list[str], list[Row]]:
    """The first sheet of a workbook, read-only; line numbers are Excel's row numbers."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise ImportProblems([Problem.say(0, "", "not_xlsx", "not an Excel workbook that can be read ({error}); save "
                                                             "it again as .xlsx, or as CSV UTF-8", error=exc)]) from None
    try:
        sheet = book.worksheets[0]
        cells = ((number, [cell_text(v) for v in values])
                 for number, values in enumerate(sheet.iter_rows(values_only=True), start=1))
        first = next(cells, None)
        if first is None or not any(first[1]):
            raise ImportProblems([Problem.say(1, "", "empty_first_row", "the first row is empty (expected the header "
                                                                        "row)")])
        header = first[1]
        while not header[-1]:
            header.pop()
        problems: list[Problem] = []
        rows = _rows(header, cells, problems)
    finally:
        book.close()
    if problems:
        raise ImportProblems(problems)
    return header, rows


# ---------------------------------------------------------------------------
# writing


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Render rows as CSV text (header first, `\\n` line ends, no BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        # Only hand out a float when it prints back as exactly this amount (no float noise).
        return as_float if Decimal(repr(as_float)) == value else plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def to_json(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Render rows as a JSON list of objects with the columns in order."""
    items = [{c: _json_value(row.get(c)) for c in columns} for row in rows]
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def to_xlsx(columns: Sequence[str], rows: Iterable[dict[str, Any]], *, title: str = "export") -> bytes:
    """Render rows as an Excel workbook: one sheet, the header row, then one row each.

    Amounts are numbers, days are date cells, times ISO text (Excel has no time zones); a text
    that starts with `=` stays text, never a formula. `read_table` reads it back unchanged.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "export")

    def cell(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | Decimal):
            return value
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            out = WriteOnlyCell(sheet, value)
            out.number_format = "yyyy-mm-dd"
            return out
        text = ILLEGAL_CHARACTERS_RE.sub("", _csv_cell(value))
        if text.startswith("="):
            out = WriteOnlyCell(sheet, text)
            out.data_type = "s"
            return out
        return text

    sheet.append(list(columns))
    for row in rows:
        sheet.append([cell(row.get(c)) for c in columns])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
