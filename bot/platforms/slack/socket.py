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
