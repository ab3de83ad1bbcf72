"""Signing in: the link's GET (a page with one button, changes nothing), its POST (spends it), logout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console.web import (
    SIGNIN_PATH,
    Refused,
    Runtime,
    View,
    clear_session_cookie,
    cookie_name,
    cross_site,
    error_page,
    page,
    render_page,
    request_locale,
    set_session_cookie,
)
from bot.core.context import person_locale
from models import Person
from services import audit
from services.console_auth import (
    end_session,
    peek_link,
    record_failure,
    redeem_link,
    start_session,
    too_many_failures,
)


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def on_sign_in(session: Any, person: Person, request: Request, now: datetime) -> None:
    """Record a console sign-in in the audit log, in the transaction that starts the session."""
    audit.record(session, action=audit.Action.CONSOLE_SIGN_IN, actor=person, source=audit.Source.CONSOLE, at=now,
                 target=person.code, after={"address": _address(request)})


def _link_refused(rt: Runtime, request: Request, key: str, status: int = 403) -> Response:
    err = Refused(key)
    err.status = status
    return error_page(err, request_locale(request, rt.settings))


def _login_get(rt: Runtime, request: Request, token: str) -> Response:
    now = rt.clock.now()
    with rt.db.unit_of_work() as session:
        address = _address(request)
        if too_many_failures(session=session, address=address, now=now):
            return _link_refused(rt, request, "error.too_many", 429)
        person = peek_link(session=session, token=token, now=now)
        if person is None:
            record_failure(session=session, address=address, now=now)
            return _link_refused(rt, request, "error.link")
        # The page changes nothing: chat apps fetch links to draw previews.
        return render_page("login.html", locale=person_locale(person, rt.settings), referrer="no-referrer",
                           name=person.name, action=request.url.path)


def _login_post(rt: Runtime, request: Request, token: str) -> Response:
    now = rt.clock.now()
    with rt.db.unit_of_work() as session:
        address = _address(request)
        if cross_site(request):
            return _link_refused(rt, request, "error.csrf")
        if too_many_failures(session=session, address=address, now=now):
            return _link_refused(rt, request, "error.too_many", 429)
        person = redeem_link(session=session, token=token, now=now)
        if person is None:
            record_failure(session=session, address=address, now=now)
            return _link_refused(rt, request, "error.link")
        end_session(session=session, cookie_id=request.cookies.get(cookie_name(rt.settings)))
        signed = start_session(session=session, person=person, now=now, settings=rt.settings)
        on_sign_in(session, person, request, now)
        response = RedirectResponse("/console/", status_code=303, headers={"Cache-Control": "no-cache",
                                                                             "Referrer-Policy": "no-referrer"})
        set_session_cookie(response, rt.settings, signed.cookie_id)
        return response


def _signin(rt: Runtime, request: Request) -> Response:
    return render_page("signin.html", locale=request_locale(request, rt.settings),
                       signed_out=request.query_params.get("out") == "1")


def auth_routes(app: Any) -> list[BaseRoute]:
    rt = Runtime(app)

    async def login(request: Request) -> Response:
        token = str(request.path_params["token"])
        handler = _login_post if request.method == "POST" else _login_get
        return await anyio.to_thread.run_sync(handler, rt, request, token)

    async def signin(request: Request) -> Response:
        return _signin(rt, request)

    return [Route("/console/login/{token}", login, methods=["GET", "POST"]),
            Route(SIGNIN_PATH, signin, methods=["GET"])]


@page("/console/logout", methods=("POST",))
def logout(view: View) -> Response:
    """End the session: the row goes, the cookie is cleared."""
    end_session(session=view.session, cookie_id=view.request.cookies.get(cookie_name(view.settings)))
    response = view.redirect(SIGNIN_PATH + "?out=1")
    clear_session_cookie(response, view.settings)
    return response


@page("/console/")
def home(view: View) -> Response:
    """A rep's own page; a manager's or admin's overview."""
    if view.scope.oversees:
        return view.redirect("/console/overview")
    return view.redirect(f"/console/people/{view.person.code}")
