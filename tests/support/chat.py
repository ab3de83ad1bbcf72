"""Drive the bot through App.dispatch in tests: console transcripts and platform outbox rows."""

from __future__ import annotations

import io
import itertools
from typing import Any

from sqlalchemy import select

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Action, Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from models import OutboxMessage
from tests.conftest import make_settings

_ids = itertools.count(1)

PLATFORM_SETTINGS: dict[str, Any] = {
    "slack": {"bot_token": "xoxb-test", "signing_secret": "test-secret"},
    "wecom": {"corp_id": "ww1", "agent_id": "1000002", "secret": "s", "token": "t",
              "encoding_aes_key": "a" * 43},
}


class Chat:
    """One App over the test database; `say` sends as a user and returns what the bot printed."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.out = io.StringIO()
        self.db = db
        self.app = App(settings, db=db, clock=clock, ports={"console": ConsolePort(self.out)}, migrate=False)

    def _send(self, inbound: Inbound) -> str:
        start = self.out.tell()
        self.last = self.app.dispatch(inbound)
        self.out.seek(0, io.SEEK_END)
        return self.out.getvalue()[start:]

    def say(self, user: str, text: str, *, platform: str = "console", **kw: Any) -> str:
        kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
        return self._send(Inbound(platform, f"e{next(_ids)}", user, kind, text=text, **kw))

    def press(self, user: str, action_id: str, value: str, *, platform: str = "console") -> str:
        return self._send(Inbound(platform, f"e{next(_ids)}", user, InboundKind.ACTION,
                                  action=Action(action_id, value)))

    def form(self, user: str, form_id: str, values: dict[str, str], meta: str, *, platform: str = "slack") -> Any:
        self._send(Inbound(platform, f"e{next(_ids)}", user, InboundKind.FORM, form_id=form_id,
                           form_values=values, form_meta=meta))
        return self.last

    def outbox(self, platform: str) -> list[OutboxMessage]:
        with self.db.unit_of_work() as s:
            rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.platform == platform)
                                  .order_by(OutboxMessage.id)))
            s.expunge_all()
        return rows


def platform_settings(database_url: str) -> Settings:
    """Settings with Slack and WeCom enabled (nothing is sent: only the console port exists)."""
    return make_settings(database_url, **PLATFORM_SETTINGS)
