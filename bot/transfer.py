"""CLI glue for `salesbot import` and `salesbot export`: files, stderr, exit codes, progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    import_rows,
    read_table,
    to_csv,
    to_json,
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
        header, rows = read_table(data, filename=name)
        with _progress(len(rows), f"importing {kind}") as progress, app.db.unit_of_work() as session:
            now = app.clock.now()
            result = import_rows(session=session, kind=kind, header=header, rows=rows, now=now, progress=progress)
            audit.record(session, action=audit.Action.IMPORT, actor=audit.cli_actor(), source=audit.Source.CLI,
                         at=now, target=f"{kind} ({path.name})",
                         after={"kind": kind, "file": path.name, "rows": result.rows, "created": result.created,
                                "updated": result.updated})
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


def export_command(app: Any, kind: str, *, since: str | None, until: str | None, fmt: str) -> None:
    """Write one kind to stdout as CSV or a JSON list, UTF-8 without BOM."""
    start, end = _date_option("--since", since), _date_option("--until", until)
    if start and end and start > end:
        _fail([f"--since {start} is after --until {end}"])
    if (start or end) and kind not in DATED_KINDS:
        typer.echo(f"note: --since/--until do not apply to {kind} (the whole list is exported)", err=True)
    try:
        with app.db.unit_of_work() as session:
            columns, rows = export_rows(session=session, kind=kind, now=app.clock.now(),
                                        zone=app.settings.org.timezone, since=start, until=end)
    finally:
        app.close()
    text = to_json(columns, rows) if fmt == "json" else to_csv(columns, rows)
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()
