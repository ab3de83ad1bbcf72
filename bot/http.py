"""The HTTP server: /slack/events, /wecom/callback, /dingtalk/callback, /feishu/events, /healthz, /metrics and the web
console on uvicorn."""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import metrics
from bot.console import console_routes
from bot.core.settings import Settings, load_settings
from bot.wiring import App
from bot.worker import OutboxWorker

log = logging.getLogger("salesbot.http")

# Set by `serve` for its worker processes: the parent runs the outbox worker and the scheduler.
CHILD_ENV = "SALESBOT_HTTP_CHILD"
# Threads that may run Slack requests (each one a short database transaction) at once.
SLACK_THREADS = 32


def _wecom_routes(app: App) -> list[BaseRoute]:
    """Return the WeCom callback routes when that adapter exists (it is built separately)."""
    try:
        module = importlib.import_module("bot.platforms.wecom.routes")
    except ModuleNotFoundError as exc:
        if exc.name in ("bot.platforms.wecom.routes", "bot.platforms.wecom"):
            log.warning("wecom is configured but its HTTP adapter is not built yet")
            return []
        raise
    return list(module.wecom_routes(app))


def _database_ok(app: App) -> bool:
    try:
        with app.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any driver error means "not reachable" here
        log.warning("health check: database error %s", type(exc).__name__)
        return False


