"""Team rankings by any report metric, with who has reported."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Person, Role, Team
from services.goals import metric_totals
from services.reports import reported_person_ids

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


def team_ranking(*, session: Session, team: Team, metric: str, start: date, end: date) -> list[Standing]:
    """Rank the team's active people by a metric from start to end; ties share a rank (1, 1, 3)."""
    people = list(session.scalars(
        select(Person).where(Person.team_id == team.id, Person.active.is_(True), Person.role != Role.ADMIN)
    ))
    totals = metric_totals(session=session, person_ids=[p.id for p in people], metric=metric, start=start, end=end)
    reported = reported_person_ids(session=session, team_id=team.id, day=end)
    people.sort(key=lambda p: (-totals[p.id], p.code))
    out: list[Standing] = []
    for i, p in enumerate(people):
        rank = out[-1].rank if out and out[-1].value == totals[p.id] else i + 1
        out.append(Standing(rank, p.id, p.code, p.name, totals[p.id], p.id in reported))
    return out
