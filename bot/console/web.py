"""The console's frame: page declaration with its role guard, sessions, CSRF, errors, rendering, exports."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import anyio
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console import assets, i18n
from bot.console.chat_html import chat_html
from bot.console.tables import Table, export_response
from bot.core.context import person_locale
from bot.core.db import one_core
from bot.core.rendering import format_day, format_money, format_number, format_pct
from bot.core.settings import Settings
from models import Person, Region, Team
from services.console_auth import Signed, load_session
from services.scope import OutOfScope, Scope, scope_for

log = logging.getLogger("salesbot.console")

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SIGNIN_PATH = "/console/signin"
MAX_UPLOAD = 10 * 1024 * 1024  # bytes of a file uploaded to the console (an organisation's CSV or workbook)


# ---------------------------------------------------------------------------
# errors a page may raise


class ConsoleError(Exception):
    """Stop the page and answer with the error page: `status`, a message key and its variables."""

    status = 400

    def __init__(self, key: str, **variables: Any) -> None:
        super().__init__(key)
        self.key = key
        self.variables = variables


class BadInput(ConsoleError):
    """A query parameter or form field is wrong: name it, show what was given and what would be right."""

    status = 400

    def __init__(self, param: str, value: str, expected: str, **variables: Any) -> None:
        super().__init__("error.bad_input", param=param, value=value[:80], expected=expected, **variables)


class NotFound(ConsoleError):
    status = 404

    def __init__(self) -> None:
        super().__init__("error.not_found")


class Refused(ConsoleError):
    status = 403


class Internal(ConsoleError):
    status = 500


# ---------------------------------------------------------------------------
# page declaration


@dataclass(frozen=True)
class PageSpec:
    """One console URL: its path, the roles that may open it (None: everyone signed in), its function."""

    path: str
    func: Callable[[View], Response]
    roles: frozenset[str] | None
    methods: tuple[str, ...]
    sample: Mapping[str, str]  # path parameters for the route-walking test (codes from tests/support/org.py)
    upload: bool = False  # a POST may carry one file (view.files), at most MAX_UPLOAD bytes


PAGES: list[PageSpec] = []


def page(path: str, *, roles: tuple[str, ...] | None = None, methods: tuple[str, ...] = ("GET",),
         sample: Mapping[str, str] | None = None,
         upload: bool = False) -> Callable[[Callable[[View], Response]], Callable[[View], Response]]:
    """Declare a console page: `@page("/console/overview", roles=MANAGERS)` over `def overview(view) -> Response`."""

    def register(func: Callable[[View], Response]) -> Callable[[View], Response]:
        PAGES.append(PageSpec(path, func, frozenset(roles) if roles else None, methods, dict(sample or {}), upload))
        return func

    return register


# ---------------------------------------------------------------------------
# rendering


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("bot.console", "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=format_money, number=format_number, pct=format_pct, day=format_day, chat=chat_html)
    env.globals["static"] = assets.url
    return env


ENV = _environment()


def html_headers(*, referrer: str = "same-origin") -> dict[str, str]:
    """Headers on every HTML page: no caching without revalidation (WeCom's browser caches hard), no framing."""
    return {
        "Cache-Control": "no-cache",
        "Referrer-Policy": referrer,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                   "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    }


def render_page(template: str, *, locale: str, status: int = 200, referrer: str = "same-origin",
                **variables: Any) -> HTMLResponse:
    """Render a console template in a locale with the shared globals (t, lang, ...)."""
    variables.setdefault("person", None)
    variables.setdefault("csrf_token", "")
    variables.setdefault("nav", [])
    body = ENV.get_template(template).render(t=i18n.translator(locale), lang=locale, **variables)
    return HTMLResponse(body, status_code=status, headers=html_headers(referrer=referrer))


def error_page(err: ConsoleError, locale: str, *, person: Person | None = None, csrf_token: str = "") -> HTMLResponse:
    return render_page("error.html", locale=locale, status=err.status, person=person, csrf_token=csrf_token,
                       message_key=err.key, variables=err.variables, nav=nav_for(person) if person else [])


def request_locale(request: Request, settings: Settings) -> str:
    """The locale for someone not signed in: their browser's language when it is one we have."""
    accept = request.headers.get("accept-language", "").casefold()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return settings.org.locale


# ---------------------------------------------------------------------------
# the view a page function gets


@dataclass
class View:
    """One signed-in request: the database session, the person, their scope, locale and words."""

    request: Request
    session: Session
    settings: Settings
    person: Person
    scope: Scope
    csrf_token: str
    now: datetime
    form: Mapping[str, str] = field(default_factory=dict)
    app: Any = None  # the application (bot.wiring.App): what the composition root hands the console
    files: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)  # upload pages: name -> (filename, bytes)

    @property
    def locale(self) -> str:
        return person_locale(self.person, self.settings)

    @property
    def t(self) -> i18n.Translator:
        return i18n.translator(self.locale)

    def today_zone(self) -> Any:
        from bot.core.context import team_zone

        return team_zone(self.person.team, self.settings)

    def today(self) -> date:
        return self.now.astimezone(self.today_zone()).date()

    # -- parameters -----------------------------------------------------------------------
    def param(self, name: str, default: str = "") -> str:
        value = self.request.query_params.get(name, default)
        if len(value) > 200:
            raise BadInput(name, value, self.t("expected.short"))
        return value.strip()

    def path(self, name: str) -> str:
        return str(self.request.path_params.get(name, ""))

    def url(self, path: str, **params: Any) -> str:
        """A console URL with query parameters (empty ones left out)."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        return f"{path}?{urlencode(query)}" if query else path

    def here(self, **changes: Any) -> str:
        """This page's URL with some query parameters changed (None removes one)."""
        query = dict(self.request.query_params)
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        return self.url(self.request.url.path, **query)

    # -- answers --------------------------------------------------------------------------
    def render(self, template: str, /, **variables: Any) -> HTMLResponse:
        return render_page(template, locale=self.locale, person=self.person, csrf_token=self.csrf_token,
                           nav=nav_for(self.person), view=self, **variables)

    def respond(self, template: str, /, *, tables: list[Table], filters: Mapping[str, str],
                **variables: Any) -> Response:
        """Render a table page, or export one of its tables when `?format=csv|xlsx` asks for it."""
        fmt = self.param("format")
        if fmt:
            if fmt not in ("csv", "xlsx"):
                raise BadInput("format", fmt, "csv, xlsx")
            name = self.param("table") or tables[0].name
            table = next((t for t in tables if t.name == name), None)
            if table is None:
                raise BadInput("table", name, ", ".join(t.name for t in tables))
            return export_response(table, fmt, filters, self.t)
        for table in tables:
            table.paginate(self)
        return self.render(template, tables={t.name: t for t in tables}, filters=filters, **variables)

    def redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-cache"})


def nav_for(person: Person | None) -> list[tuple[str, str]]:
    """The menu: (message key, URL) for what the person may open."""
    if person is None:
        return []
    items = [("nav.me", f"/console/people/{person.code}")]
    if person.role in ("manager", "admin"):
        items = [("nav.overview", "/console/overview"), ("nav.reports", "/console/reports"),
                 ("nav.funnel", "/console/funnel"), ("nav.followups", "/console/followups"),
                 ("nav.collabs", "/console/collabs"), ("nav.goals", "/console/goals"), *items]
    if person.role == "admin":
        items += [("nav.templates", "/console/templates"), ("nav.fields", "/console/fields"),
                  ("nav.import", "/console/import"), ("nav.audit", "/console/audit")]
    return items


# ---------------------------------------------------------------------------
# sessions and the request wrapper


def is_https(settings: Settings) -> bool:
    return settings.server.public_url.casefold().startswith("https://")


def cookie_name(settings: Settings) -> str:
    return "__Host-salesbot_console" if is_https(settings) else "salesbot_console"


def set_session_cookie(response: Response, settings: Settings, cookie_id: str) -> None:
    response.set_cookie(cookie_name(settings), cookie_id, max_age=settings.console.session_hours * 3600,
                        path="/", secure=is_https(settings), httponly=True, samesite="lax")


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=is_https(settings), httponly=True,
                           samesite="lax")


