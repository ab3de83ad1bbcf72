"""DingTalk wire <-> neutral types: robot messages and card clicks to Inbound; payloads to request bodies.

Everything here is pure (no network, no database), so the transcript tests can show exactly what
DingTalk receives: `message_requests()` returns the requests one outbox row becomes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.textsplit import split_utf8
from bot.core.types import Action, Inbound, InboundKind

PLATFORM = "dingtalk"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
MSG_PARAM_LIMIT = 15_000  # bytes of the msgParam JSON string
TITLE_CHARS = 40
CARD_MARKDOWN_CHARS = 3000  # longer bodies go first as markdown, the card after with the title only
MEDIA_PLACEHOLDER = "@media"  # replaced by the media_id of the uploaded image
_MAX_EVENT_KEY = 191

# Typed equivalents of the buttons, for cards sent without a template (bot.core.router.BUTTON_COMMANDS).
_CJK = re.compile(r"[\u3400-\u9fff]")


# -- inbound -------------------------------------------------------------------------------------

def _received(data: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(data.get("createAt") or 0) / 1000, UTC) if data.get("createAt") \
            else datetime.now(UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def _message_text(data: dict[str, Any]) -> str:
    msgtype = str(data.get("msgtype") or "")
    if msgtype == "text":
        text = data.get("text")
        return str(text.get("content") or "") if isinstance(text, dict) else ""
    if msgtype == "richText":
        content = data.get("content")
        items = content.get("richText") if isinstance(content, dict) else None
        if isinstance(items, list):
            return "".join(str(i["text"]) for i in items if isinstance(i, dict) and "text" in i)
    return ""


def is_card_callback(data: dict[str, Any]) -> bool:
    """True for a card click (it names its card by outTrackId), False for a robot message."""
    return "outTrackId" in data and "msgId" not in data


def robot_message_to_inbound(data: dict[str, Any], *, message_id: str | None = None) -> Inbound | None:
    """Turn a robot message (Stream topic /v1.0/im/bot/messages/get, or the HTTP callback) into an Inbound.

    In a group the bot only gets messages that @ it, and DingTalk leaves the text starting with
    a space where the mention was: the text is stripped, so `/help` and ` /help` are the same.
    """
    sender = str(data.get("senderStaffId") or data.get("senderId") or "")
    key = str(data.get("msgId") or message_id or "")
    if not sender or not key:
        return None
    text = _message_text(data).strip()
    kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.MESSAGE
    conversation = str(data.get("conversationId") or "") or None
    return Inbound(platform=PLATFORM, event_key=key[:_MAX_EVENT_KEY], user_id=sender, kind=kind, text=text,
                   channel=conversation, received_at=_received(data),
                   meta={"msgtype": str(data.get("msgtype") or ""),
                         "conversation_type": str(data.get("conversationType") or ""),
                         "robot_code": str(data.get("robotCode") or "")})


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            loaded = json.loads(value)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def card_action(data: dict[str, Any]) -> Action | None:
    """Return the (action, value) pair a clicked button carries in its callback parameters."""
    content = _loads(data.get("content"))
    private = _loads(content.get("cardPrivateData"))
    params = _loads(private.get("params"))
    action = params.get("action")
    if not action:
        return None
    return Action(str(action), str(params.get("value") or ""))


def card_callback_to_inbound(data: dict[str, Any], *, message_id: str | None = None) -> Inbound | None:
    """Turn a card click (Stream topic /v1.0/card/instances/callback, or the HTTP form) into an ACTION."""
    user = str(data.get("userId") or "")
    action = card_action(data)
    track = str(data.get("outTrackId") or "")
    if not user or action is None:
        return None
    if message_id:
        key = f"card:{message_id}"
    else:  # over HTTP a click has no id of its own: the same press delivered twice has the same parts
        raw = "\x1f".join((track, user, action.action_id, action.value, str(data.get("content") or "")))
        key = "card:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    return Inbound(platform=PLATFORM, event_key=key[:_MAX_EVENT_KEY], user_id=user, kind=InboundKind.ACTION,
                   action=action, meta={"out_track_id": track})


# -- outgoing markdown ----------------------------------------------------------------------------

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_CODE_FENCE = re.compile(r"^\s*```")
_INLINE_CODE = re.compile(r"`([^`\n]*)`")


def to_dingtalk_markdown(text: str) -> str:
    """Turn the neutral markdown subset into DingTalk's sampleMarkdown dialect.

    DingTalk shows headings, bold, links, quotes and lists, but no tables and no code: a table
    becomes one list line per row (cells joined by ` · `), inline code (a command to type) turns
    bold (inside bold it only loses its backticks), a fence's lines stay as lines, and a line
    break inside a paragraph gets the two trailing spaces DingTalk needs to keep it.
    """
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if _CODE_FENCE.match(raw):
            continue
        stripped = raw.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            if _TABLE_RULE.match(stripped):
                continue
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            lines.append("- " + " · ".join(c for c in cells if c))
            continue
        lines.append(_code_as_bold(raw.rstrip()))
    out: list[str] = []
    for index, line in enumerate(lines):
        nxt = lines[index + 1] if index + 1 < len(lines) else ""
        if line and nxt and not _is_item(nxt) and not line.startswith("#"):
            # A list ends with a blank line (else the next line would run into its last item); a
            # paragraph keeps its line breaks with two trailing spaces.
            ends_list = (_is_item(line) or line[:1].isspace()) and not nxt[:1].isspace()
            line += "\n" if ends_list else "  "
        out.append(line)
    return "\n".join(out).strip("\n")


def _code_as_bold(line: str) -> str:
    """`/拜访 客户` → **/拜访 客户**, so a command to type still stands out; inside bold, or on a line whose
    bold marks do not pair up, the backticks just go."""
    if "`" not in line:
        return line
    if line.count("**") % 2:
        return _INLINE_CODE.sub(r"\1", line)
    parts = line.split("**")
    return "**".join(_INLINE_CODE.sub(lambda m: f"**{m[1]}**" if m[1].strip() else m[1], part) if i % 2 == 0
                     else _INLINE_CODE.sub(r"\1", part) for i, part in enumerate(parts))


def _is_item(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("- ", "* ", "> ")) or bool(re.match(r"\d+[.)] ", stripped))


def plain_title(payload: dict[str, Any]) -> str:
    """The notification preview of a message: its title, else its first line without marks."""
    title = str(payload.get("title") or "").strip()
    if not title:
        text = str(payload.get("text") or "").strip()
        title = text.split("\n", 1)[0] if text else ""
    title = re.sub(r"\*\*|__|`|^#+\s*", "", title).strip()
    return title[:TITLE_CHARS] or "salesbot"


def _full_markdown(payload: dict[str, Any]) -> str:
    text = str(payload.get("text") or "").strip()
    title = str(payload.get("title") or "").strip()
    neutral = f"**{title}**\n{text}" if title and text else (f"**{title}**" if title else text)
    return to_dingtalk_markdown(neutral)


def msg_param(title: str, text: str) -> str:
    return json.dumps({"title": title, "text": text}, ensure_ascii=False)


def split_markdown(title: str, text: str, limit: int = MSG_PARAM_LIMIT) -> list[str]:
    """Split markdown so each part's msgParam JSON string stays within `limit` bytes."""
    overhead = len(msg_param(title, "").encode())
    budget = limit - overhead
    parts: list[str] = []
    pending = split_utf8(text, budget)
    while pending:
        piece = pending.pop(0)
        if len(msg_param(title, piece).encode()) <= limit:
            parts.append(piece)
            continue
        # JSON escapes (newlines, quotes) made it longer than its bytes: cut it smaller.
        pending[:0] = split_utf8(piece, max(1, len(piece.encode()) * budget // len(msg_param(title, piece).encode())
                                            - 16))
    return parts


