"""Team rankings of the sellers by any report metric, with who has reported."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Select, and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from models import DailyReport, Person, Team
from services.goals import COLUMN_KEYS, _num, metric_totals
from services.reports import reported_person_ids
from services.sellers import seller_condition, seller_periods

__all__ = ["Standing", "team_ranking"]


@dataclass
class Standing:
    rank: int
    person_id: int
    code: str
    name: str
    value: Decimal
    reported: bool

    def as_dict(self) -> dict[str, Any]:
        """Return plain data for templates."""
        return asdict(self)


@functools.cache
def _column_ranking(metric: str, periods: int) -> Select[Any]:
    """The one-query ranking for a report column, built once per metric and number of seller periods
    (building it costs more than running it; plain binds are cheaper per run than an expanding IN)."""
    end = bindparam("end", type_=Date)
    span = and_(DailyReport.person_id == Person.id, DailyReport.day >= bindparam("start", type_=Date),
                DailyReport.day <= end, DailyReport.submitted_at.is_not(None))
    return (select(Person.id, Person.code, Person.name, func.sum(getattr(DailyReport, metric)),
                   func.max(case((DailyReport.day == end, 1), else_=0)))
            .outerjoin(DailyReport, span)
            .where(Person.team_id == bindparam("team_id"), Person.active.is_(True),
                   seller_condition([bindparam(f"period_{i}") for i in range(periods)]))
            .group_by(Person.id, Person.code, Person.name))


def team_ranking(*, session: Session, team: Team, metric: str, start: date, end: date) -> list[Standing]:
    """Rank the team's sellers (services.sellers) by a metric from start to end; ties share a rank (1, 1, 3)."""
    periods = seller_periods(start, end)
    if metric in COLUMN_KEYS:  # one query (the evening job runs this for every team: bench/leaderboard.py)
        params = {"team_id": team.id, "start": start, "end": end}
        params.update((f"period_{i}", p) for i, p in enumerate(periods))
        statement = _column_ranking(metric, len(periods))
        session.flush()  # what the session holds counts, as with session.execute()
        rows = [(pid, code, name, _num(total), bool(on_end))
                # On the session's connection: a Core select needs none of the ORM's result handling.
                for pid, code, name, total, on_end in session.connection().execute(statement, params)]
    else:
        people = list(session.execute(select(Person.id, Person.code, Person.name).where(
            Person.team_id == team.id, Person.active.is_(True), seller_condition(periods))))
        totals = metric_totals(session=session, person_ids=[p.id for p in people], metric=metric, start=start,
                               end=end)
        reported = reported_person_ids(session=session, team_id=team.id, day=end)
        rows = [(p.id, p.code, p.name, totals[p.id], p.id in reported) for p in people]
    rows.sort(key=lambda r: (-r[3], r[1]))
    out: list[Standing] = []
    for i, (pid, code, name, value, reported_on_end) in enumerate(rows):
        rank = out[-1].rank if out and out[-1].value == value else i + 1
        out.append(Standing(rank, pid, code, name, value, reported_on_end))
    return out
