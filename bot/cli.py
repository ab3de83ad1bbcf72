"""The `salesbot` command line (typer)."""

from __future__ import annotations

import importlib
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bot.core.settings import ConfigError, Settings, load_settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="salesbot: the daily rhythm of regional sales teams, in WeCom and Slack.")
db_cli = typer.Typer(no_args_is_help=True, help="Database maintenance.")
cli.add_typer(db_cli, name="db")

_STATE: dict[str, Any] = {"config": None}

JOB_NAMES = ("morning", "reminder", "evening", "nudges", "weekly")
IMPORT_KINDS = ("regions", "teams", "users", "customers", "goals", "holidays")
EXPORT_KINDS = IMPORT_KINDS + ("reports", "visits", "collabs", "followups", "audit")


class UsageError(Exception):
    """Bad usage or bad input: message on stderr, exit 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings(_STATE["config"])
    except ConfigError as exc:
        fail(str(exc))


def make_app(**kwargs: Any) -> Any:
    from bot.wiring import App

    return App(settings(), **kwargs)


def _feature(module: str, issue: str) -> Any:
    """Import the module behind a command, or say plainly that it is not built yet."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            fail(f"this command is not built yet ({issue})")
        raise


@cli.callback()
def _root(
    config: Annotated[str | None, typer.Option("--config", help="Path to config.toml")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level")] = False,
) -> None:
    _STATE["config"] = config
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not run scheduled jobs here")] = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Run the HTTP server (Slack events, WeCom callback, /healthz, /metrics)."""
    mod = _feature("bot.http", "the platform adapters")
    mod.serve(settings(), host=host, port=port, scheduler=not no_scheduler, workers=workers,
              config_path=_STATE["config"])


@cli.command("slack-socket")
def slack_socket() -> None:
    """Run the Slack app in Socket Mode (no public URL needed)."""
    mod = _feature("bot.platforms.slack.socket", "the platform adapters")
    mod.run_socket_mode(make_app())


@cli.command()
def connect() -> None:
    """Run the long connections of every enabled platform (Slack Socket Mode, DingTalk Stream, Feishu)."""
    from bot.connect import run_connect
    from bot.http import configure_logging

    configure_logging()
    app = make_app()
    try:
        code = run_connect(app)
    finally:
        app.close()
    raise typer.Exit(code)


@cli.command()
def scheduler() -> None:
    """Run the scheduler alone (one per deployment)."""
    mod = _feature("bot.scheduler", "the scheduler")
    mod.run_forever(make_app())


@cli.command()
def chat(user: Annotated[str, typer.Option("--user", help="The user code to chat as")]) -> None:
    """Chat with the bot in the terminal as USER; a message ends at an empty line."""
    from bot.platforms.console import ConsolePort, read_messages, to_inbound
    from bot.wiring import App

    cfg = settings()
    port = ConsolePort(sys.stdout, me=user)
    app = App(cfg, ports=None)
    app.ports["console"] = port
    app.outbox.ports["console"] = port
    from sqlalchemy import select

    from models import Person

    with app.db.unit_of_work() as s:
        known = dict(s.execute(select(Person.code, Person.name)).all())
    if user not in known:
        fail(f"unknown user code {user!r}: import users.csv or run `salesbot demo` first"
             + (f" (known codes include: {', '.join(sorted(known)[:8])})" if known else ""))
    port.names = lambda code: known.get(code, code)
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo(f"salesbot chat as {known[user]} ({user}). End a message with an empty line; Ctrl-D quits.",
                   err=True)
    for message in read_messages(sys.stdin):
        app.dispatch(to_inbound(user, message))
    app.close()


@cli.command("run-job")
def run_job(
    name: Annotated[str, typer.Argument(help="morning | reminder | evening | nudges | weekly")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 time to run as (default now)")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team code")] = None,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, metavar="SECONDS",
        help="How long to keep delivering this run's messages that met a rate limit or an error "
             "(honouring Retry-After) before leaving them to the outbox of serve/scheduler; 0: not at all")] = 120,
) -> None:
    """Run a scheduled job now, as if the clock read --at."""
    if name not in JOB_NAMES:
        fail(f"unknown job {name!r}; the jobs are: {', '.join(JOB_NAMES)}")
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at: {at!r} is not an ISO 8601 time (expected e.g. 2026-11-23T18:30+08:00)")
    mod = _feature("bot.scheduler", "the scheduler")
    mod.run_job_command(settings(), name, at=when, team=team, wait=wait)


@cli.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help=" | ".join(IMPORT_KINDS))],
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8, BOM accepted), JSON list, or Excel .xlsx (first sheet)")],
) -> None:
    """Import a CSV, JSON or Excel file (upsert by code); nothing is written if any row is bad."""
    if kind not in IMPORT_KINDS:
        fail(f"unknown kind {kind!r}; import takes: {', '.join(IMPORT_KINDS)}")
    if not file.is_file():
        fail(f"{file}: no such file")
    mod = _feature("bot.transfer", "import/export")
    mod.import_command(make_app(), kind, file)


@cli.command()
def export(
    kind: Annotated[str, typer.Argument(help=" | ".join(EXPORT_KINDS))],
    since: Annotated[str | None, typer.Option("--since", help="From this date (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to this date (YYYY-MM-DD)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | json | xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")] = None,
) -> None:
    """Export (to stdout or --output): the import kinds (same columns) or reports, visits, collabs, followups,
    audit."""
    if kind not in EXPORT_KINDS:
        fail(f"unknown kind {kind!r}; export takes: {', '.join(EXPORT_KINDS)}")
    if fmt not in ("csv", "json", "xlsx"):
        fail(f"--format: {fmt!r} is not csv, json or xlsx")
    mod = _feature("bot.transfer", "import/export")
    mod.export_command(make_app(), kind, since=since, until=until, fmt=fmt, output=output)


@cli.command()
def doctor() -> None:
    """Check the configuration, the database and each enabled platform."""
    mod = _feature("bot.doctor", "doctor")
    raise typer.Exit(mod.run_doctor(_STATE["config"]))


@cli.command()
def demo() -> None:
    """Fill the database with a demo organisation and 60 workdays of history."""
    mod = _feature("bot.demo", "demo")
    mod.run_demo(make_app())


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic)."""
    from bot.core.db import Database

    cfg = settings()
    db = Database(cfg.database.url)
    db.upgrade()
    typer.echo("database is up to date")


def main() -> None:
    """Entry point: run the CLI; database and config problems become plain messages."""
    from sqlalchemy.exc import OperationalError

    try:
        cli()
    except OperationalError as exc:
        typer.echo(f"cannot use the database: {exc.orig.__class__.__name__}: "
                   f"{str(exc.orig).splitlines()[0] if exc.orig else exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