# -- buttons without a card template ---------------------------------------------------------------

def typed_command(action_id: str, value: str, label: str, commands: dict[str, tuple[str, str]]) -> str:
    """Return `/word VALUE` for a button (the Chinese word when its label is Chinese)."""
    words = commands.get(action_id)
    if words is None:
        return f"/press {action_id} {value}"
    en, zh = words
    return f"/{zh if _CJK.search(label) else en} {value}"


def buttons_as_commands(buttons: list[dict[str, Any]], commands: dict[str, tuple[str, str]]) -> str:
    """One line per button: its label and the command that does the same when typed."""
    return "\n".join(f"- **{b['label']}**：{typed_command(str(b['action_id']), str(b['value']), str(b['label']), commands)}"
                     for b in buttons)


# -- requests ---------------------------------------------------------------------------------------

@dataclass
class Request:
    """One call to DingTalk: method, API ('api' or 'oapi') and path, JSON body; `image` is uploaded first."""

    method: str
    path: str
    body: dict[str, Any]
    image: bytes | None = None
    api: str = "api"
    meta: dict[str, Any] = field(default_factory=dict)


def out_track_id(key: str) -> str:
    """The card instance id of an outbox row: stable, so a retried createAndDeliver names the same card."""
    return "sb_" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _send(target_kind: str, target: str, robot_code: str, msg_key: str, param: str) -> Request:
    if target_kind == "chat":
        return Request("POST", "v1.0/robot/groupMessages/send",
                       {"robotCode": robot_code, "openConversationId": target, "msgKey": msg_key,
                        "msgParam": param})
    return Request("POST", "v1.0/robot/oToMessages/batchSend",
                   {"robotCode": robot_code, "userIds": [target], "msgKey": msg_key, "msgParam": param})


