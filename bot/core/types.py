"""Platform-neutral messages: what comes in, what goes out, and to whom."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    MESSAGE = "message"
    COMMAND = "command"
    ACTION = "action"
    FORM = "form"


@dataclass(frozen=True)
class Action:
    action_id: str
    value: str


@dataclass
class Inbound:
    """One thing a person did on a platform, already verified and decoded."""

    platform: str
    event_key: str
    user_id: str
    kind: InboundKind = InboundKind.MESSAGE
    text: str = ""
    action: Action | None = None
    form_id: str | None = None
    form_values: dict[str, str] = field(default_factory=dict)
    form_meta: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    response_code: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The event as stored until it is handled (see Dispatcher.receive)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict() deep-copies: slow
        data["kind"] = str(self.kind)
        data["action"] = {"action_id": self.action.action_id, "value": self.action.value} if self.action else None
        data["received_at"] = self.received_at.isoformat()
        return json.dumps(data, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> Inbound:
        data = json.loads(text)
        action = data.pop("action", None)
        received = datetime.fromisoformat(data.pop("received_at"))
        kind = InboundKind(data.pop("kind"))
        return cls(**data, kind=kind, action=Action(**action) if action else None, received_at=received)


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str
    style: str | None = None  # "primary" | "danger"


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    multiline: bool = False
    initial: str = ""
    optional: bool = True
    hint: str = ""


@dataclass(frozen=True)
class Form:
    """A modal form (Slack views.open); other platforms get the text instead."""

    form_id: str
    title: str
    submit: str
    fields: tuple[FormField, ...]
    meta: str = ""


@dataclass(frozen=True)
class ToPerson:
    """A person, on one platform or (None) on every enabled platform they have an id on."""

    person_id: int
    platform: str | None = None


@dataclass(frozen=True)
class ToTeam:
    """Every channel a team has: Slack channel, WeCom app chat, group robot."""

    team_id: int


@dataclass(frozen=True)
class ToTarget:
    """A raw platform address (someone not in the organisation, a Slack trigger)."""

    platform: str
    kind: str
    target: str


Recipient = ToPerson | ToTeam | ToTarget


@dataclass(frozen=True)
class Outbound:
    """A message to send: neutral markdown, optional buttons, image or form."""

    to: Recipient
    text: str = ""
    buttons: tuple[Button, ...] = ()
    title: str = ""
    key: str | None = None  # unique key; derived from the inbound when None
    update_of: str | None = None  # key of an earlier message to replace
    image: bytes | None = None
    image_name: str = "chart.png"
    form: Form | None = None

    def payload(self) -> dict[str, Any]:
        import base64

        data: dict[str, Any] = {"text": self.text}
        if self.title:
            data["title"] = self.title
        if self.buttons:
            data["buttons"] = [
                {"label": b.label, "action_id": b.action_id, "value": b.value, "style": b.style}
                for b in self.buttons
            ]
        if self.image is not None:
            data["image_b64"] = base64.b64encode(self.image).decode()
            data["image_name"] = self.image_name
        if self.form is not None:
            data["form"] = {
                "form_id": self.form.form_id,
                "title": self.form.title,
                "submit": self.form.submit,
                "meta": self.form.meta,
                "fields": [f.__dict__ for f in self.form.fields],
            }
        return data


@dataclass
class HandlerResult:
    """What a handler returns: messages, and for a form submission its field errors."""

    messages: list[Outbound] = field(default_factory=list)
    form_errors: dict[str, str] | None = None


@dataclass(frozen=True)
class DispatchResult:
    duplicate: bool = False
    keys: tuple[str, ...] = ()
    form_errors: dict[str, str] | None = None
    route: str | None = None
    # Replies written already claimed for sending (bot.core.ports.Envelope), sent after the commit.
    claimed: tuple[Any, ...] = ()
