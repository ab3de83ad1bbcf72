"""What the core asks of a platform: send one envelope, say how it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Envelope:
    """One outbox row as a port sees it."""

    key: str
    platform: str
    target_kind: str
    target: str
    payload: dict[str, Any]
    person_id: int | None = None
    # The message this one replaces, as the platform knows it.
    update_channel: str | None = None
    update_id: str | None = None
    update_response_code: str | None = None
    update_response_code_at: Any = None


@dataclass
class SendResult:
    ok: bool
    ref_channel: str | None = None
    ref_id: str | None = None
    response_code: str | None = None
    retry_after: float | None = None  # seconds the platform asked us to wait
    permanent: bool = False  # retrying will not help
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Port(Protocol):
    platform: str

    def send(self, envelope: Envelope) -> SendResult: ...
