"""`salesbot connect`: the long connections of every enabled platform that uses one, in one process.

Each platform package offers `connector(app, hooks)`; adding a platform is one line in CONNECTORS.
Every connector runs on its own thread and reconnects by itself (with backoff and its own liveness
check); this module starts them with the outbox worker that sends the replies, and stops them all
when one reports refused credentials (exit 1 with its message) or on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from typing import Any

from bot import metrics
from bot.core.connector import Connector, ConnectorHooks, ConnectorRefused

log = logging.getLogger("salesbot.connect")

# platform -> "module:factory"; the factory returns None when the platform does not use a long connection.
CONNECTORS: dict[str, str] = {
    "slack": "bot.platforms.slack.socket:connector",
    "dingtalk": "bot.platforms.dingtalk.stream:connector",
    "feishu": "bot.platforms.feishu.ws:connector",
}


def build_connectors(app: Any, hooks: ConnectorHooks) -> list[Connector]:
    found: list[Connector] = []
    for _platform, target in CONNECTORS.items():
        module_name, _, factory = target.partition(":")
        made = getattr(importlib.import_module(module_name), factory)(app, hooks)
        if made is not None:
            found.append(made)
    return found


def run_connect(app: Any, *, stop: threading.Event | None = None, echo: Any = None) -> int:
    """Run every connector until `stop` (or a signal); return the exit code (1: refused credentials)."""
    from bot.worker import OutboxWorker

    say = echo or (lambda text: print(text, file=sys.stderr))
    metrics.install(app)
    hooks = ConnectorHooks(on_inbound=metrics.record_inbound, on_event=metrics.record_connection)
    connectors = build_connectors(app, hooks)
    if not connectors:
        say("connect: no platform uses a long connection here: set slack.app_token (Socket Mode), "
            "dingtalk.client_id and dingtalk.client_secret with dingtalk.mode = \"stream\", or "
            "feishu.app_id and feishu.app_secret with feishu.mode = \"ws\"")
        return 2
    stop = stop or threading.Event()
    failures: list[str] = []

    def serve(connector: Connector) -> None:
        try:
            connector.run()
        except ConnectorRefused as exc:
            failures.append(f"{connector.name}: {exc}")
            stop.set()
        except Exception as exc:  # a bug in a connector: stop, say what, never a bare trace
            log.exception("connector %s failed", connector.name)
            failures.append(f"{connector.name}: stopped on {type(exc).__name__}: {exc}")
            stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker = OutboxWorker(app).start()
    threads = [threading.Thread(target=serve, args=(c,), name=f"connect-{c.name}", daemon=True)
               for c in connectors]
    for thread in threads:
        thread.start()
    log.info("connect: %s", ", ".join(c.name for c in connectors))
    try:
        stop.wait()
    finally:
        for connector in connectors:
            connector.stop()
        for thread in threads:
            thread.join(15)
        worker.stop()
    for failure in failures:
        say(f"connect: {failure}")
    return 1 if failures else 0
