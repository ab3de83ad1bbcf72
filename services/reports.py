"""Daily reports: store one per person per team-local day, key actions, who has reported."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import DailyReport, Person
from services.fields import FieldDef
from services.report_fields import load_fields, set_value

__all__ = [
    "ParsedLike",
    "find_report",
    "report_template",
    "reported_person_ids",
    "save_key_actions",
    "submit_report",
]


class ParsedLike(Protocol):
    """What submit_report needs of a parsed report (handlers.parsing.ParsedReport fits)."""

    @property
    def day(self) -> date: ...

    @property
    def values(self) -> Mapping[str, Any]: ...


def find_report(*, session: Session, person_id: int, day: date) -> DailyReport | None:
    """Return the person's report row for a day, or None."""
    return session.scalar(select(DailyReport).where(DailyReport.person_id == person_id, DailyReport.day == day))


def _row_for(session: Session, person: Person, day: date, now: datetime) -> DailyReport:
    """Return the person's row for the day, creating it (race-safe) when missing."""
    row = find_report(session=session, person_id=person.id, day=day)
    if row is not None:
        return row
    row = DailyReport(person_id=person.id, team_id=person.team_id, day=day, extra={}, updated_at=now)
    savepoint = session.begin_nested()
    try:
        session.add(row)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        # another process created it in between: use theirs
        savepoint.rollback()
        found = find_report(session=session, person_id=person.id, day=day)
        assert found is not None
        row = found
    return row


def submit_report(*, session: Session, person: Person, parsed: ParsedLike, raw_text: str,
                  now: datetime, fields: tuple[FieldDef, ...] | None = None) -> tuple[DailyReport, bool]:
    """Store a parsed report as the person's one report of its day; True when it replaced one."""
    fields = fields if fields is not None else load_fields(session=session)
    row = _row_for(session, person, parsed.day, now)
    replaced = row.submitted_at is not None
    for fdef in fields:
        set_value(row, fdef, parsed.values.get(fdef.key))
    # admin fields that were removed since stay as they were; nothing typed is lost
    row.team_id = person.team_id
    row.raw_text = raw_text
    row.submitted_at = now
    row.updated_at = now
    session.flush()
    return row, replaced


def save_key_actions(*, session: Session, person: Person, day: date, actions: list[str],
                     now: datetime) -> DailyReport:
    """Store the day's key actions on the person's row for that day (the report may come later)."""
    row = _row_for(session, person, day, now)
    row.key_actions = list(actions)
    row.updated_at = now
    session.flush()
    return row


def reported_person_ids(*, session: Session, team_id: int, day: date) -> set[int]:
    """Return the ids of the team's people who have submitted a report for the day."""
    stmt = (
        select(DailyReport.person_id)
        .join(Person, Person.id == DailyReport.person_id)
        .where(Person.team_id == team_id, DailyReport.day == day, DailyReport.submitted_at.is_not(None))
    )
    return set(session.scalars(stmt))


_HEADER = {"zh": "日报", "en": "Daily report"}


def report_template(*, fields: tuple[FieldDef, ...], locale: str) -> str:
    """Return the blank report to copy, fill in and send: a header, then one `label:` line a field."""
    zh = locale.casefold().startswith("zh")
    sep = "：" if zh else ":"
    lines = [_HEADER["zh" if zh else "en"]]
    lines += [f"{fdef.label(locale)}{sep}" for fdef in fields]
    return "\n".join(lines)
