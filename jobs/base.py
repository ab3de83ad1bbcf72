"""What a job gets and returns: the unit of work's context, the team's day, the messages to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.context import Context, team_locale
from bot.core.settings import Settings
from bot.core.types import Outbound
from models import Person, Team
from services.calendar import WorkCalendar
from services.sellers import sellers


@dataclass
class JobResult:
    """What one job did for one team and day."""

    processed: int = 0
    enqueued: int = 0
    skipped: int = 0


@dataclass
class JobContext:
    """One job run's view: the context for rendering, the calendar, and the messages it queues."""

    job: str
    ctx: Context
    calendar: WorkCalendar
    now: datetime
    messages: list[Outbound] = field(default_factory=list)

    @property
    def session(self) -> Session:
        return self.ctx.session

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def key(self, team: Team, day: date, suffix: str) -> str:
        """Return the outbox key of one message of this run: job:{name}:{team}:{day}:{suffix}."""
        return f"job:{self.job}:{team.code}:{day.isoformat()}:{suffix}"

    def send(self, message: Outbound) -> None:
        self.messages.append(message)

    def team_locale(self, team: Team) -> str:
        return team_locale(team, self.settings)

    def sellers(self, team: Team, day: date) -> list[Person]:
        """Return the team's sellers on `day` (reps, and managers/admins with a personal goal), by code."""
        return sellers(session=self.session, team=team, start=day)

    def members(self, team: Team) -> list[Person]:
        """Return everyone active on the team (sellers or not: whose customers managers hear about), by code."""
        return list(self.session.scalars(
            select(Person).where(Person.team_id == team.id, Person.active.is_(True)).order_by(Person.code)
        ))
