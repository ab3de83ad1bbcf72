"""The console platform: `salesbot chat` reads stdin and prints what the bot sends."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from threading import Lock
from typing import TextIO

from bot.core.ports import Envelope, SendResult
from bot.core.types import Action, Inbound, InboundKind

PRESS = "!press"


class ConsolePort:
    """Print messages; buttons as `[label] !press ACTION_ID VALUE`."""

    platform = "console"

    def __init__(self, stream: TextIO | None = None, *, me: str | None = None,
                 names: Callable[[str], str] | None = None) -> None:
        self.stream = stream
        self.me = me
        self.names = names
        self._lock = Lock()
        self.sent: list[Envelope] = []

    def send(self, envelope: Envelope) -> SendResult:
        out = self.stream or sys.stdout
        with self._lock:
            self.sent.append(envelope)
            out.write(render_envelope(envelope, me=self.me, names=self.names))
            out.flush()
        return SendResult(ok=True, ref_channel=envelope.target, ref_id=envelope.key)


def render_envelope(envelope: Envelope, *, me: str | None = None,
                    names: Callable[[str], str] | None = None) -> str:
    payload = envelope.payload
    lines: list[str] = []
    if envelope.target_kind == "channel":
        lines.append(f"── #{envelope.target} ──")
    elif envelope.target != me:
        who = names(envelope.target) if names else envelope.target
        lines.append(f"── → {who} ({envelope.target}) ──")
    if envelope.update_id or envelope.update_channel:
        lines.append("(updated)")
    if payload.get("title"):
        lines.append(str(payload["title"]))
    if payload.get("text"):
        lines.append(str(payload["text"]))
    for b in payload.get("buttons", []):
        lines.append(f"[{b['label']}] {PRESS} {b['action_id']} {b['value']}")
    if payload.get("image_b64"):
        lines.append(f"[image: {payload.get('image_name', 'chart.png')}]")
    return "\n".join(lines) + "\n\n"


def read_messages(lines: Iterable[str]) -> Iterator[str]:
    """Group input lines into messages: a message ends at an empty line or at end of input."""
    buf: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.strip() == "":
            if buf:
                yield "\n".join(buf)
                buf = []
            continue
        if line.lstrip().startswith(PRESS) and not buf:
            yield line.strip()
            continue
        buf.append(line)
    if buf:
        yield "\n".join(buf)


def to_inbound(user_code: str, message: str) -> Inbound:
    """Turn one console message (or a `!press` line) into an Inbound."""
    key = uuid.uuid4().hex
    stripped = message.strip()
    if stripped.startswith(PRESS):
        parts = stripped.split(None, 2)
        action_id = parts[1] if len(parts) > 1 else ""
        value = parts[2] if len(parts) > 2 else ""
        return Inbound(platform="console", event_key=key, user_id=user_code, kind=InboundKind.ACTION,
                       action=Action(action_id, value))
    kind = InboundKind.COMMAND if stripped.startswith("/") else InboundKind.MESSAGE
    return Inbound(platform="console", event_key=key, user_id=user_code, kind=kind, text=message)
