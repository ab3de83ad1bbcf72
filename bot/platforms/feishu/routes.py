"""POST /feishu/events: events and card clicks in `http` mode: verify, store, answer, handle after."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.platforms.feishu.convert import PLATFORM
from bot.platforms.feishu.crypto import MAX_BODY_BYTES, URL_VERIFICATION, EventCrypto, Rejected
from bot.platforms.feishu.inbox import App, InboundHook, accept

log = logging.getLogger("salesbot.feishu")


class FeishuEvents:
    """The one URL Feishu posts events and card callbacks to."""

    def __init__(self, app: App, *, on_inbound: InboundHook | None = None) -> None:
        self.app = app
        self.on_inbound = on_inbound
        self.crypto = EventCrypto(app.settings.feishu)

    async def receive(self, request: Request) -> Response:
        with self.app.handling.acking():
            return await self._receive(request)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"msg": "too large"}, status_code=413)
        try:
            event = self.crypto.open(body, dict(request.headers), self.app.clock.now())
        except Rejected as exc:
            log.warning("feishu event refused: %s", exc)
            if self.on_inbound is not None:
                self.on_inbound(PLATFORM, "rejected")
            return JSONResponse({"msg": "unauthorized"}, status_code=401)
        if event.get("type") == URL_VERIFICATION:
            return JSONResponse({"challenge": str(event.get("challenge") or "")})
        try:
            await run_in_threadpool(accept, self.app, event, self.on_inbound)
        except Exception:  # the database is down: a non-2xx makes Feishu deliver it again
            log.exception("feishu event could not be recorded")
            return JSONResponse({"msg": "try again"}, status_code=500)
        # An empty answer: a card click's card is updated by PATCH once the click is handled.
        return JSONResponse({})


def feishu_routes(app: App, *, on_inbound: InboundHook | None = None) -> list[Route]:
    """Return the route of the Feishu event URL for the HTTP server."""
    events = FeishuEvents(app, on_inbound=on_inbound)
    return [Route("/feishu/events", events.receive, methods=["POST"])]