def create_asgi_app(app: App, *, run_worker: bool = False) -> Starlette:
    """Build the ASGI app around one App (and one Slack Bolt app, made here once)."""
    metrics.install(app)
    slack: Any = None
    if app.settings.slack.enabled:
        from bot.platforms.slack.app import SlackAdapter

        slack = SlackAdapter(app, on_inbound=metrics.record_inbound)
    state: dict[str, Any] = {"limiter": None}

    async def slack_events(request: Request) -> Response:
        if slack is None:
            return JSONResponse({"error": "slack is not configured"}, status_code=404)
        if state["limiter"] is None:
            state["limiter"] = anyio.CapacityLimiter(SLACK_THREADS)
        with app.handling.acking():
            body = await request.body()
            headers = dict(request.headers)
            resp = await anyio.to_thread.run_sync(slack.handle_http, body, headers, request.url.query,
                                                  limiter=state["limiter"])
        if resp.status == 401:
            metrics.record_inbound("slack", "rejected")
            log.info("inbound platform=slack rejected=signature")
        return Response(content=resp.body, status_code=resp.status,
                        headers=resp.first_headers_without_set_cookie())

    async def healthz(_: Request) -> Response:
        ok = await anyio.to_thread.run_sync(_database_ok, app)
        backlog = await anyio.to_thread.run_sync(app.outbox.backlog) if ok else None
        body = {"status": "ok" if ok else "error", "database": "ok" if ok else "error",
                "platforms": list(app.settings.platforms), "outbox_backlog": backlog}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_endpoint(_: Request) -> Response:
        def backlog() -> int | None:
            try:
                return app.outbox.backlog()
            except Exception:
                return None

        data = metrics.render(await anyio.to_thread.run_sync(backlog))
        return Response(content=data, media_type=metrics.CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if app.settings.wecom.enabled:
        routes.extend(_wecom_routes(app))
    if app.settings.dingtalk.enabled and app.settings.dingtalk.mode == "http":
        from bot.platforms.dingtalk.routes import dingtalk_routes

        routes.extend(dingtalk_routes(app, on_inbound=metrics.record_inbound))
    if app.settings.feishu.enabled and app.settings.feishu.mode == "http":
        from bot.platforms.feishu.routes import feishu_routes

        routes.extend(feishu_routes(app, on_inbound=metrics.record_inbound))
    routes.extend(console_routes(app))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        worker = OutboxWorker(app).start() if run_worker else None
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if slack is not None:
                slack.close()

    asgi = Starlette(routes=routes, lifespan=lifespan)
    asgi.state.app = app
    asgi.state.slack = slack
    return asgi


def asgi_factory() -> Starlette:
    """Build the app from the configuration ($SALESBOT_CONFIG): uvicorn's factory for worker processes."""
    settings = load_settings(None)
    app = App(settings)
    return settle_heap(create_asgi_app(app, run_worker=os.environ.get(CHILD_ENV) != "1"))


class IdleCollector:
    """Collect garbage between requests rather than during them.

    A page that adds up a region reads ten thousand rows and makes hundreds of thousands of objects, most of
    them alive until the page is done. Python's automatic collections ran dozens of times a page, each walking
    every object alive at that moment: a tenth of the console overview's time (bench/console.py). Nearly all
    of it is freed by reference counting when the page ends; only cycles need the collector, and collecting
    when no request is in flight finds few objects to walk. So automatic collection is off (settle_heap) and a
    thread collects the young generations every `interval` seconds when the server is idle, or after
    `patience` seconds whatever it is doing (memory stays bounded under constant load), and everything every
    `full_every` seconds."""

    def __init__(self, interval: float = 1.0, patience: float = 10.0, full_every: float = 60.0) -> None:
        self.interval, self.patience, self.full_every = interval, patience, full_every
        self.busy = 0
        self._lock = threading.Lock()
        self._last = self._last_full = time.monotonic()

    def wrap(self, asgi: Any) -> Any:
        """The ASGI app, counting the HTTP requests in flight."""

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await asgi(scope, receive, send)
                return
            with self._lock:
                self.busy += 1
            try:
                await asgi(scope, receive, send)
            finally:
                with self._lock:
                    self.busy -= 1

        return counted

    def collect_if_due(self) -> int | None:
        """Collect if idle (or kept waiting past `patience`); return what was collected, None if not now."""
        now = time.monotonic()
        if self.busy and now - self._last < self.patience:
            return None
        full = now - self._last_full >= self.full_every
        found = gc.collect(2 if full else 1)
        self._last = now
        if full:
            self._last_full = now
        return found

    def start(self) -> IdleCollector:
        def run() -> None:
            while True:
                time.sleep(self.interval)
                self.collect_if_due()

        threading.Thread(target=run, name="salesbot-gc", daemon=True).start()
        return self


def settle_heap(asgi: Any) -> Any:
    """Freeze what was built at start-up (modules, settings, templates, the app) out of the garbage collector's
    walks, and collect between requests (IdleCollector) instead of automatically. Done once per server process,
    after start-up; returns the ASGI app to serve."""
    gc.collect()
    gc.freeze()
    gc.disable()
    return IdleCollector().start().wrap(asgi)


def configure_logging() -> None:
    """Log one line per inbound event and per send at INFO (never message bodies)."""
    logger = logging.getLogger("salesbot")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")


def start_scheduler(app: App) -> Any:
    """Start the in-process scheduler if it is built; return it (it has .shutdown()) or None."""
    try:
        module = importlib.import_module("bot.scheduler")
    except ModuleNotFoundError as exc:
        if exc.name == "bot.scheduler":
            log.warning("the scheduler is not built yet; serving without scheduled jobs")
            return None
        raise
    starter = getattr(module, "start_background", None)
    if starter is None:
        log.warning("bot.scheduler has no start_background(); serving without scheduled jobs")
        return None
    return starter(app)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, scheduler: bool = True,
          workers: int | None = None, config_path: str | None = None) -> None:
    """Run the production HTTP server (uvicorn), the outbox worker and, if asked, the scheduler."""
    import uvicorn

    configure_logging()
    host = host or settings.server.host
    port = port or settings.server.port
    workers = max(1, workers or settings.server.workers)
    if config_path:
        os.environ["SALESBOT_CONFIG"] = str(Path(config_path).resolve())
    app = App(settings)  # upgrades an empty database
    worker = OutboxWorker(app).start()
    sched = start_scheduler(app) if scheduler else None
    log.info("serving host=%s port=%d workers=%d platforms=%s scheduler=%s", host, port, workers,
             ",".join(settings.platforms), sched is not None)
    common: dict[str, Any] = {"host": host, "port": port, "log_config": None, "proxy_headers": True,
                              "timeout_keep_alive": 30, "timeout_graceful_shutdown": 20}
    try:
        if workers > 1:
            os.environ[CHILD_ENV] = "1"
            uvicorn.run("bot.http:asgi_factory", factory=True, workers=workers, **common)
        else:
            uvicorn.run(settle_heap(create_asgi_app(app)), **common)
    finally:
        if sched is not None:
            sched.shutdown()
        worker.stop()
        app.close()
