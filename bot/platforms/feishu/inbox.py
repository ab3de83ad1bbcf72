"""Store a Feishu event before it is acknowledged, then handle it in the background (both modes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.core.handling import ReceivingApp as App
from bot.core.types import Inbound
from bot.platforms.feishu.convert import PLATFORM, to_inbound

log = logging.getLogger("salesbot.feishu")

InboundHook = Callable[[str, str], None]  # (platform, kind): metrics




def accept(app: App, event: dict[str, Any], on_inbound: InboundHook | None = None) -> Inbound | None:
    """Store a verified event (raises when the database cannot: no ack, so Feishu delivers it again)
    and queue its handling; return it, or None when it is nothing the bot acts on.

    A message delivered again (Feishu does so even after a 200) finds its message_id stored and is
    not handled twice. A card click is never delivered again, so it too is stored before its answer.
    """
    inbound = to_inbound(event)
    if inbound is None:
        return None
    if on_inbound is not None:
        on_inbound(PLATFORM, str(inbound.kind))
    event_id = app.receive(inbound)
    if event_id is not None:  # None: a repeat of a message we already have
        app.handle_later(event_id, inbound)
    return inbound