def cross_site(request: Request) -> bool:
    return request.headers.get("sec-fetch-site", "").casefold() == "cross-site"


def csrf_ok(request: Request, form: Mapping[str, str], expected: str) -> bool:
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and secrets.compare_digest(given.encode(), expected.encode())


class Runtime:
    """What the console needs of the application: settings, the database and the clock."""

    def __init__(self, app: Any) -> None:
        self.settings: Settings = app.settings
        self.db = app.db
        self.clock = app.clock
        self.app = app


def _handle(rt: Runtime, spec: PageSpec, request: Request, form: Mapping[str, str],
            files: Mapping[str, tuple[str, bytes]] | None = None) -> Response:
    """Run one page in one unit of work (sync, on a worker thread)."""
    now = rt.clock.now()
    with rt.db.unit_of_work() as session:
        one_core(session)
        signed: Signed | None = load_session(session=session, cookie_id=request.cookies.get(cookie_name(rt.settings)),
                                             now=now, settings=rt.settings)
        if signed is None:
            response: Response = RedirectResponse(SIGNIN_PATH, status_code=303, headers={"Cache-Control": "no-cache"})
            if request.cookies.get(cookie_name(rt.settings)):
                clear_session_cookie(response, rt.settings)
            return response
        person = signed.person
        locale = person_locale(person, rt.settings)
        if request.method in UNSAFE and (cross_site(request) or not csrf_ok(request, form, signed.csrf_token)):
            session.rollback()
            return error_page(Refused("error.csrf"), locale, person=person, csrf_token=signed.csrf_token)
        if spec.roles is not None and person.role not in spec.roles:
            return error_page(NotFound(), locale, person=person, csrf_token=signed.csrf_token)
        view = View(request=request, session=session, settings=rt.settings, person=person,
                    scope=scope_for(session=session, person=person), csrf_token=signed.csrf_token, now=now,
                    form=form, app=rt.app, files=files or {})
        savepoint = session.begin_nested()
        try:
            response = spec.func(view)
            savepoint.commit()
            return response
        except OutOfScope as missing:
            savepoint.rollback()
            return error_page(not_found(session, view, missing), locale, person=person, csrf_token=signed.csrf_token)
        except ConsoleError as err:
            savepoint.rollback()
            return error_page(err, locale, person=person, csrf_token=signed.csrf_token)


