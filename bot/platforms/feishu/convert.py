"""Feishu wire <-> neutral types: event bodies to Inbound, payloads to message cards. Pure functions.

The same functions serve both ways events arrive (the long connection and HTTP): both give the
event's JSON, schema 2.0. What we send is built by `message_parts()`, which does no I/O, so a test
(or the transcript tests) can see the exact bodies a payload becomes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.textsplit import split_utf8
from bot.core.types import Action, Inbound, InboundKind

PLATFORM = "feishu"
MESSAGE_EVENT = "im.message.receive_v1"
CARD_EVENT = "card.action.trigger"

CARD_LIMIT = 30_000  # bytes of a card's JSON (Feishu refuses larger ones)
MARKDOWN_LIMIT = 20_000  # bytes of markdown per card, leaving room for the JSON around it
TITLE_CHARS = 100
BUTTON_TEXT_CHARS = 100
BUTTONS_PER_ROW = 2
UUID_CHARS = 50  # Feishu's limit on a send's idempotency key

_MENTION = re.compile(r"@_user_\d+")
_STYLE = {"primary": "primary_filled", "danger": "danger"}


# -- incoming ------------------------------------------------------------------------------

def _received(header: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(header.get("create_time") or "")) / 1000, UTC)
    except ValueError:
        return datetime.now(UTC)


def _flatten_post(content: dict[str, Any]) -> str:
    """The text of a rich-text (post) message: one line per paragraph, mentions kept as their key."""
    body = content
    if "content" not in body:  # {"zh_cn": {...}} or {"en_us": {...}}
        body = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    lines = []
    title = str(body.get("title") or "").strip()
    if title:
        lines.append(title)
    for paragraph in body.get("content") or []:
        if not isinstance(paragraph, list):
            continue
        pieces = []
        for node in paragraph:
            if not isinstance(node, dict):
                continue
            tag = node.get("tag")
            if tag in ("text", "md", "code_block"):
                pieces.append(str(node.get("text") or ""))
            elif tag == "a":
                pieces.append(str(node.get("text") or node.get("href") or ""))
            elif tag == "at":
                pieces.append(str(node.get("user_id") or ""))
        lines.append("".join(pieces))
    return "\n".join(lines)


def message_text(message: dict[str, Any]) -> str:
    """The text a person typed: leading @mentions (the bot, in a group) dropped, others as @name."""
    kind = str(message.get("message_type") or "")
    try:
        content = json.loads(str(message.get("content") or "{}"))
    except ValueError:
        content = {}
    if not isinstance(content, dict):
        content = {}
    if kind == "text":
        text = str(content.get("text") or "")
    elif kind == "post":
        text = _flatten_post(content)
    else:
        return ""
    names = {}
    for mention in message.get("mentions") or []:
        if isinstance(mention, dict) and mention.get("key"):
            names[str(mention["key"])] = str(mention.get("name") or "")
    text = text.lstrip()
    while True:  # "@_user_1 @_user_2 日报 ..." -> "日报 ..."
        match = _MENTION.match(text)
        if match is None:
            break
        text = text[match.end():].lstrip()
    return _MENTION.sub(lambda m: f"@{names[m.group(0)]}" if names.get(m.group(0)) else "", text)


def message_to_inbound(event: dict[str, Any], header: dict[str, Any]) -> Inbound | None:
    """im.message.receive_v1 -> Inbound, keyed by message_id (Feishu may deliver one message twice)."""
    message = event.get("message") or {}
    sender = event.get("sender") or {}
    if not isinstance(message, dict) or not isinstance(sender, dict):
        return None
    if sender.get("sender_type") not in (None, "user"):
        return None  # another bot or the app itself
    open_id = str((sender.get("sender_id") or {}).get("open_id") or "")
    message_id = str(message.get("message_id") or "")
    if not open_id or not message_id:
        return None
    text = message_text(message)
    kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
    return Inbound(platform=PLATFORM, event_key=message_id, user_id=open_id, kind=kind, text=text,
                   channel=str(message.get("chat_id") or "") or None, message_ts=message_id,
                   thread_ts=str(message.get("root_id") or "") or None, received_at=_received(header),
                   meta={"chat_type": message.get("chat_type"), "msg_type": message.get("message_type")})


def card_action_to_inbound(event: dict[str, Any], header: dict[str, Any]) -> Inbound | None:
    """card.action.trigger -> ACTION Inbound; the button's value is {"action": ACTION_ID, "value": VALUE}."""
    operator = event.get("operator") or {}
    action = event.get("action") or {}
    value = action.get("value") if isinstance(action, dict) else None
    if isinstance(value, str):  # some clients send the value as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    open_id = str(operator.get("open_id") or "") if isinstance(operator, dict) else ""
    event_id = str(header.get("event_id") or "")
    if not open_id or not event_id or not isinstance(value, dict) or not value.get("action"):
        return None
    context = event.get("context")
    if not isinstance(context, dict):
        context = {}
    return Inbound(platform=PLATFORM, event_key=f"card:{event_id}", user_id=open_id, kind=InboundKind.ACTION,
                   action=Action(str(value["action"]), str(value.get("value") or "")),
                   channel=str(context.get("open_chat_id") or "") or None,
                   message_ts=str(context.get("open_message_id") or "") or None, received_at=_received(header),
                   meta={"card_token": str(event.get("token") or "")})


