"""Real-browser fixtures: Debian's Chromium driven by Playwright, the app of `salesbot serve` on uvicorn.

One Chromium per test run, the demo organisation seeded once, the app on a free loopback port, and one
browser context per person, signed in once through a link the real /console chat command produced.
These fixtures are package-scoped, so browser tests belong in this folder: they live from the first
browser test to the last, because Playwright's sync API keeps an event loop running in the main thread
while it is open, and other tests call asyncio.run().

    def test_something(open_as):
        view = open_as("manager", "/console/overview", viewport=PHONE)
        expect(view.page.get_by_role("heading", level=1)).to_contain_text("目标总览")

`open_as(who, path, viewport=PHONE, dark=False)` gives a `ConsolePage` (`.page`, `.errors`, `.goto()`), a new
tab in that person's signed-in context; `who` is a role of ROLES or a demo person's code. When the test
ends, any console error or uncaught page error it collected fails the test (`view.allow_errors()` for a
test that expects one, e.g. a 404 page). `console_server.link(code)` gives a fresh sign-in link;
`fresh_context()` a context with nobody signed in.

Chromium is required: when /usr/bin/chromium (or $SALESBOT_CHROMIUM) is missing these tests skip with the
reason, unless SALESBOT_REQUIRE_BROWSER=1 (what .ci/run sets once it has installed it), when they fail.
Screenshots go to $SALESBOT_SCREENSHOTS when it is set (see test_layout.py).
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from tests.conftest import make_settings, wipe

CHROMIUM = os.environ.get("SALESBOT_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("SALESBOT_REQUIRE_BROWSER") == "1"
# As the machine notes say: headless, no sandbox as root, and no calls home (the network is closed).
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Monday 2026-11-23 19:00 in Shanghai: after the evening post, 60 workdays of demo history behind it.
NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
# Demo people by role (bot/demo.py): chenjl manages 华东 and North, liujl 华南, nora North (English).
ROLES = {"admin": "admin", "manager": "chenjl", "other_manager": "liujl", "en_manager": "nora",
         "rep": "zhangwei"}
TIMEOUT_MS = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM}: apt-get install chromium fonts-wqy-microhei (.ci/run does)"
        if REQUIRE:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


class Server:
    """The seeded app on uvicorn, and a way to get a sign-in link as anyone from the real chat command."""

    def __init__(self, app: App, url: str) -> None:
        self.app = app
        self.url = url
        self._n = 0
        self._lock = threading.Lock()

    def link(self, code: str, text: str = "/看板") -> str:
        from tests.console.conftest import LINK

        with self._lock:
            self._n += 1
            out: io.StringIO = self.app.out  # type: ignore[attr-defined]
            start = out.tell()
            self.app.dispatch(Inbound("console", f"browser-{self._n}", code, InboundKind.COMMAND, text=text))
            out.seek(0, io.SEEK_END)
            found = LINK.search(out.getvalue()[start:])
        assert found, out.getvalue()[start:]
        return found[1]


@pytest.fixture(scope="package")
def console_server(browser: Any, migrated_db: Database, database_url: str) -> Iterator[Server]:
    """The demo organisation and history, seeded once; `salesbot serve`'s ASGI app on a free loopback port."""
    import uvicorn

    from bot.demo import run_demo
    from bot.http import create_asgi_app

    wipe(migrated_db)
    port = _free_port()
    settings: Settings = make_settings(database_url, server={"public_url": f"http://127.0.0.1:{port}"})
    clock = FixedClock(NOW)
    seeding = App(settings, db=Database(database_url), clock=clock, ports={"console": ConsolePort(io.StringIO())},
                  migrate=False)
    run_demo(seeding)  # closes its App
    out = io.StringIO()
    app = App(settings, db=migrated_db, clock=clock, ports={"console": ConsolePort(out)}, migrate=False)
    app.out = out  # type: ignore[attr-defined]
    config = uvicorn.Config(create_asgi_app(app), host="127.0.0.1", port=port, log_config=None, lifespan="on",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # uvicorn has no readiness callback; this is start-up, not an assertion
    assert server.started, "uvicorn did not start"
    try:
        yield Server(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        app.handling.close()


@dataclass
class ConsolePage:
    """One browser tab of a signed-in person, with the console errors it logged."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    expect_errors: bool = False

    def goto(self, path: str) -> Any:
        """Open a console path; return the response of the navigation."""
        return self.page.goto(self.base + path)

    def allow_errors(self) -> None:
        """This test expects console errors (a 403 or 404 page logs one)."""
        self.expect_errors = True


def watch(page: Any) -> list[str]:
    """Collect a page's console errors and uncaught exceptions."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console: {msg.text} ({msg.location.get('url')})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return errors


def sign_in(context: Any, server: Server, code: str) -> None:
    """Sign a context in as `code` the way a person does: the chat's link, then its button."""
    page = context.new_page()
    errors = watch(page)
    page.goto(server.link(code))
    page.get_by_role("button").click()
    page.wait_for_url(f"{server.url}/console/**")
    assert not errors, errors
    page.close()


@pytest.fixture(scope="package")
def person_context(browser: Any, console_server: Server) -> Iterator[Callable[[str], Any]]:
    """One signed-in browser context per person (signed in once per run); `who` is a role of ROLES or a code."""
    contexts: dict[str, Any] = {}

    def get(who: str) -> Any:
        code = ROLES.get(who, who)
        if code not in contexts:
            context = browser.new_context(viewport=PHONE, accept_downloads=True, locale="zh-CN")
            context.set_default_timeout(TIMEOUT_MS)
            sign_in(context, console_server, code)
            contexts[code] = context
        return contexts[code]

    yield get
    for context in contexts.values():
        context.close()


@pytest.fixture()
def open_as(person_context: Callable[[str], Any], console_server: Server) -> Iterator[Callable[..., ConsolePage]]:
    """Open a console path in a new tab of a signed-in person; fails the test on any console error."""
    opened: list[ConsolePage] = []

    def open_page(who: str, path: str | None = None, *, viewport: dict[str, int] = PHONE,
                  dark: bool = False) -> ConsolePage:
        page = person_context(who).new_page()
        page.set_viewport_size(viewport)
        page.emulate_media(color_scheme="dark" if dark else "light")
        view = ConsolePage(page, console_server.url, watch(page))
        opened.append(view)
        if path is not None:
            response = view.goto(path)
            assert response is not None and response.ok, (path, response and response.status)
        return view

    yield open_page
    failed = [(v.page.url, v.errors) for v in opened if v.errors and not v.expect_errors]
    for view in opened:
        view.page.close()
    if failed:
        pytest.fail(f"console errors: {failed}")


@pytest.fixture()
def fresh_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """A new browser context with nobody signed in (closed after the test)."""
    made: list[Any] = []

    def make(viewport: dict[str, int] = PHONE, locale: str = "zh-CN") -> Any:
        context = browser.new_context(viewport=viewport, accept_downloads=True, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
