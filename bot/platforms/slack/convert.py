"""Slack wire <-> neutral types: request bodies to Inbound, payloads to mrkdwn and Block Kit."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.ports import Envelope
from bot.core.types import Action, Inbound, InboundKind

PLATFORM = "slack"

# Every slash command of the contract, English and Chinese names.
COMMANDS: tuple[str, ...] = (
    "/report", "/日报", "/visit", "/拜访", "/collab", "/协作", "/leaderboard", "/排行",
    "/goal", "/目标", "/customer", "/客户", "/followups", "/跟进", "/template", "/模板",
    "/field", "/字段", "/help", "/帮助",
)

# Message subtypes that are a person typing (None: a plain message).
_PERSON_SUBTYPES = {None, "thread_broadcast"}

# Block Kit limits (https://api.slack.com/reference/block-kit): slack_sdk.models checks most of
# them when a block is turned into JSON; the message and input limits it does not check are kept here.
MAX_BLOCKS = 50  # blocks in a message
MAX_VIEW_BLOCKS = 100  # blocks in a modal
MAX_BUTTONS_PER_BLOCK = 25
MAX_SECTION_CHARS = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_LABEL_CHARS = 2000
MAX_INPUT_CHARS = 3000  # a plain_text_input's text, the initial value included
MAX_VIEW_TITLE = 24
MAX_METADATA_CHARS = 3000
MAX_TEXT_CHARS = 39000


def _stable_key(prefix: str, *parts: str | None) -> str:
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:40]
    return f"{prefix}:{digest}"


def message_event_to_inbound(body: dict[str, Any]) -> Inbound | None:
    """Turn an Events API `message` in a DM into an Inbound; None for what a person did not type."""
    event = body.get("event") or {}
    if event.get("type") != "message":
        return None
    if event.get("channel_type") not in (None, "im"):
        return None
    if event.get("bot_id") or event.get("subtype") not in _PERSON_SUBTYPES or not event.get("user"):
        return None
    text = event.get("text") or ""
    event_id = body.get("event_id") or _stable_key("msg", event.get("channel"), event.get("ts"))
    kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
    return Inbound(
        platform=PLATFORM, event_key=str(event_id), user_id=str(event["user"]), kind=kind, text=text,
        channel=event.get("channel"), thread_ts=event.get("thread_ts"), message_ts=event.get("ts"),
        meta={"team_id": body.get("team_id")},
    )


def command_to_inbound(body: dict[str, Any]) -> Inbound:
    """Turn a slash command into a COMMAND Inbound with text `/cmd rest`."""
    command = str(body.get("command") or "").strip()
    rest = str(body.get("text") or "").strip()
    text = f"{command} {rest}".strip()
    key = _stable_key("cmd", body.get("trigger_id"), body.get("user_id"), command, rest)
    return Inbound(
        platform=PLATFORM, event_key=key, user_id=str(body.get("user_id") or ""), kind=InboundKind.COMMAND,
        text=text, channel=body.get("channel_id"), trigger_id=body.get("trigger_id"),
        response_url=body.get("response_url"), meta={"team_id": body.get("team_id")},
    )


def _user_id(body: dict[str, Any]) -> str:
    user = body.get("user") or {}
    return str(user.get("id") or body.get("user_id") or "")


def action_to_inbound(body: dict[str, Any]) -> Inbound | None:
    """Turn the first action of a `block_actions` body into an ACTION Inbound."""
    actions = body.get("actions") or []
    if not actions:
        return None
    first = actions[0]
    value = first.get("value")
    if value is None and isinstance(first.get("selected_option"), dict):
        value = first["selected_option"].get("value")
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    key = _stable_key("act", body.get("trigger_id"), first.get("action_ts"), first.get("action_id"),
                      str(value or ""))
    return Inbound(
        platform=PLATFORM, event_key=key, user_id=_user_id(body), kind=InboundKind.ACTION,
        action=Action(base_action_id(str(first.get("action_id") or "")), str(value or "")), channel=channel,
        message_ts=message_ts, trigger_id=body.get("trigger_id"), response_url=body.get("response_url"),
        meta={"team_id": (body.get("team") or {}).get("id")},
    )


def _state_value(element: dict[str, Any]) -> str:
    if element.get("value") is not None:
        return str(element["value"])
    option = element.get("selected_option")
    if isinstance(option, dict):
        return str(option.get("value") or "")
    for key in ("selected_date", "selected_time", "selected_user", "selected_channel", "selected_conversation"):
        if element.get(key):
            return str(element[key])
    return ""


def view_to_inbound(body: dict[str, Any]) -> Inbound:
    """Turn a `view_submission` into a FORM Inbound: {block_id: value} and the private metadata."""
    view = body.get("view") or {}
    values: dict[str, str] = {}
    for block_id, elements in ((view.get("state") or {}).get("values") or {}).items():
        for element in (elements or {}).values():
            values[block_id] = _state_value(element or {})
            break
    key = _stable_key("view", body.get("trigger_id"), view.get("id"), view.get("hash"))
    return Inbound(
        platform=PLATFORM, event_key=key, user_id=_user_id(body), kind=InboundKind.FORM,
        form_id=str(view.get("callback_id") or ""), form_values=values,
        form_meta=str(view.get("private_metadata") or ""), trigger_id=body.get("trigger_id"),
        meta={"team_id": (body.get("team") or {}).get("id"), "view_id": view.get("id")},
    )


# -- outgoing -------------------------------------------------------------------------------

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Turn the neutral markdown subset into Slack mrkdwn; code spans are left as they are."""
    parts = _CODE.split(text)
    out: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 1:  # a code span or block
            out.append(_escape(part))
            continue
        part = _escape(part)
        part = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", part)
        part = _HEADING.sub(lambda m: f"**{m.group(1).strip()}**", part)
        part = _BOLD.sub(lambda m: f"*{m.group(1)}*", part)
        part = re.sub(r"^- ", "• ", part, flags=re.M)
        out.append(part)
    return "".join(out)


