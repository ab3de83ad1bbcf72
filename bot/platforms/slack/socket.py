"""Slack Socket Mode: the same Bolt app over a WebSocket (no public URL), plus the outbox worker."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("salesbot.slack")


class SocketModeNotConfigured(Exception):
    """slack.app_token (xapp-...) or the bot credentials are missing."""


def run_socket_mode(app: Any, *, stop: threading.Event | None = None) -> None:
    """Connect to Slack in Socket Mode and serve until interrupted (or `stop` is set)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.platforms.slack.app import SlackAdapter
    from bot.worker import OutboxWorker

    settings = app.settings
    app_token = settings.slack.app_token.get_secret_value()
    if not app_token or not settings.slack.enabled:
        raise SystemExit("slack-socket needs slack.bot_token, slack.signing_secret and slack.app_token "
                         "(an xapp- token with connections:write)")
    logging.getLogger("salesbot").setLevel(min(logging.getLogger("salesbot").getEffectiveLevel(), logging.INFO))
    adapter = SlackAdapter(app, socket_mode=True)
    handler = SocketModeHandler(adapter.bolt, app_token=app_token, web_client=adapter.bolt.client)
    worker = OutboxWorker(app).start()
    try:
        handler.connect()
        log.info("slack socket mode connected")
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()
        worker.stop()
        adapter.close()
        app.close()


class SlackSocket:
    """Slack Socket Mode as a `salesbot connect` connector (slack_sdk reconnects and pings by itself)."""

    name = "slack"

    def __init__(self, app: Any, hooks: Any) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.platforms.slack.app import SlackAdapter

        self.adapter = SlackAdapter(app, on_inbound=hooks.on_inbound, socket_mode=True)
        self.handler = SocketModeHandler(self.adapter.bolt, app_token=app.settings.slack.app_token.get_secret_value(),
                                         web_client=self.adapter.bolt.client)
        self._stop = threading.Event()

    def run(self) -> None:
        from slack_sdk.errors import SlackApiError

        from bot.core.connector import ConnectorRefused

        try:
            try:
                self.handler.connect()
            except SlackApiError as exc:
                error = (exc.response.data or {}).get("error") if isinstance(exc.response.data, dict) else ""
                raise ConnectorRefused(f"Slack refused slack.app_token ({error or exc}): it must be an app-level "
                                       "xapp- token with connections:write, and Socket Mode must be on") from None
            log.info("slack socket mode connected")
            self._stop.wait()
        finally:
            self.handler.close()
            self.adapter.close()

    def stop(self) -> None:
        self._stop.set()


def connector(app: Any, hooks: Any) -> SlackSocket | None:
    """Slack Socket Mode when Slack is enabled and has an app-level token."""
    settings = app.settings
    if not settings.slack.enabled or not settings.slack.app_token.get_secret_value():
        return None
    return SlackSocket(app, hooks)
