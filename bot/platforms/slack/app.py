"""The one Slack Bolt app: verify, turn bodies into Inbounds, store, ack, then handle and deliver."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.core.types import DispatchResult, Inbound
from bot.platforms.slack.convert import (
    action_to_inbound,
    command_to_inbound,
    message_event_to_inbound,
    view_to_inbound,
)

log = logging.getLogger("salesbot.slack")

MAX_BODY_BYTES = 1_000_000

InboundHook = Callable[[str, str], None]  # (platform, kind)


class SlackAdapter:
    """Owns the Bolt app built once at start-up; `handle()` answers one HTTP request."""

    def __init__(self, app: Any, *, on_inbound: InboundHook | None = None, socket_mode: bool = False) -> None:
        self.app = app  # bot.wiring.App: dispatch(), outbox, settings
        self.on_inbound = on_inbound
        self.socket_mode = socket_mode  # no HTTP, so no signature: events come over Slack's socket
        settings = app.settings
        self.bot_token = settings.slack.bot_token.get_secret_value()
        self._deliverers = ThreadPoolExecutor(max_workers=settings.outbox.concurrency,
                                              thread_name_prefix="slack-deliver")
        client = WebClient(base_url=settings.slack.api_url,
                           timeout=max(1, int(settings.outbox.http_timeout_seconds)), retry_handlers=[])
        self.bolt = App(
            name="salesbot",
            signing_secret=settings.slack.signing_secret.get_secret_value(),
            client=client,
            # No auth.test per request or at start-up: every request is handled with local work only.
            authorize=self._authorize_function(),
            token_verification_enabled=False,
            # Run listeners in the request thread: the event is stored before the ack goes out.
            process_before_response=True,
            # handle_http() verifies the signature before Bolt sees the body (a forged or truncated
            # body gets 401, not a JSON error); Socket Mode has no signature. Bolt need not do it again.
            request_verification_enabled=False,
            url_verification_enabled=True,
            ssl_check_enabled=True,
            logger=logging.getLogger("salesbot.slack.bolt"),
        )
        self._register()

    def _authorize_function(self) -> Callable[..., AuthorizeResult]:
        token = self.bot_token

        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            """Return the one workspace's bot token without calling Slack."""
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

        return authorize

    # -- listeners ----------------------------------------------------------------------
    def _register(self) -> None:
        bolt = self.bolt
        # Bolt injects listener arguments by parameter name, so plain functions (not bound methods).
        bolt.event("message")(lambda body, ack: self._on_message(body, ack))
        bolt.command(re.compile(r"^/.+"))(lambda body, ack: self._on_command(body, ack))
        bolt.action(re.compile(r".+"))(lambda body, ack: self._on_action(body, ack))
        bolt.view(re.compile(r".*"))(lambda body, ack: self._on_view(body, ack))
        # Everything else we may be subscribed to: acknowledge and ignore, so Slack does not retry.
        bolt.event(re.compile(r".+"))(lambda ack: ack())
        bolt.view_closed(re.compile(r".*"))(lambda ack: ack())

    def _run(self, inbound: Inbound) -> DispatchResult:
        """Record and handle the event in the database; raises (so no ack) when that fails."""
        if self.on_inbound is not None:
            self.on_inbound("slack", str(inbound.kind))
        return self.app.dispatch(inbound, deliver=False)

    def _accept(self, inbound: Inbound, ack: Ack) -> None:
        """Store the event, acknowledge it, and handle it after the acknowledgement has gone out.

        A database error raises before ack(), so Slack gets an error and retries.
        """
        if self.on_inbound is not None:
            self.on_inbound("slack", str(inbound.kind))
        event_id = self.app.receive(inbound)
        ack()
        if event_id is not None:  # None: a retry of an event we already have
            self.app.handle_later(event_id, inbound)

    def _deliver_later(self, result: DispatchResult) -> None:
        if result.keys:
            self._deliverers.submit(self._deliver, result.keys)

    def _deliver(self, keys: tuple[str, ...]) -> None:
        try:
            self.app.outbox.deliver(keys)
        except Exception:  # the outbox worker retries whatever is still pending
            log.exception("delivery after ack failed keys=%d", len(keys))

    def _on_message(self, body: dict[str, Any], ack: Ack) -> None:
        inbound = message_event_to_inbound(body)
        if inbound is None:
            ack()
            return
        self._accept(inbound, ack)

    def _on_command(self, body: dict[str, Any], ack: Ack) -> None:
        self._accept(command_to_inbound(body), ack)

    def _on_action(self, body: dict[str, Any], ack: Ack) -> None:
        inbound = action_to_inbound(body) if body.get("type") == "block_actions" else None
        if inbound is None:
            ack()
            return
        self._accept(inbound, ack)

    def _on_view(self, body: dict[str, Any], ack: Ack) -> None:
        result = self._run(view_to_inbound(body))
        if result.form_errors:
            ack(response_action="errors", errors=dict(result.form_errors))
        else:
            ack(response_action="clear")
        self._deliver_later(result)

    # -- HTTP ---------------------------------------------------------------------------
    def handle_http(self, body: bytes, headers: dict[str, str], query: str = "") -> BoltResponse:
        """Answer one POST /slack/events (blocking: call it from a worker thread)."""
        if len(body) > MAX_BODY_BYTES:
            return BoltResponse(status=413, body="")
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        if not timestamp.strip().lstrip("-").isdigit():
            return BoltResponse(status=401, body={"error": "invalid request"})
        # Verify before parsing: a truncated or forged body must get 401, not a JSON error (500).
        secret = self.app.settings.slack.signing_secret.get_secret_value()
        if not SignatureVerifier(secret).is_valid(body=body, timestamp=timestamp,
                                                  signature=lowered.get("x-slack-signature", "")):
            return BoltResponse(status=401, body={"error": "invalid request"})
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return BoltResponse(status=400, body="")
        try:
            request = BoltRequest(body=text, query=query, headers=lowered)
        except ValueError:  # signed but not parseable
            return BoltResponse(status=400, body="")
        try:
            return self.bolt.dispatch(request)
        except Exception:  # never leak a trace to Slack; a non-200 makes Slack retry an event
            log.exception("slack request failed")
            return BoltResponse(status=500, body="")

    def close(self) -> None:
        self._deliverers.shutdown(wait=True, cancel_futures=False)