def _chunks(text: str, size: int) -> list[str]:
    """Split text on line breaks into pieces of at most `size` characters."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:size])
            line = line[size:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > size:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def message_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, Block Kit blocks) for a neutral payload.

    Blocks are built with slack_sdk.models, whose to_dict() refuses what Slack would refuse (a
    section over 3,000 characters, a button text over 75, a value over 2,000 ...); a message keeps
    within MAX_BLOCKS, and always has a fallback text.
    """
    text = str(payload.get("text") or "")
    title = str(payload.get("title") or "")
    mrkdwn = to_mrkdwn(f"**{title}**\n{text}" if title else text)[:MAX_TEXT_CHARS]
    buttons = payload.get("buttons") or []
    if not buttons:
        return mrkdwn or " ", []
    actions: list[ActionsBlock] = []
    seen: set[str] = set()
    for start in range(0, len(buttons), MAX_BUTTONS_PER_BLOCK):
        elements = []
        for number, b in enumerate(buttons[start:start + MAX_BUTTONS_PER_BLOCK], start=start):
            action_id = str(b["action_id"])
            # Slack wants unique action ids in a block; base_action_id() strips the suffix.
            if action_id in seen:
                action_id = f"{action_id}#{number}"
            seen.add(action_id)
            elements.append(ButtonElement(
                text=PlainTextObject(text=_cut(str(b["label"]), MAX_BUTTON_TEXT), emoji=True),
                action_id=action_id[:MAX_ACTION_ID], value=str(b["value"])[:MAX_BUTTON_VALUE],
                style=b["style"] if b.get("style") in ("primary", "danger") else None))
        actions.append(ActionsBlock(block_id=f"actions_{start}", elements=elements))
    actions = actions[:MAX_BLOCKS - 1]
    pieces = [p for p in _chunks(mrkdwn, MAX_SECTION_CHARS) if p.strip()]
    room = MAX_BLOCKS - len(actions)
    if len(pieces) > room:  # the text is all in the fallback; the blocks end with a cut
        pieces = pieces[:room]
        pieces[-1] = pieces[-1][:MAX_SECTION_CHARS - 2] + "\n…"
    sections = [SectionBlock(text=MarkdownTextObject(text=piece)) for piece in pieces]
    return mrkdwn or " ", [block.to_dict() for block in (*sections, *actions)]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def base_action_id(action_id: str) -> str:
    """Strip the uniqueness suffix added to repeated action ids in one message."""
    return action_id.split("#", 1)[0]


