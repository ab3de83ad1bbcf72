"""Send outbox envelopes through the WeCom API: markdown, button cards, card updates, app chats, robots."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.ports import Envelope, SendResult
from bot.core.settings import Settings
from bot.core.textsplit import split_utf8
from bot.platforms.wecom.client import TOKEN_ERRORS, ApiReply, ApiUnavailable, WecomClient, redact
from models import KeyValue, OutboxMessage

log = logging.getLogger("salesbot.wecom")

# bytes of a markdown or text content: WeCom documents 2,048 for app messages (message/send,
# appchat/send); group robots take 4,096, but one limit keeps every target the same.
MARKDOWN_LIMIT = 2048
TEXT_LIMIT = 2048  # bytes, text messages
MAX_BUTTONS = 6
BUTTON_KEY_LIMIT = 1024  # bytes
TASK_ID_LIMIT = 128  # bytes, [0-9A-Za-z_-@]
TITLE_CHARS = 36
SUBTITLE_CHARS = 112
UPDATE_WINDOW = timedelta(hours=72)
USED = "used:"  # prefix of a response_code that has been spent
PROGRESS_TTL = timedelta(days=3)

RATE_LIMITED = frozenset({45009, 45033})  # frequency / concurrency limit: wait a minute
BUSY = frozenset({-1})
# The recipient, chat or robot cannot be reached: retrying will not help.
RECIPIENT_ERRORS = frozenset({40003, 60011, 60111, 81013, 86003, 86004, 93000, 93004, 93008})
_STYLE = {"primary": 1, "danger": 3}
_MD_MARKS = re.compile(r"\*\*|__|`")


class BadMessage(Exception):
    """This message can never be sent as it is (a button key too long)."""


def task_id_for(key: str) -> str:
    """Return a card task id (unique per app, only [0-9A-Za-z_-@]) derived from the outbox key."""
    return "sb_" + hashlib.sha256(key.encode()).hexdigest()[:40]


def button_key(action_id: str, value: str) -> str:
    key = f"{action_id}:{value}"
    if len(key.encode()) > BUTTON_KEY_LIMIT:
        raise BadMessage(f"button key for {action_id} is longer than {BUTTON_KEY_LIMIT} bytes")
    return key


def plain(text: str) -> str:
    """Strip the markdown marks a card cannot show."""
    return _MD_MARKS.sub("", text).strip()


def remember_response_code(session: Session, *, task_id: str, response_code: str, now: datetime) -> bool:
    """Store a card click's ResponseCode on the outbox row that sent the card; False if none did."""
    row = session.scalar(select(OutboxMessage).where(
        OutboxMessage.platform == "wecom", OutboxMessage.ref_id == task_id.split("@", 1)[0]))
    if row is None:
        return False
    code = response_code[:256]
    if row.response_code not in (code, (USED + code)[:256]):  # a retried callback must not revive a spent code
        row.response_code = code
        row.response_code_at = now
    return True


@dataclass
class Part:
    """One API request of a message: a body for message/send, appchat/send or a robot."""

    body: dict[str, Any]
    image: bytes | None = None  # upload first, then put the media_id in the body


def _title_and_body(payload: dict[str, Any]) -> tuple[str, str]:
    text = str(payload.get("text") or "").strip()
    title = str(payload.get("title") or "").strip()
    if title:
        return _cut(plain(title), TITLE_CHARS), text
    first, _, rest = text.partition("\n")
    return _cut(plain(first.lstrip("# ")), TITLE_CHARS), rest.strip()


