"""CLI glue for `salesbot import` and `salesbot export`: files, stderr, exit codes, progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import typer

from services import audit
from services.transfer import (
    DATED_KINDS,
    ImportProblems,
    Progress,
    export_rows,
    import_file,
    to_csv,
    to_json,
    to_xlsx,
)

PROGRESS_ROWS = 1000


def _fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Progress]:
    """Yield a callback that advances a rich progress bar on stderr, shown on a TTY or for big files."""
    if total < PROGRESS_ROWS and not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
             console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def import_command(app: Any, kind: str, path: Path) -> None:
    """Validate the whole file, then upsert it in one transaction; report every bad row and exit 2."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail([f"{name}: cannot read the file: {exc.strerror or exc}"])
    try:
        with ExitStack() as bars, app.db.unit_of_work() as session:
            result = import_file(session=session, kind=kind, data=data, filename=name, now=app.clock.now(),
                                 actor=audit.cli_actor(), source=audit.Source.CLI,
                                 progress=lambda total: bars.enter_context(_progress(total, f"importing {kind}")))
    except ImportProblems as exc:
        lines = exc.lines(name)
        lines.append(f"{name}: nothing was imported ({len(exc.problems)} problem(s); fix them and run again)")
        _fail(lines)
    finally:
        app.close()
    typer.echo(f"{name}: {result.rows} {kind} row(s): {result.created} created, {result.updated} updated")


def _date_option(option: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail([f"{option}: {value!r} is not a date (expected YYYY-MM-DD, e.g. 2026-11-01)"])


def export_command(app: Any, kind: str, *, since: str | None, until: str | None, fmt: str,
                   output: Path | None = None) -> None:
    """Write one kind as CSV, a JSON list (UTF-8 without BOM) or an Excel workbook, to stdout or `output`."""
    start, end = _date_option("--since", since), _date_option("--until", until)
    if start and end and start > end:
        _fail([f"--since {start} is after --until {end}"])
    if fmt == "xlsx" and output is None:
        _fail([f"--format xlsx writes a workbook: name it with --output FILE.xlsx (e.g. --output {kind}.xlsx)"])
    if (start or end) and kind not in DATED_KINDS:
        typer.echo(f"note: --since/--until do not apply to {kind} (the whole list is exported)", err=True)
    try:
        with app.db.unit_of_work() as session:
            columns, rows = export_rows(session=session, kind=kind, now=app.clock.now(),
                                        zone=app.settings.org.timezone, since=start, until=end)
    finally:
        app.close()
    if fmt == "xlsx":
        data = to_xlsx(columns, rows, title=kind)
    else:
        data = (to_json(columns, rows) if fmt == "json" else to_csv(columns, rows)).encode("utf-8")
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        _fail([f"{output}: cannot write the file: {exc.strerror or exc}"])
    typer.echo(f"{output}: {len(rows)} {kind} row(s)", err=True)
