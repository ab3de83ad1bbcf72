"""Ordered first-match routing with guards, as python-telegram-bot's process_update does."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.core.context import Context
from bot.core.types import HandlerResult, Inbound, InboundKind, Outbound

# Typed equivalents of the buttons, for platforms that show commands instead of buttons (DingTalk
# without a card template) and for anyone who prefers typing: action_id -> (English word, Chinese word).
# `/approve 12` does exactly what pressing collab_approve with value 12 does, with the same checks.
BUTTON_COMMANDS: dict[str, tuple[str, str]] = {
    "collab_approve": ("approve", "批准"),
    "collab_reject": ("reject", "拒绝"),
    "nudge_done": ("done", "完成"),
    "nudge_snooze": ("snooze", "推迟"),
    "goal_apply": ("apply", "应用"),
}
PRESS_WORD = "press"  # `/press ACTION_ID VALUE`: any button by its action id

Handler = Callable[[Context], HandlerResult | list[Outbound]]
Predicate = Callable[[Inbound], bool]


def command_word(text: str) -> tuple[str, str] | None:
    """Split '/visit 远航 ...' into ('visit', '远航 ...'); None if not a command."""
    stripped = unicodedata.normalize("NFKC", text).lstrip()
    if not stripped.startswith("/"):
        return None
    body = stripped[1:]
    parts = body.split(None, 1)
    if not parts:
        return None
    word = parts[0].casefold()
    rest = parts[1] if len(parts) > 1 else ""
    # Keep the original (un-normalised) rest: names may be full-width on purpose.
    original = text.lstrip()[1:].split(None, 1)
    return word, (original[1] if len(original) > 1 else rest)


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    kind: InboundKind
    commands: frozenset[str] = frozenset()
    action_id: str | None = None
    form_id: str | None = None
    predicate: Predicate | None = None
    roles: frozenset[str] | None = None  # None: anyone in the organisation


@dataclass(frozen=True)
class Match:
    route: Route
    command: str | None
    rest: str


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.unknown_command: Handler | None = None
        self.fallback: Handler | None = None

    def command(self, name: str, names: Iterable[str], handler: Handler, *,
                roles: Iterable[str] | None = None) -> None:
        self.routes.append(Route(name, handler, InboundKind.COMMAND,
                                 commands=frozenset(n.lstrip("/").casefold() for n in names),
                                 roles=frozenset(roles) if roles else None))

    def action(self, action_id: str, handler: Handler) -> None:
        self.routes.append(Route(action_id, handler, InboundKind.ACTION, action_id=action_id))

    def form(self, form_id: str, handler: Handler) -> None:
        self.routes.append(Route(form_id, handler, InboundKind.FORM, form_id=form_id))

    def message(self, name: str, predicate: Predicate, handler: Handler) -> None:
        self.routes.append(Route(name, handler, InboundKind.MESSAGE, predicate=predicate))

    def command_names(self) -> set[str]:
        return {c for r in self.routes for c in r.commands}

    def resolve(self, inbound: Inbound) -> Match | None:
        if inbound.kind == InboundKind.ACTION and inbound.action is not None:
            for r in self.routes:
                if r.action_id == inbound.action.action_id:
                    return Match(r, None, inbound.action.value)
            return None
        if inbound.kind == InboundKind.FORM:
            for r in self.routes:
                if r.form_id == inbound.form_id:
                    return Match(r, None, "")
            return None
        cmd = command_word(inbound.text)
        if cmd is not None:
            word, rest = cmd
            for r in self.routes:
                if word in r.commands:
                    return Match(r, word, rest)
            return self._typed_button(word, rest)
        for r in self.routes:
            if r.predicate is not None and r.predicate(inbound):
                return Match(r, None, inbound.text)
        return None

    def _typed_button(self, word: str, rest: str) -> Match | None:
        """Resolve `/approve 12` (or `/press collab_approve 12`) to the button's own route."""
        action_id = next((a for a, words in BUTTON_COMMANDS.items() if word in words), None)
        if action_id is None and word == PRESS_WORD:
            action_id, _, rest = rest.strip().partition(" ")
        if not action_id:
            return None
        for r in self.routes:
            if r.action_id == action_id:
                return Match(r, word, rest.strip())
        return None
