"""Sign Slack requests the way Slack does (v0 HMAC-SHA256), independent of bolt."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None, content_type: str = "application/json",
                   **extra: str) -> dict[str, str]:
    """Headers for a signed request; `timestamp` defaults to now."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": signature(secret, ts, body)}
    headers.update(extra)
    return headers


def event_body(event: dict[str, Any], *, event_id: str, team_id: str = "T_FAKE") -> bytes:
    """An Events API `event_callback` body."""
    return json.dumps({"token": "x", "team_id": team_id, "api_app_id": "A_FAKE", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event}).encode()


def dm_event(user: str, text: str, *, event_id: str, ts: str = "1700000000.000100", **extra: Any) -> bytes:
    """A direct message from `user` to the bot."""
    event = {"type": "message", "channel": "D" + user[1:], "channel_type": "im", "user": user, "text": text,
             "ts": ts, "event_ts": ts}
    event.update(extra)
    return event_body(event, event_id=event_id)


def command_body(command: str, text: str, *, user: str, trigger_id: str) -> bytes:
    """A slash command body (form encoded)."""
    return urlencode({"token": "x", "team_id": "T_FAKE", "team_domain": "fake", "channel_id": "D_X",
                      "channel_name": "directmessage", "user_id": user, "user_name": user.lower(),
                      "command": command, "text": text, "api_app_id": "A_FAKE", "trigger_id": trigger_id,
                      "response_url": "https://hooks.slack.invalid/commands/1"}).encode()


def payload_body(payload: dict[str, Any]) -> bytes:
    """An interactivity body: `payload=<json>` form encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_action(user: str, action_id: str, value: str, *, trigger_id: str) -> bytes:
    return payload_body({
        "type": "block_actions", "team": {"id": "T_FAKE"}, "user": {"id": user}, "api_app_id": "A_FAKE",
        "trigger_id": trigger_id, "container": {"type": "message", "message_ts": "1700000001.000100",
                                                "channel_id": "D_X"},
        "channel": {"id": "D_X"}, "message": {"ts": "1700000001.000100", "text": "x"},
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "action_ts": "1700000002.000200"}],
    })


def view_submission(user: str, callback_id: str, values: dict[str, str], *, trigger_id: str,
                    meta: str = "") -> bytes:
    state = {block: {"value": {"type": "plain_text_input", "value": v}} for block, v in values.items()}
    return payload_body({
        "type": "view_submission", "team": {"id": "T_FAKE"}, "user": {"id": user}, "api_app_id": "A_FAKE",
        "trigger_id": trigger_id,
        "view": {"id": "V_1", "type": "modal", "callback_id": callback_id, "private_metadata": meta,
                 "hash": "h1", "state": {"values": state}},
    })


FORM = "application/x-www-form-urlencoded"
