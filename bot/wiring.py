"""The composition root: settings, database, router, ports, outbox and dispatch in one App."""

from __future__ import annotations

import importlib
import logging
from typing import Any, TextIO

from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.dispatch import Dispatcher
from bot.core.handling import BackgroundHandling
from bot.core.outbox import Outbox
from bot.core.ports import Port
from bot.core.router import Router
from bot.core.settings import Settings
from bot.core.types import DispatchResult, Inbound
from bot.platforms.console import ConsolePort

log = logging.getLogger("salesbot")

# Use-case modules, in routing order (first match wins for free-text messages).
HANDLER_MODULES = (
    "handlers.help",
    "handlers.key_actions",
    "handlers.report",
    "handlers.goal",
    "handlers.leaderboard",
    "handlers.visit",
    "handlers.collab",
    "handlers.customer",
    "handlers.followup",
    "handlers.template",
    "handlers.field",
    "handlers.console",
)


def build_router() -> Router:
    router = Router()
    for name in HANDLER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not built yet
                continue
            raise
        module.register(router)
    return router


def build_ports(settings: Settings, *, console_stream: TextIO | None = None,
                console_me: str | None = None, http: Any = None) -> dict[str, Port]:
    """Create a sending port for each enabled platform (console is always there)."""
    ports: dict[str, Port] = {"console": ConsolePort(console_stream, me=console_me)}
    if settings.slack.enabled:
        from bot.platforms.slack.port import SlackPort

        ports["slack"] = SlackPort(settings)
    if settings.wecom.enabled:
        from bot.platforms.wecom.port import WecomPort

        ports["wecom"] = WecomPort(settings)
    if settings.dingtalk.enabled:
        from bot.platforms.dingtalk.port import DingtalkPort

        ports["dingtalk"] = DingtalkPort(settings)
    if settings.feishu.enabled:
        from bot.platforms.feishu.port import FeishuPort

        ports["feishu"] = FeishuPort(settings)
    return ports


class App:
    """Everything a process needs, built once at start-up."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 ports: dict[str, Port] | None = None, db: Database | None = None,
                 migrate: bool = True) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db or Database(settings.database.url, echo=settings.database.echo)
        if migrate:
            self.db.ensure_schema()
        self.router = build_router()
        self.ports = ports if ports is not None else build_ports(settings)
        self.outbox = Outbox(self.db, self.ports, settings, self.clock)
        self.dispatcher = Dispatcher(self.db, settings, self.router, self.outbox, self.clock)
        self._previewer: Any = None
        self.handling = BackgroundHandling(
            self.dispatcher, threads=1 if self.db.backend == "sqlite" else settings.outbox.concurrency)

    @property
    def previewer(self) -> Any:
        """The console's template preview on real data (bot/previews.py), built on first use."""
        if self._previewer is None:
            from bot.previews import RealDataPreviewer

            self._previewer = RealDataPreviewer(self.settings, self.dispatcher)
        return self._previewer

    def dispatch(self, inbound: Inbound, *, deliver: bool = True) -> DispatchResult:
        return self.dispatcher.dispatch(inbound, deliver=deliver)

    def receive(self, inbound: Inbound) -> int | None:
        """Store an event before acknowledging it; None when it is a platform retry."""
        return self.dispatcher.receive(inbound)

    def process(self, event_id: int, inbound: Inbound, *, deliver: bool = True) -> DispatchResult:
        """Handle an event stored by receive(), after the acknowledgement."""
        return self.dispatcher.process(event_id, inbound, deliver=deliver)

    def handle_later(self, event_id: int, inbound: Inbound) -> None:
        """Handle an event stored by receive() on the background threads, and deliver its replies."""
        self.handling.submit(event_id, inbound)

    def close(self) -> None:
        self.handling.close()
        for port in self.ports.values():
            close = getattr(port, "close", None)
            if close is not None:
                close()
        self.db.dispose()
