"""What the template editor's preview shows, and the interface of what builds it.

The console may not import jobs, handlers or platform ports (they are its siblings), yet a preview
must show a draft on the data the evening job or the /goal handler would give it, as Slack, WeCom
and the console would show it. The composition root builds a `Previewer` (bot/previews.py) from
those parts and hands it to the console through the app (`view.previewer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlalchemy.orm import Session

from models import Person, Team
from services.templates import TemplateRejected


@dataclass(frozen=True)
class PlatformView:
    """One platform's view of the message: what the person reads, its buttons, and the API calls."""

    platform: str  # console, slack, wecom, dingtalk
    enabled: bool  # configured in this deployment
    text: str  # in the platform's own markup (Slack mrkdwn, WeCom markdown, ...)
    buttons: tuple[str, ...] = ()
    calls: str = ""  # the API calls the port would make, as JSON, for the curious
    image: bool = False


@dataclass
class PreviewResult:
    """The draft rendered on real data (or on the sample), or why it cannot be."""

    text: str | None
    error: TemplateRejected | None = None
    source: str = "sample"  # "real": from the job or command; "sample": templates/samples/NAME.json
    note: str = ""  # a console message key saying where the data came from
    note_vars: dict[str, Any] = field(default_factory=dict)
    platforms: list[PlatformView] = field(default_factory=list)


class Previewer(Protocol):
    def preview(self, session: Session, *, name: str, locale: str, body: str, team: Team | None,
                person: Person | None, day: date, viewer: Person) -> PreviewResult:
        """Render `body` as template `name` in `locale` on the data the bot would use for that team,
        person and day; change nothing in the database."""
        ...
