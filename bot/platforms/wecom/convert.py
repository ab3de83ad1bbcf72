"""Decrypted callback XML -> Inbound; the card a click answers is found by its task id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import xmltodict

from bot.core.types import Action, Inbound, InboundKind

PLATFORM = "wecom"
CARD_EVENT = "template_card_event"
# Media a person may send; they get the "not understood" reply rather than silence.
MEDIA_TYPES = frozenset({"image", "voice", "video", "file", "location", "link"})
_MAX_EVENT_KEY = 191


def parse_xml(xml: str) -> dict[str, Any]:
    """Return the fields of a decrypted callback; empty if it is not a WeCom message."""
    try:
        doc = xmltodict.parse(xml)
    except Exception:
        return {}
    data = doc.get("xml") if isinstance(doc, dict) else None
    return data if isinstance(data, dict) else {}


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _received(data: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(_text(data, "CreateTime")), UTC)
    except ValueError:
        return datetime.now(UTC)


def card_event_key(sender: str, create_time: str, event_key: str, task_id: str) -> str:
    """Return the dedupe key of a card click (sender + time + button key + task id)."""
    raw = f"card:{sender}:{create_time}:{event_key}:{task_id}"
    if len(raw) <= _MAX_EVENT_KEY:
        return raw
    return "card:" + hashlib.sha256(raw.encode()).hexdigest()


def split_button_key(key: str) -> Action:
    """Turn a button key `ACTION_ID:VALUE` back into an Action."""
    action_id, _, value = key.partition(":")
    return Action(action_id, value)


def to_inbound(data: dict[str, Any]) -> Inbound | None:
    """Return the Inbound for a message or card click; None for what the bot ignores."""
    sender = _text(data, "FromUserName")
    msg_type = _text(data, "MsgType").lower()
    if not sender or not msg_type:
        return None
    meta = {"agent_id": _text(data, "AgentID")}
    if msg_type == "text" or msg_type in MEDIA_TYPES:
        msg_id = _text(data, "MsgId")
        if not msg_id:
            return None
        text = _text(data, "Content") if msg_type == "text" else ""
        kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
        return Inbound(platform=PLATFORM, event_key=msg_id, user_id=sender, kind=kind, text=text,
                       received_at=_received(data), meta=meta | {"msg_type": msg_type})
    if msg_type == "event" and _text(data, "Event").lower() == CARD_EVENT:
        event_key = _text(data, "EventKey")
        task_id = _text(data, "TaskId")
        if not event_key:
            return None
        return Inbound(platform=PLATFORM,
                       event_key=card_event_key(sender, _text(data, "CreateTime"), event_key, task_id),
                       user_id=sender, kind=InboundKind.ACTION, action=split_button_key(event_key),
                       response_code=_text(data, "ResponseCode") or None, received_at=_received(data),
                       meta=meta | {"task_id": task_id, "card_type": _text(data, "CardType")})
    return None  # enter_agent, subscribe, location reports...: acknowledged, nothing to do


def card_row_task_id(task_id: str) -> str:
    """Return the task id stored on the outbox row (the first card of a multi-card message)."""
    return task_id.split("@", 1)[0]
