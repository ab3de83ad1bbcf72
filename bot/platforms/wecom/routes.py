"""GET/POST /wecom/callback: verify, decrypt, store the event, answer at once, handle and deliver after."""

from __future__ import annotations

import logging
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.core.db import Database
from bot.core.handling import ReceivingApp
from bot.core.types import Inbound, InboundKind
from bot.platforms.wecom.convert import parse_xml, to_inbound
from bot.platforms.wecom.crypto import MAX_BODY_BYTES, CallbackCrypto, CallbackRejected
from bot.platforms.wecom.port import remember_response_code


class App(ReceivingApp, Protocol):
    """What the adapter needs of `bot.wiring.App`: what every receiving side needs, and the database, where
    a card click's response code is kept before the click is stored."""

    db: Database


log = logging.getLogger("salesbot.wecom")


class WecomCallback:
    """The two endpoints of the WeCom callback URL."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.crypto = CallbackCrypto(app.settings.wecom)

    async def verify(self, request: Request) -> Response:
        """Answer WeCom's URL verification with the decrypted echostr."""
        q = request.query_params
        try:
            echo = self.crypto.verify_url(msg_signature=q.get("msg_signature"), timestamp=q.get("timestamp"),
                                          nonce=q.get("nonce"), echostr=q.get("echostr"),
                                          now=self.app.clock.now())
        except CallbackRejected as exc:
            log.warning("wecom url verification refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(echo)

    async def receive(self, request: Request) -> Response:
        """Verify and decrypt a callback, store it, answer 200 empty; handle it and reply after."""
        with self.app.handling.acking():
            return await self._receive(request)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("too large", status_code=413)
        q = request.query_params
        try:
            xml = self.crypto.decrypt_body(body, msg_signature=q.get("msg_signature"),
                                           timestamp=q.get("timestamp"), nonce=q.get("nonce"),
                                           now=self.app.clock.now())
        except CallbackRejected as exc:
            log.warning("wecom callback refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=403)
        inbound = to_inbound(parse_xml(xml))
        if inbound is None:
            return Response(status_code=200)
        try:
            event_id = await run_in_threadpool(self.store, inbound)
        except Exception:  # the database is down: WeCom retries a non-200, and dedupe makes that safe
            log.exception("wecom callback could not be recorded key=%s", inbound.event_key)
            return PlainTextResponse("try again", status_code=500)
        if event_id is not None:  # None: a retry of an event we already have
            self.app.handle_later(event_id, inbound)  # in the background, after this answer
        return Response(status_code=200)

    def store(self, inbound: Inbound) -> int | None:
        """Remember a card click's response code, then store the event (None: a retry we already have)."""
        task_id = str(inbound.meta.get("task_id") or "")
        if inbound.kind == InboundKind.ACTION and inbound.response_code and task_id:
            with self.app.db.unit_of_work() as s:
                remember_response_code(s, task_id=task_id, response_code=inbound.response_code,
                                       now=self.app.clock.now())
        return self.app.receive(inbound)


def wecom_routes(app: App) -> list[Route]:
    """Return the routes of the WeCom callback URL for the HTTP server."""
    callback = WecomCallback(app)
    return [
        Route("/wecom/callback", callback.verify, methods=["GET"]),
        Route("/wecom/callback", callback.receive, methods=["POST"]),
    ]