def to_inbound(body: dict[str, Any]) -> Inbound | None:
    """A decrypted schema 2.0 event -> Inbound; None for what the bot does not act on."""
    header = body.get("header")
    event = body.get("event")
    if not isinstance(header, dict) or not isinstance(event, dict):
        return None
    event_type = header.get("event_type")
    if event_type == MESSAGE_EVENT:
        return message_to_inbound(event, header)
    if event_type == CARD_EVENT:
        return card_action_to_inbound(event, header)
    return None


# -- outgoing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One message of an outbox row: `POST im/v1/messages` with this msg_type and content."""

    msg_type: str  # "interactive" | "image"
    content: dict[str, Any]
    uuid: str
    image: bytes | None = None  # upload first (im/v1/images); its image_key goes into the content
    buttons: bool = False

    def body(self, receive_id: str, image_key: str | None = None) -> dict[str, Any]:
        """The request body of this part for one recipient."""
        content = dict(self.content, image_key=image_key) if self.image is not None else self.content
        return {"receive_id": receive_id, "msg_type": self.msg_type, "uuid": self.uuid, "content": dumps(content)}


def send_uuid(key: str, index: int) -> str:
    """The idempotency key of part `index` of an outbox row (Feishu keeps one for an hour, ≤ 50 chars)."""
    return "sb" + hashlib.sha256(f"{key}#{index}".encode()).hexdigest()[:UUID_CHARS - 2]


def receive_id_type(target_kind: str) -> str:
    """The `receive_id_type` for an outbox target: a person's open_id or a group's chat_id."""
    return "open_id" if target_kind == "user" else "chat_id"