def form_view(form: dict[str, Any]) -> dict[str, Any]:
    """Build a modal view: one `input` block per field, block_id = the field key (validated by slack_sdk.models)."""
    blocks: list[InputBlock] = []
    for f in (form.get("fields") or [])[:MAX_VIEW_BLOCKS]:
        element = PlainTextInputElement(action_id="value", multiline=bool(f.get("multiline")),
                                        initial_value=str(f["initial"]) if f.get("initial") else None,
                                        max_length=MAX_INPUT_CHARS)
        blocks.append(InputBlock(
            block_id=str(f["key"]), optional=bool(f.get("optional", True)),
            label=PlainTextObject(text=_cut(str(f.get("label") or f["key"]), MAX_LABEL_CHARS)),
            element=element,
            hint=PlainTextObject(text=_cut(str(f["hint"]), MAX_LABEL_CHARS)) if f.get("hint") else None,
        ))
    view = View(
        type="modal", callback_id=str(form.get("form_id") or ""),
        private_metadata=str(form.get("meta") or "")[:MAX_METADATA_CHARS],
        title=PlainTextObject(text=_cut(str(form.get("title") or "salesbot"), MAX_VIEW_TITLE)),
        submit=PlainTextObject(text=_cut(str(form.get("submit") or "OK"), MAX_VIEW_TITLE)),
        blocks=blocks,
    )
    return view.to_dict()


# -- request bodies: what SlackPort sends for an envelope (the transcripts show the same) ----

def post_body(env: Envelope) -> dict[str, Any]:
    """Return the chat.postMessage arguments for an envelope."""
    text, blocks = message_blocks(env.payload)
    body: dict[str, Any] = {
        "channel": env.target,
        "text": text,
        "metadata": {"event_type": "salesbot_outbox", "event_payload": {"key": env.key}},
        "unfurl_links": False,
    }
    if blocks:
        body["blocks"] = blocks
    thread_ts = env.payload.get("thread_ts")
    if thread_ts:
        body["thread_ts"] = thread_ts
    return body


def update_body(env: Envelope) -> dict[str, Any]:
    """Return the chat.update arguments that replace the message this envelope updates."""
    text, blocks = message_blocks(env.payload)
    return {"channel": env.update_channel, "ts": env.update_id, "text": text, "blocks": blocks}


def view_body(env: Envelope) -> dict[str, Any]:
    """Return the views.open arguments for an envelope carrying a form."""
    return {"trigger_id": env.target, "view": form_view(env.payload["form"])}


def upload_body(env: Envelope, channel: str) -> dict[str, Any]:
    """Return the files_upload_v2 arguments for an envelope's image (its text as the comment, if no buttons)."""
    payload = env.payload
    text, blocks = message_blocks(payload)
    name = str(payload.get("image_name") or "chart.png")
    body: dict[str, Any] = {"channel": channel, "content": base64.b64decode(payload["image_b64"]),
                            "filename": name, "title": name}
    if not blocks and text.strip():
        body["initial_comment"] = text
    return body


def needs_dm_channel(target: str) -> bool:
    """Tell whether a file upload must first open the DM channel of a user id."""
    return target[:1] in ("U", "W")


def planned_requests(env: Envelope) -> list[tuple[str, dict[str, Any]]]:
    """Return the Web API calls SlackPort makes for an envelope when each call succeeds, in order."""
    payload = env.payload
    if payload.get("form") is not None:
        return [("views.open", view_body(env))]
    if payload.get("image_b64"):
        calls: list[tuple[str, dict[str, Any]]] = []
        channel = env.target
        if needs_dm_channel(env.target):
            calls.append(("conversations.open", {"users": env.target}))
            channel = f"<DM channel of {env.target}>"
        if message_blocks(payload)[1]:  # buttons cannot ride on a file comment: posted first
            calls.append(("chat.postMessage", post_body(env)))
        calls.append(("files.uploadV2", upload_body(env, channel)))
        return calls
    if env.update_channel and env.update_id:
        return [("chat.update", update_body(env))]
    return [("chat.postMessage", post_body(env))]
