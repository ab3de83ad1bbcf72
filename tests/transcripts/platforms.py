"""The platforms a transcript shows: one entry each, with the request bodies its port sends.

To add a platform: give its port a pure function that returns the API calls it makes for an
envelope, `[(api, body), ...]` (the port sends those same bodies), add one `TranscriptPlatform`
to PLATFORMS below whose `wire` calls it, and run `python -m tests.transcripts --update`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.ports import Envelope
from bot.core.settings import Settings
from bot.platforms import console
from bot.platforms.dingtalk import port as dingtalk
from bot.platforms.feishu import convert as feishu
from bot.platforms.slack import convert as slack
from bot.platforms.wecom import port as wecom

Calls = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Seen:
    """Where a message is seen: the settings, the clock, the person at the keyboard and everyone's names."""

    settings: Settings
    now: datetime
    me: str | None = None  # the speaker's user id on this platform (console: their code)
    names: dict[str, str] = field(default_factory=dict)  # person code -> name


Wire = Callable[[Envelope, Seen], Calls]


@dataclass(frozen=True)
class TranscriptPlatform:
    """How the transcripts enable a platform, address people and teams on it, and show what it sends."""

    name: str
    # settings sections that enable the platform (fake credentials: nothing leaves the process)
    settings: dict[str, dict[str, str]]
    # a person's code -> (user id on the platform, where direct messages go); None: the code itself
    identity: Callable[[str], tuple[str, str | None]] | None
    # a team's code -> the teams.csv columns naming its chats on the platform (models.TEAM_CHAT_COLUMNS)
    team: Callable[[str], dict[str, str]]
    # the API calls the port makes for one envelope, as (API name, JSON body) pairs
    wire: Wire
    # extra inbound fields: Slack slash commands carry a trigger_id (so /report opens a modal)
    command_extra: Callable[[int], dict[str, Any]] = field(default=lambda n: {})


def _console_wire(env: Envelope, seen: Seen) -> Calls:
    text = console.render_envelope(env, me=seen.me, names=lambda code: seen.names.get(code, code))
    return [("print", {"text": text})]


def _type_first(value: Any) -> Any:
    """The same JSON with each object's `type` first: slack_sdk sorts the keys, a reader wants the kind first."""
    if isinstance(value, dict):
        return {k: _type_first(v) for k, v in sorted(value.items(), key=lambda kv: kv[0] != "type")}
    if isinstance(value, list):
        return [_type_first(v) for v in value]
    return value


def _slack_wire(env: Envelope, seen: Seen) -> Calls:
    return [(api, _type_first(body)) for api, body in slack.planned_requests(env)]


def _wecom_wire(env: Envelope, seen: Seen) -> Calls:
    agent = seen.settings.wecom.agent_id
    return wecom.planned_requests(env, int(agent) if agent.isdigit() else agent,
                                  public_url=seen.settings.server.public_url, now=seen.now)


def _dingtalk_wire(env: Envelope, seen: Seen) -> Calls:
    return dingtalk.wire_calls(env, seen.settings)


def _feishu_wire(env: Envelope, seen: Seen) -> Calls:
    return feishu.planned_requests(env.key, env.target_kind, env.target, env.payload, update_id=env.update_id)


PLATFORMS: tuple[TranscriptPlatform, ...] = (
    TranscriptPlatform("console", {}, None, lambda code: {}, _console_wire),
    TranscriptPlatform(
        "slack", {"slack": {"bot_token": "xoxb-transcripts", "signing_secret": "transcripts"}},
        lambda code: (f"U{code.upper()}", f"D{code.upper()}"),
        lambda code: {"slack_channel": f"C{code.upper()}"},
        _slack_wire,
        command_extra=lambda n: {"trigger_id": f"trigger-{n}"},
    ),
    TranscriptPlatform(
        "wecom", {"wecom": {"corp_id": "ww-transcripts", "agent_id": "1000002", "secret": "s", "token": "t",
                            "encoding_aes_key": "a" * 43}},
        lambda code: (code, None),
        lambda code: {"wecom_chat": f"wr{code}"},
        _wecom_wire,
    ),
    TranscriptPlatform(
        "dingtalk", {"dingtalk": {"client_id": "dingtranscripts", "client_secret": "s"}},
        lambda code: (f"dt_{code}", None),
        lambda code: {"dingtalk_chat": f"cid{code}"},
        _dingtalk_wire,
    ),
    TranscriptPlatform(
        "feishu", {"feishu": {"app_id": "cli_transcripts", "app_secret": "s"}},
        lambda code: (f"ou_{code}", None),
        lambda code: {"feishu_chat": f"oc_{code}"},
        _feishu_wire,
    ),
)


# -- a readable dump of request bodies ------------------------------------------------------

_HIDDEN = {"base64": "<the image, base64>", "md5": "<md5 of the image>"}


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        return "<binary file>"
    if isinstance(value, str):
        try:
            looks_like_json = not isinstance(json.loads(value), str)
        except ValueError:
            looks_like_json = False
        plain = (value and value == value.strip() and value[0] not in "\"'[{-|>#&*!%@`" and ": " not in value
                 and not looks_like_json)
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _lines(value: Any, indent: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _entry(f"{indent}{key}:", _HIDDEN.get(key, item), indent + "  ")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:  # `- first: ...` then the other keys under it
                nested = _lines(item, indent + "  ")
                out += [f"{indent}- {nested[0].lstrip()}"] + nested[1:]
            else:
                out += _entry(f"{indent}-", item, indent + "  ")
    return out


def _entry(head: str, item: Any, inner: str) -> list[str]:
    if isinstance(item, str) and "\n" in item:
        # a text block: every line as it is, trailing spaces made visible
        return [f"{head} |"] + [(f"{inner}{line}".rstrip() + ("␠" if line != line.rstrip() else "")) if line else ""
                                for line in item.split("\n")]
    if isinstance(item, dict | list) and item:
        return [head] + _lines(item, inner)
    if isinstance(item, dict | list):
        return [f"{head} {'{}' if isinstance(item, dict) else '[]'}"]
    return [f"{head} {_scalar(item)}"]


def dump_calls(calls: Calls) -> str:
    """Show API calls as `API` lines followed by their bodies, one field a line, text blocks as they read."""
    out: list[str] = []
    for api, body in calls:
        if api == "print":
            out.append(str(body["text"]).rstrip("\n"))
            continue
        out.append(f"{api}")
        out += _lines(body, "  ")
    return "\n".join(out)