def to_lark_md(text: str) -> str:
    """The neutral markdown as a card's markdown element shows it (< and > would start a tag)."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _button(b: dict[str, Any]) -> dict[str, Any]:
    return {"tag": "button", "type": _STYLE.get(str(b.get("style")), "default"),
            "text": {"tag": "plain_text", "content": str(b["label"])[:BUTTON_TEXT_CHARS]},
            "behaviors": [{"type": "callback", "value": {"action": str(b["action_id"]), "value": str(b["value"])}}]}


def card(title: str, markdown: str, buttons: list[dict[str, Any]] | tuple[()] = ()) -> dict[str, Any]:
    """A JSON 2.0 card: an optional header, one markdown element, the buttons two to a row."""
    elements: list[dict[str, Any]] = []
    if markdown.strip():
        elements.append({"tag": "markdown", "content": markdown})
    for start in range(0, len(buttons), BUTTONS_PER_ROW):
        row = buttons[start:start + BUTTONS_PER_ROW]
        elements.append({"tag": "column_set", "horizontal_spacing": "8px", "columns": [
            {"tag": "column", "width": "auto", "elements": [_button(b)]} for b in row]})
    out: dict[str, Any] = {"schema": "2.0", "config": {"update_multi": True, "width_mode": "fill"},
                           "body": {"elements": elements}}
    if title:
        out["header"] = {"title": {"tag": "plain_text", "content": title[:TITLE_CHARS]}, "template": "blue"}
    return out


def card_markdown(content: dict[str, Any]) -> str:
    """What a card of ours reads: its title and markdown, one per line (previews, tests)."""
    lines = []
    title = ((content.get("header") or {}).get("title") or {}).get("content")
    if title:
        lines.append(str(title))
    for element in (content.get("body") or {}).get("elements") or []:
        if element.get("tag") == "markdown" and element.get("content"):
            lines.append(str(element["content"]))
    return "\n".join(lines)


def card_size(content: dict[str, Any]) -> int:
    return len(dumps(content).encode())


def message_parts(key: str, payload: dict[str, Any]) -> list[Part]:
    """The messages one outbox payload becomes: cards of markdown (split under the size limit, the
    buttons on the last one) and the image, each with its own idempotency key."""
    import base64

    title = str(payload.get("title") or "").strip()
    text = to_lark_md(str(payload.get("text") or "").strip())
    buttons = list(payload.get("buttons") or [])
    pieces = split_utf8(text, MARKDOWN_LIMIT) if text else []
    if not pieces and (title or buttons):
        pieces = [""]
    parts: list[Part] = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        head = title if index == 0 else ""
        content = card(head, piece, buttons if last else ())
        parts.append(Part("interactive", content, send_uuid(key, len(parts)), buttons=bool(last and buttons)))
    image = payload.get("image_b64")
    if image:
        parts.append(Part("image", {}, send_uuid(key, len(parts)), image=base64.b64decode(image)))
    return parts


def update_card(payload: dict[str, Any]) -> dict[str, Any]:
    """The card that replaces a clicked one (`PATCH im/v1/messages/:id`): the decision, its buttons if any."""
    title = str(payload.get("title") or "").strip()
    text = to_lark_md(str(payload.get("text") or "").strip())
    return card(title, split_utf8(text, MARKDOWN_LIMIT)[0] if text else "", list(payload.get("buttons") or []))


def messages_path(target_kind: str) -> str:
    """The API path a new message to this kind of target is posted to."""
    return f"im/v1/messages?receive_id_type={receive_id_type(target_kind)}"


def update_path(message_id: str) -> str:
    return f"im/v1/messages/{message_id}"


def dumps(content: dict[str, Any]) -> str:
    """A message's `content` as Feishu wants it: a JSON string."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def planned_requests(key: str, target_kind: str, target: str, payload: dict[str, Any], *,
                     update_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The API calls FeishuPort makes for an envelope when each succeeds, in order, as (method and
    path, body). Each body is the one sent, except that `content` is shown decoded (it goes as a JSON
    string) and an image's key is a placeholder for the one im/v1/images returns."""
    if update_id:
        return [(f"PATCH {update_path(update_id)}", {"content": update_card(payload)})]
    calls: list[tuple[str, dict[str, Any]]] = []
    for part in message_parts(key, payload):
        image_key = None
        if part.image is not None:
            calls.append(("POST im/v1/images", {"image_type": "message",
                                                "image": str(payload.get("image_name") or "chart.png")}))
            image_key = "<image_key from im/v1/images>"
        body = part.body(target, image_key)
        calls.append((f"POST {messages_path(target_kind)}", body | {"content": json.loads(body["content"])}))
    return calls
