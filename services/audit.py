"""The audit log: who changed what and when, recorded in the same transaction as the change.

Every change an admin or manager makes to how the bot works or to the organisation's data is
recorded here, from chat, the web console and the command line alike: template edits and
rollbacks, report field changes, goals set and splits applied, collaboration decisions, imports
and console sign-ins. Call `record` with the session that makes the change, after the change and
before the commit: if the change is refused or rolled back, its audit row goes with it, and a
change that is committed always has its row.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import AuditEntry, Person

if TYPE_CHECKING:
    from bot.core.context import Context

__all__ = [
    "COLUMNS",
    "Action",
    "Source",
    "cli_actor",
    "entries",
    "export_rows",
    "record",
    "record_chat",
    "source_of",
]


class Action(StrEnum):
    """What was done. Stored as text: a new kind of change needs no migration."""

    TEMPLATE_SAVE = "template.save"
    TEMPLATE_ROLLBACK = "template.rollback"
    TEMPLATE_RESET = "template.reset"  # a rollback to the shipped default (version 0)
    FIELD_ADD = "field.add"
    FIELD_ALIAS = "field.alias"
    FIELD_RENAME = "field.rename"
    FIELD_MOVE = "field.move"  # the console's report fields page: a field to another place
    GOAL_SET = "goal.set"
    GOAL_SPLIT_APPLY = "goal.split_apply"
    COLLAB_APPROVE = "collab.approve"
    COLLAB_REJECT = "collab.reject"
    IMPORT = "import"
    CONSOLE_SIGN_IN = "console.sign_in"


class Source(StrEnum):
    """Where a change came from besides a chat platform (whose name is the source)."""

    CONSOLE = "console"  # the web console (看板)
    CLI = "cli"  # a `salesbot` command (import, ...)
    TERMINAL = "terminal"  # `salesbot chat`, the chat platform named "console" in the code
    SYSTEM = "system"  # the bot itself (a job)


COLUMNS = ("id", "at", "actor", "actor_name", "source", "action", "target", "before", "after")
_TEXT_LIMIT = {"actor": 200, "target": 255}


def source_of(platform: str) -> str:
    """Return the audit source of a change made in chat on `platform`."""
    return Source.TERMINAL.value if platform == "console" else platform


def cli_actor() -> str:
    """Return who runs a command-line change: `cli:` and the operating system user, else `cli`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return Source.CLI.value
    return f"{Source.CLI.value}:{user}"[:200]


def _plain(value: Any) -> Any:
    """Return `value` as JSON can store it: amounts as exact strings, days and times as ISO text."""
    if isinstance(value, Decimal):
        text = f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def record(session: Session, *, action: str, actor: Person | str, source: str, at: datetime, target: str = "",
           before: Any = None, after: Any = None) -> AuditEntry:
    """Record one change in the audit log, in the caller's transaction (call it after the change, before commit).

    - `action`: what was done, an `Action` (e.g. `Action.TEMPLATE_SAVE`); any short text for a new kind.
    - `actor`: the `Person` who did it, or a label when no person did: `cli_actor()` for the command
      line, `Source.SYSTEM` for the bot itself.
    - `source`: where: `source_of(inbound.platform)` in chat, `Source.CONSOLE` on the web console,
      `Source.CLI` on the command line.
    - `at`: when (an aware datetime; the caller's clock, so tests and `--at` agree).
    - `target`: what was changed, in words an admin can search (`report_reply zh-CN`,
      `user zhang 2026-11 signed_amount`, `collab 12`, `users (users.csv)`).
    - `before` / `after`: the state before and after where it applies (a dict or a value; None when
      there was nothing before, or nothing to show). Decimals, dates and datetimes are stored as text.

    Returns the new row (flushed, so it has its id). Nothing is committed here: if the change is
    refused or rolled back, its audit row goes with it.
    """
    if isinstance(actor, Person):
        actor_id, label = actor.id, actor.code
    else:
        actor_id, label = None, str(actor)
    entry = AuditEntry(at=at, actor_id=actor_id, actor=label[:_TEXT_LIMIT["actor"]], source=str(source)[:16],
                       action=str(action)[:32], target=target[:_TEXT_LIMIT["target"]],
                       before=_plain(before), after=_plain(after))
    session.add(entry)
    session.flush()
    return entry


def record_chat(ctx: Context, action: str, *, target: str = "", before: Any = None,
                after: Any = None) -> AuditEntry:
    """Record a change made in chat by the person who wrote (`record` with the context's session and clock)."""
    assert ctx.person is not None and ctx.inbound is not None
    return record(ctx.session, action=action, actor=ctx.person, source=source_of(ctx.inbound.platform),
                  at=ctx.now(), target=target, before=before, after=after)


def entries(session: Session, *, since: date | None = None, until: date | None = None, zone: str = "Asia/Shanghai",
            actions: Sequence[str] = (), actor: str | None = None, source: str | None = None,
            text: str | None = None, limit: int | None = None, offset: int = 0) -> list[AuditEntry]:
    """Return audit rows, newest first, filtered: days in `zone` (inclusive), actions, actor code, source, text.

    `actions` may name a whole family by its prefix (`template` matches `template.edit` and
    `template.rollback`); `text` is searched in the target.
    """
    tz = ZoneInfo(zone)
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if since is not None:
        query = query.where(AuditEntry.at >= datetime.combine(since, time(), tz))
    if until is not None:
        query = query.where(AuditEntry.at < datetime.combine(until + timedelta(days=1), time(), tz))
    if actions:
        conditions = []
        for name in actions:
            conditions.append(AuditEntry.action == name)
            if "." not in name:
                conditions.append(AuditEntry.action.startswith(name + ".", autoescape=True))
        query = query.where(or_(*conditions))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if source:
        query = query.where(AuditEntry.source == source)
    if text:
        query = query.where(AuditEntry.target.contains(text, autoescape=True))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def export_rows(session: Session, *, since: date | None = None, until: date | None = None,
                zone: str = "Asia/Shanghai") -> tuple[list[str], list[dict[str, Any]]]:
    """Return the audit log as export rows (oldest first), the days in `zone` inclusive."""
    rows = entries(session, since=since, until=until, zone=zone)
    names = {pid: name for pid, name in session.execute(
        select(Person.id, Person.name).where(Person.id.in_({e.actor_id for e in rows if e.actor_id})))}
    out = [{"id": e.id, "at": e.at, "actor": e.actor, "actor_name": names.get(e.actor_id, "") if e.actor_id else "",
            "source": e.source, "action": e.action, "target": e.target, "before": e.before, "after": e.after}
           for e in reversed(rows)]
    return list(COLUMNS), out