def _cut(text: str, limit: int) -> str:
    """Keep a card's title or subtitle within its characters, ending a cut one with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _markdown(payload: dict[str, Any]) -> str:
    text = str(payload.get("text") or "").strip()
    title = str(payload.get("title") or "").strip()
    return f"**{title}**\n{text}" if title and text else (title and f"**{title}**") or text


def addressed(env: Envelope, agent_id: int | str, msgtype: str, content: dict[str, Any]) -> dict[str, Any]:
    """Return a message body for the envelope's target: a robot, an app chat or a member."""
    if env.target_kind == "webhook":
        return {"msgtype": msgtype, msgtype: content}
    if env.target_kind == "chat":
        return {"chatid": env.target, "msgtype": msgtype, msgtype: content}
    return {"touser": env.target, "agentid": agent_id, "msgtype": msgtype, msgtype: content}


def _button(b: dict[str, Any]) -> dict[str, Any]:
    return {"text": str(b["label"])[:20], "style": _STYLE.get(str(b.get("style")), 2),
            "key": button_key(str(b["action_id"]), str(b["value"]))}


def _card_parts(env: Envelope, agent_id: int | str, title: str, body: str, buttons: list[dict[str, Any]],
                task_id: str) -> list[Part]:
    chunks = [buttons[i:i + MAX_BUTTONS] for i in range(0, len(buttons), MAX_BUTTONS)]
    parts = []
    for index, chunk in enumerate(chunks):
        tid = task_id if index == 0 else f"{task_id}@{index}"
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": {"title": title if len(chunks) == 1
                           else f"{_cut(title, TITLE_CHARS - 8)} ({index + 1}/{len(chunks)})"},
            "task_id": tid[:TASK_ID_LIMIT],
            "button_list": [_button(b) for b in chunk],
        }
        if body and index == 0:
            card["sub_title_text"] = _cut(body, SUBTITLE_CHARS)
        parts.append(Part(addressed(env, agent_id, "template_card", card)))
    return parts


def _markdown_parts(env: Envelope, agent_id: int | str, content: str) -> list[Part]:
    return [Part(addressed(env, agent_id, "markdown", {"content": piece}))
            for piece in split_utf8(content, MARKDOWN_LIMIT)]


def plan(env: Envelope, agent_id: int | str) -> tuple[list[Part], str | None]:
    """Return the requests that send an envelope (markdown pieces, button cards, an image) and its card's task id."""
    payload = env.payload
    kind = env.target_kind
    if kind not in ("user", "chat", "webhook"):
        raise BadMessage(f"WeCom cannot send to a {kind!r} target")
    parts: list[Part] = []
    task_id: str | None = None
    buttons = payload.get("buttons") or []
    if buttons and kind == "user":
        title, body = _title_and_body(payload)
        if len(plain(body)) > SUBTITLE_CHARS:  # too long for a card: the text first, then the card
            parts += _markdown_parts(env, agent_id, _markdown(payload))
            body = ""
        task_id = task_id_for(env.key)
        parts += _card_parts(env, agent_id, title, plain(body), buttons, task_id)
    else:
        content = _markdown(payload)
        if content.strip():
            parts += _markdown_parts(env, agent_id, content)
    image = payload.get("image_b64")
    if image:
        raw = base64.b64decode(image)
        if kind == "webhook":
            parts.append(Part({"msgtype": "image", "image": {
                "base64": image, "md5": hashlib.md5(raw).hexdigest()}}))  # noqa: S324 - the robot asks for md5
        else:
            parts.append(Part(addressed(env, agent_id, "image", {}), image=raw))
    if not parts:
        raise BadMessage("empty message")
    return parts, task_id


def update_card_body(env: Envelope, agent_id: int | str, public_url: str) -> dict[str, Any]:
    """Return the message/update_template_card body that replaces the clicked card of an envelope."""
    payload = env.payload
    title, body = _title_and_body(payload)
    buttons = payload.get("buttons") or []
    if buttons:
        card: dict[str, Any] = {
            "card_type": "button_interaction", "main_title": {"title": title},
            "task_id": task_id_for(env.key),
            "button_list": [_button(b) for b in buttons[:MAX_BUTTONS]],
        }
    else:
        card = {"card_type": "text_notice", "main_title": {"title": title},
                "card_action": {"type": 1, "url": public_url or "https://work.weixin.qq.com/"}}
    if body:
        card["sub_title_text"] = _cut(plain(body), SUBTITLE_CHARS)
    return {"userids": [env.target], "agentid": agent_id, "response_code": env.update_response_code or "",
            "template_card": card}


