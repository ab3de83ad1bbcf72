"""SlackPort: send one outbox envelope through the Slack Web API, and say how it went."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.ports import Envelope, SendResult
from bot.core.settings import Settings
from bot.platforms.slack.convert import (
    message_blocks,
    needs_dm_channel,
    post_body,
    update_body,
    upload_body,
    view_body,
)

log = logging.getLogger("salesbot.slack")

# Retrying cannot help: the token, the address or the message itself is wrong.
PERMANENT_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "not_allowed_token_type", "channel_not_found", "not_in_channel", "is_archived",
    "user_not_found", "user_not_visible", "user_disabled", "cannot_dm_bot", "invalid_arguments",
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments",
    "expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id", "view_too_large",
    "invalid_metadata_format", "invalid_metadata_schema", "restricted_action", "ekm_access_denied",
    "team_access_not_granted", "method_deprecated", "deprecated_endpoint",
})
# chat.update cannot find or change the old message: post a new one instead.
UPDATE_FALLBACK_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
DEFAULT_RETRY_AFTER = 1.0


class SlackPort:
    """chat.postMessage / chat.update / views.open / files_upload_v2 with timeouts and error mapping."""

    platform = "slack"

    def __init__(self, settings: Settings, *, client: WebClient | None = None) -> None:
        self.settings = settings
        # No retry handlers: the outbox decides when to try again, so a long wait never blocks a sender.
        self.client = client or WebClient(
            token=settings.slack.bot_token.get_secret_value(),
            base_url=settings.slack.api_url,
            timeout=max(1, int(settings.outbox.http_timeout_seconds)),
            retry_handlers=[],
        )

    def send(self, envelope: Envelope) -> SendResult:
        try:
            return self._send(envelope)
        except SlackApiError as exc:
            return classify_api_error(exc)
        except (SlackClientError, OSError, TimeoutError) as exc:  # network, timeouts, bad responses
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])

    # -- the calls ----------------------------------------------------------------------
    def _send(self, env: Envelope) -> SendResult:
        payload = env.payload
        if payload.get("form") is not None:
            return self._open_view(env)
        if payload.get("image_b64"):
            return self._upload(env)
        if env.update_channel and env.update_id:
            try:
                resp = self.client.chat_update(**update_body(env))
                return SendResult(ok=True, ref_channel=resp.get("channel") or env.update_channel,
                                  ref_id=resp.get("ts") or env.update_id)
            except SlackApiError as exc:
                if _error_code(exc) not in UPDATE_FALLBACK_ERRORS:
                    raise
                log.info("update not possible key=%s error=%s; posting anew", env.key, _error_code(exc))
        return self._post(env)

    def _post(self, env: Envelope) -> SendResult:
        resp = self.client.chat_postMessage(**post_body(env))
        return SendResult(ok=True, ref_channel=resp.get("channel"), ref_id=resp.get("ts"))

    def _open_view(self, env: Envelope) -> SendResult:
        resp = self.client.views_open(**view_body(env))
        view = resp.get("view") or {}
        return SendResult(ok=True, ref_id=view.get("id"))

    def _channel_for(self, target: str) -> str:
        """Return a channel id for files: a user id becomes its DM channel."""
        if needs_dm_channel(target):
            resp = self.client.conversations_open(users=target)
            return str((resp.get("channel") or {}).get("id") or target)
        return target

    def _upload(self, env: Envelope) -> SendResult:
        channel = self._channel_for(env.target)
        if message_blocks(env.payload)[1]:  # buttons cannot ride on a file comment: post them first
            self._post(env)
        resp = self.client.files_upload_v2(**upload_body(env, channel))
        files = resp.get("files") or [{}]
        return SendResult(ok=True, ref_channel=channel, ref_id=str(files[0].get("id") or "") or None)

    def close(self) -> None:
        """Nothing to release: WebClient opens a connection per call."""


def _error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def classify_api_error(exc: SlackApiError) -> SendResult:
    """Map a Slack API failure to retry-later, wait-this-long, or give-up."""
    status = int(getattr(exc.response, "status_code", 0) or 0)
    code = _error_code(exc) or f"http_{status}"
    headers = {str(k).lower(): v for k, v in (getattr(exc.response, "headers", None) or {}).items()}
    if status == 429 or code == "ratelimited":
        raw = headers.get("retry-after")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        try:
            wait = float(raw) if raw is not None else DEFAULT_RETRY_AFTER
        except (TypeError, ValueError):
            wait = DEFAULT_RETRY_AFTER
        return SendResult(ok=False, retry_after=max(0.0, wait), error=f"ratelimited retry_after={wait:g}")
    if status >= 500:
        return SendResult(ok=False, error=code[:500])
    if code in PERMANENT_ERRORS:
        return SendResult(ok=False, permanent=True, error=code)
    if status in (400, 401, 403, 404, 410):
        return SendResult(ok=False, permanent=True, error=code[:500])
    # fatal_error, internal_error, service_unavailable, request_timeout and anything unknown: try again.
    return SendResult(ok=False, error=code[:500])
