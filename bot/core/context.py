"""What a handler or job gets: the session, the person, the clock, the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import refcache
from bot.core.clock import Clock
from bot.core.rendering import Renderer
from bot.core.settings import Settings
from bot.core.types import Button, Inbound, Outbound, ToPerson, ToTeam
from models import Person, Team, TemplateVersion


def template_overrides(session: Session) -> Renderer:
    """A renderer that prefers the newest admin version stored in the database."""
    cache: dict[tuple[str, str], str | None] = {}

    def lookup(name: str, locale: str) -> str | None:
        if (name, locale) not in cache:
            cache[(name, locale)] = refcache.get(session, ("template", name, locale), lambda: session.scalar(
                select(TemplateVersion.body)
                .where(TemplateVersion.name == name, TemplateVersion.locale == locale)
                .order_by(TemplateVersion.version.desc())
                .limit(1)
            ))
        return cache[(name, locale)]

    return Renderer(lookup)


def person_locale(person: Person | None, settings: Settings) -> str:
    if person is not None:
        if person.locale:
            return person.locale
        if person.team is not None and person.team.locale:
            return person.team.locale
    return settings.org.locale


def team_locale(team: Team | None, settings: Settings) -> str:
    return (team.locale if team is not None and team.locale else None) or settings.org.locale


def team_zone(team: Team | None, settings: Settings) -> ZoneInfo:
    return ZoneInfo((team.timezone if team is not None and team.timezone else None) or settings.org.timezone)


@dataclass
class Context:
    """One unit of work's view of the world."""

    session: Session
    settings: Settings
    clock: Clock
    renderer: Renderer
    person: Person | None = None
    inbound: Inbound | None = None
    command: str | None = None
    rest: str = ""  # everything after the command word
    extra: dict[str, Any] = field(default_factory=dict)

    # -- time ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def team(self) -> Team | None:
        return self.person.team if self.person is not None else None

    def zone(self, team: Team | None = None) -> ZoneInfo:
        return team_zone(team or self.team, self.settings)

    def today(self, team: Team | None = None) -> date:
        """Return the team-local date now."""
        return self.now().astimezone(self.zone(team)).date()

    # -- words --------------------------------------------------------------------------
    @property
    def locale(self) -> str:
        return person_locale(self.person, self.settings)

    def locale_of(self, person: Person) -> str:
        return person_locale(person, self.settings)

    def render(self, name: str, locale: str | None = None, /, **variables: Any) -> str:
        variables.setdefault("currency", self.settings.org.currency)
        return self.renderer.render(name, locale or self.locale, **variables)

    def reply(self, name: str, /, *, buttons: tuple[Button, ...] = (), key: str | None = None,
              **variables: Any) -> Outbound:
        """Answer the person who wrote, on the platform they wrote from."""
        assert self.person is not None and self.inbound is not None
        return Outbound(to=ToPerson(self.person.id, self.inbound.platform),
                        text=self.render(name, **variables), buttons=buttons, key=key)

    def message_to(self, person: Person, name: str, /, *, buttons: tuple[Button, ...] = (),
                   key: str | None = None, update_of: str | None = None, **variables: Any) -> Outbound:
        """A direct message to someone, in their locale, on every platform they use."""
        return Outbound(to=ToPerson(person.id), text=self.render(name, self.locale_of(person), **variables),
                        buttons=buttons, key=key, update_of=update_of)

    def post_to_team(self, team: Team, name: str, /, *, key: str | None = None, **variables: Any) -> Outbound:
        return Outbound(to=ToTeam(team.id), text=self.render(name, team_locale(team, self.settings), **variables),
                        key=key)