def can_update(env: Envelope, now: datetime) -> bool:
    """Tell whether the card this envelope replaces can still be updated with its response_code."""
    code = env.update_response_code or ""
    at = env.update_response_code_at
    return (env.target_kind == "user" and bool(code) and not code.startswith(USED) and at is not None
            and now - at < UPDATE_WINDOW)


def endpoint(env: Envelope) -> str:
    """Return the API an envelope's messages go to."""
    return {"webhook": "webhook/send", "chat": "appchat/send"}.get(env.target_kind, "message/send")


def planned_requests(env: Envelope, agent_id: int | str, *, public_url: str = "",
                     now: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Return the API calls WecomPort makes for an envelope when each call succeeds, in order."""
    if now is not None and can_update(env, now):
        return [("message/update_template_card", update_card_body(env, agent_id, public_url))]
    calls: list[tuple[str, dict[str, Any]]] = []
    for part in plan(env, agent_id)[0]:
        body = part.body
        if part.image is not None:
            calls.append(("media/upload", {"type": "image", "media": env.payload.get("image_name") or "chart.png"}))
            body = dict(body) | {"image": {"media_id": "<media_id from media/upload>"}}
        calls.append((endpoint(env), body))
    return calls


class WecomPort:
    """The WeCom sending port: one outbox row may go out as several parts, each sent once."""

    platform = "wecom"

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None,
                 client: WecomClient | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = client or WecomClient(settings, db=db, clock=self.clock)
        agent = settings.wecom.agent_id
        self.agent_id: int | str = int(agent) if agent.isdigit() else agent

    @property
    def db(self) -> Database:
        return self.client.db

    def close(self) -> None:
        self.client.close()

    # -- entry point ------------------------------------------------------------------------
    def send(self, envelope: Envelope) -> SendResult:
        """Send one envelope; report ok only when every part went."""
        try:
            if envelope.target_kind == "user" and envelope.update_response_code:
                updated = self._try_update(envelope)
                if updated is not None:
                    return updated
            parts, task_id = self._plan(envelope)
            return self._send_parts(envelope, parts, ref_id=task_id)
        except ApiUnavailable as exc:
            return SendResult(ok=False, error=redact(str(exc)), retry_after=exc.retry_after)
        except BadMessage as exc:
            return SendResult(ok=False, error=str(exc), permanent=True)

    def messages_in(self, envelope: Envelope) -> int:
        """Return how many messages sending this envelope shows its recipient (what the per-member limit counts)."""
        try:
            return max(1, len(self._plan(envelope)[0]))
        except BadMessage:
            return 1

    def _plan(self, env: Envelope) -> tuple[list[Part], str | None]:
        return plan(env, self.agent_id)

    # -- sending ----------------------------------------------------------------------------
    def _send_parts(self, env: Envelope, parts: list[Part], *, ref_id: str | None) -> SendResult:
        done = self._progress(env.key) if len(parts) > 1 else 0
        msgid: str | None = None
        code: str | None = None
        for index in range(done, len(parts)):
            try:
                reply = self._send_part(env, parts[index])
            except ApiUnavailable:
                self._save_progress(env.key, index, done)
                raise
            failure = self._failure(reply)
            if failure is not None:
                self._save_progress(env.key, index, done)
                failure.extra = {"parts_sent": index, "parts": len(parts)}
                return failure
            msgid = msgid or (str(reply.data["msgid"]) if reply.data.get("msgid") else None)
            # A button card's send answers with a response_code: the card can be updated with it.
            code = code or (str(reply.data["response_code"]) if reply.data.get("response_code") else None)
        if len(parts) > 1:
            self._clear_progress(env.key)
        return SendResult(ok=True, ref_channel=env.target if env.target_kind != "webhook" else None,
                          ref_id=ref_id or msgid, response_code=code,
                          extra={"parts_sent": len(parts), "parts": len(parts)})

    def _send_part(self, env: Envelope, part: Part) -> ApiReply:
        body = part.body
        if part.image is not None:
            up = self.client.call("media/upload", params={"type": "image"},
                                  files={"media": (env.payload.get("image_name") or "chart.png", part.image,
                                                   "image/png")})
            if up.errcode != 0 or not up.data.get("media_id"):
                return up if up.errcode != 0 else ApiReply(-1, "media/upload gave no media_id")
            body = dict(body) | {"image": {"media_id": up.data["media_id"]}}
        if env.target_kind == "webhook":
            return self.client.post_webhook(env.target, body)
        return self.client.call(endpoint(env), json=body)

    @staticmethod
    def _failure(reply: ApiReply) -> SendResult | None:
        """Return None when the part went, else how the outbox should treat the failure."""
        code = reply.errcode
        if code == 0:
            invalid = reply.data.get("invaliduser") or reply.data.get("invalidparty") or ""
            if invalid:
                return SendResult(ok=False, permanent=True, error=f"wecom: invalid recipient {invalid}")
            return None
        error = f"wecom errcode {code}: {redact(reply.errmsg)[:200]}"
        if code in RATE_LIMITED:
            return SendResult(ok=False, retry_after=60.0, error=error)
        if code in BUSY or code in TOKEN_ERRORS:
            return SendResult(ok=False, error=error)
        if code in RECIPIENT_ERRORS or 40000 <= code < 45000 or 48000 <= code < 49000:
            return SendResult(ok=False, permanent=True, error=error)
        return SendResult(ok=False, error=error)

    # -- card updates -----------------------------------------------------------------------
    def _try_update(self, env: Envelope) -> SendResult | None:
        """Update the clicked card in place; None when its response_code cannot be used (send anew)."""
        if not can_update(env, self.clock.now()):
            return None
        code = env.update_response_code or ""
        body = update_card_body(env, self.agent_id, self.settings.server.public_url)
        reply = self.client.call("message/update_template_card", json=body)
        failure = self._failure(reply)
        if failure is None:
            self._mark_used(code)
            card = body["template_card"]
            return SendResult(ok=True, ref_channel=env.target,
                              ref_id=card["task_id"] if card["card_type"] == "button_interaction" else None)
        if failure.permanent:  # spent or unknown code: say it anew instead
            log.info("wecom card update refused (%s); sending a new message", failure.error)
            self._mark_used(code)
            return None
        return failure

    def _mark_used(self, code: str) -> None:
        with self.db.unit_of_work() as s:
            s.execute(update(OutboxMessage).where(
                OutboxMessage.platform == "wecom", OutboxMessage.response_code == code,
            ).values(response_code=(USED + code)[:256]))

    # -- partial progress of a multi-part message -------------------------------------------
    @staticmethod
    def _progress_key(key: str) -> str:
        return "wecom_parts:" + hashlib.sha256(key.encode()).hexdigest()

    def _progress(self, key: str) -> int:
        with self.db.unit_of_work() as s:
            row = s.get(KeyValue, self._progress_key(key))
            return int(row.value) if row is not None and row.value.isdigit() else 0

    def _save_progress(self, key: str, sent: int, before: int) -> None:
        if sent <= before:
            return
        with self.db.unit_of_work() as s:
            row = s.get(KeyValue, self._progress_key(key))
            expires = self.clock.now() + PROGRESS_TTL
            if row is None:
                s.add(KeyValue(key=self._progress_key(key), value=str(sent), expires_at=expires))
            else:
                row.value, row.expires_at = str(sent), expires

    def _clear_progress(self, key: str) -> None:
        with self.db.unit_of_work() as s:
            row = s.get(KeyValue, self._progress_key(key))
            if row is not None:
                s.delete(row)