CHOICES_SHOWN = 30  # the codes a "no such region or team" page lists


def not_found(session: Session, view: View, missing: OutOfScope) -> ConsoleError:
    """404 for a code that does not exist or is not the person's (the same answer, so nothing leaks), saying
    which code was not found and, for a region or team, which codes the person may use."""
    if missing.kind not in ("region", "team", "person"):
        return NotFound()
    kind = view.t(f"kind.{'user' if missing.kind == 'person' else missing.kind}")
    choices = ""
    if missing.kind in ("region", "team"):
        model = Region if missing.kind == "region" else Team
        where = view.scope.regions(Region.id if model is Region else Team.region_id)
        rows = session.execute(select(model.code, model.name).where(where).order_by(model.code)
                               .limit(CHOICES_SHOWN + 1)).all()
        choices = ", ".join(f"{name} ({code})" for code, name in rows[:CHOICES_SHOWN])
        choices += ", …" if len(rows) > CHOICES_SHOWN else ""
    err = NotFound()
    err.key = "error.unknown_code" if choices else "error.unknown_code_only"
    err.variables = {"kind": kind, "code": missing.code[:80], "choices": choices}
    return err


def endpoint(rt: Runtime, spec: PageSpec) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        form: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.method in UNSAFE:
            try:
                if spec.upload:
                    data = await request.form(max_files=1, max_fields=200, max_part_size=MAX_UPLOAD * 2)
                    for key, value in data.items():
                        if isinstance(value, str):
                            form[key] = value
                        else:  # an uploaded file: read at most one byte past the limit
                            content = await value.read(MAX_UPLOAD + 1)
                            files[key] = (value.filename or "", content)
                else:
                    data = await request.form(max_files=0, max_fields=200)
                    form = {k: v for k, v in data.items() if isinstance(v, str)}
            except Exception:  # a malformed body: treat as empty, the CSRF check refuses it
                form, files = {}, {}
        try:
            return await anyio.to_thread.run_sync(_handle, rt, spec, request, form, files)
        except Exception:
            log.exception("console page failed path=%s", request.url.path)
            return error_page(Internal("error.internal"), request_locale(request, rt.settings))

    return run


def page_routes(app: Any) -> list[BaseRoute]:
    """Routes for every declared page."""
    rt = Runtime(app)
    return [Route(spec.path, endpoint(rt, spec), methods=list(spec.methods)) for spec in PAGES]