def card_param_map(payload: dict[str, Any], *, markdown: str | None = None, done: bool = False) -> dict[str, str]:
    """The card template's variables (all strings): title, markdown, buttons (a JSON list), done."""
    buttons = [] if done else [
        {"text": str(b["label"]), "action": str(b["action_id"]), "value": str(b["value"]),
         "color": {"primary": "blue", "danger": "red"}.get(str(b.get("style")), "gray")}
        for b in payload.get("buttons") or []]
    body = markdown if markdown is not None else to_dingtalk_markdown(str(payload.get("text") or ""))
    return {"title": plain_title(payload), "markdown": body,
            "buttons": json.dumps(buttons, ensure_ascii=False), "done": "true" if done else "false"}


def card_request(payload: dict[str, Any], *, key: str, target_kind: str, target: str, robot_code: str,
                 template_id: str, callback_route_key: str | None = None, markdown: str | None = None) -> Request:
    """createAndDeliver: one card instance, named by an outTrackId derived from the outbox key."""
    track = out_track_id(key)
    body: dict[str, Any] = {
        "cardTemplateId": template_id,
        "outTrackId": track,
        "cardData": {"cardParamMap": card_param_map(payload, markdown=markdown)},
        "callbackType": "HTTP" if callback_route_key else "STREAM",
        "userIdType": 1,
    }
    if callback_route_key:
        body["callbackRouteKey"] = callback_route_key
    if target_kind == "chat":
        body["openSpaceId"] = f"dtv1.card//IM_GROUP.{target}"
        body["imGroupOpenSpaceModel"] = {"supportForward": False}
        body["imGroupOpenDeliverModel"] = {"robotCode": robot_code}
    else:
        body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{target}"
        body["imRobotOpenSpaceModel"] = {"supportForward": False}
        body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": robot_code}
    return Request("POST", "v1.0/card/instances/createAndDeliver", body, meta={"out_track_id": track})


def card_update_request(payload: dict[str, Any], *, out_track: str) -> Request:
    """PUT the decision into a card that was clicked: its text, and no more buttons."""
    markdown = _full_markdown({"text": payload.get("text") or ""})
    return Request("PUT", "v1.0/card/instances",
                   {"outTrackId": out_track,
                    "cardData": {"cardParamMap": card_param_map(payload, markdown=markdown,
                                                                done=not payload.get("buttons"))},
                    "cardUpdateOptions": {"updateCardDataByKey": True}},
                   meta={"out_track_id": out_track})


def message_requests(payload: dict[str, Any], *, key: str, target_kind: str, target: str, robot_code: str,
                     template_id: str = "", commands: dict[str, tuple[str, str]] | None = None,
                     callback_route_key: str | None = None) -> list[Request]:
    """The requests one outbox row becomes: markdown parts, a card (or its typed commands), an image."""
    if target_kind not in ("user", "chat"):
        raise ValueError(f"DingTalk cannot send to a {target_kind!r} target")
    title = plain_title(payload)
    buttons = payload.get("buttons") or []
    requests: list[Request] = []
    markdown = _full_markdown(payload)
    if buttons and template_id:
        body_md = to_dingtalk_markdown(str(payload.get("text") or ""))
        if len(body_md) > CARD_MARKDOWN_CHARS:  # too long for a card: the text first, then the card
            requests += [_send(target_kind, target, robot_code, "sampleMarkdown", msg_param(title, part))
                         for part in split_markdown(title, markdown)]
            body_md = ""
        requests.append(card_request(payload, key=key, target_kind=target_kind, target=target,
                                     robot_code=robot_code, template_id=template_id,
                                     callback_route_key=callback_route_key, markdown=body_md))
    else:
        if buttons:
            markdown = (markdown + "\n\n" if markdown else "") + buttons_as_commands(buttons, commands or {})
        if markdown.strip():
            requests += [_send(target_kind, target, robot_code, "sampleMarkdown", msg_param(title, part))
                         for part in split_markdown(title, markdown)]
    image = payload.get("image_b64")
    if image:
        import base64

        requests.append(Request("POST", "v1.0/robot/oToMessages/batchSend" if target_kind != "chat"
                                else "v1.0/robot/groupMessages/send",
                                _send(target_kind, target, robot_code, "sampleImageMsg",
                                      json.dumps({"photoURL": MEDIA_PLACEHOLDER})).body,
                                image=base64.b64decode(image)))
    return requests
