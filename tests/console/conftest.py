"""Console fixtures: the org, an App on the test database, an HTTP client and signed-in clients per person."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Inbound, InboundKind
from bot.http import create_asgi_app
from bot.platforms.console import ConsolePort
from bot.wiring import App
from tests.support.org import Org, build_org

_ids = itertools.count(1)
LINK = re.compile(r"(https?://\S+/console/login/([A-Za-z0-9_\-]+))")


@pytest.fixture()
def org(db: Database) -> Org:
    return build_org(db)


@pytest.fixture()
def app(settings: Settings, db: Database, clock: FixedClock, org: Org) -> Iterator[App]:
    out = io.StringIO()
    app = App(settings, db=db, clock=clock, ports={"console": ConsolePort(out)}, migrate=False)
    app.out = out  # type: ignore[attr-defined]
    yield app
    app.handling.close()


def ask_link(app: App, code: str, text: str = "/看板") -> str:
    """Send /console as a person on the console platform; return the link the bot answered with."""
    out: io.StringIO = app.out  # type: ignore[attr-defined]
    start = out.tell()
    app.dispatch(Inbound("console", f"c{next(_ids)}", code, InboundKind.COMMAND, text=text))
    out.seek(0, io.SEEK_END)
    found = LINK.search(out.getvalue()[start:])
    assert found, out.getvalue()[start:]
    return found[1]


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


@pytest.fixture()
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_asgi_app(app), base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture()
def sign_in(app: App) -> Iterator[Callable[[str], TestClient]]:
    """Return a signed-in client for a person code (each its own cookie jar)."""
    asgi = create_asgi_app(app)
    clients: list[TestClient] = []

    def make(code: str) -> TestClient:
        c = TestClient(asgi, base_url="http://testserver", follow_redirects=False)
        c.__enter__()
        clients.append(c)
        resp = c.post(path_of(ask_link(app, code)))
        assert resp.status_code == 303, resp.text
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found[1]
