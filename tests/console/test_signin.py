"""Signing in from chat: the link, its GET (changes nothing), its POST (spends it), sessions, logout, CSRF."""

from __future__ import annotations

from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.http import create_asgi_app
from bot.wiring import App
from models import ConsoleLink, ConsoleSession, ManagedRegion, Person
from services.console_auth import LINK_LIMIT, digest
from tests.console.conftest import ask_link, csrf_of, path_of
from tests.support.org import Org


def test_link_goes_to_the_asker_only_and_is_hashed_at_rest(app: App, db: Database, org: Org) -> None:
    link = ask_link(app, "mgr_east")
    assert link.startswith("http://127.0.0.1:8000/console/login/")
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(ConsoleLink)))
        assert [(r.person_id, r.platform, r.token_hash) for r in rows] == [
            (org.ids["user:mgr_east"], "console", digest(token))]
        assert token not in rows[0].token_hash
    out = app.out.getvalue()  # type: ignore[attr-defined]
    assert "看板登录链接" in out and "10 分钟" in out


def test_link_uses_public_url_and_english(app: App, db: Database) -> None:
    app.dispatcher.settings.server.public_url = "https://sales.example.com/"
    link = ask_link(app, "mgr_north", "/console")  # North Team's locale is en
    assert link.startswith("https://sales.example.com/console/login/")
    assert "Console sign-in link" in app.out.getvalue()  # type: ignore[attr-defined]


def test_get_changes_nothing_post_signs_in_once(client: TestClient, app: App, db: Database) -> None:
    path = path_of(ask_link(app, "mgr_east"))
    for _ in range(3):  # chat apps fetch a link to draw its preview
        page = client.get(path)
        assert page.status_code == 200
        assert "以 陈经理 的身份登录" in page.text and page.text.count("<button") >= 1
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-cache"
    assert "set-cookie" not in page.headers
    signed = client.post(path)
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("salesbot_console=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # public_url is not https here
    assert client.get("/console/").headers["location"] == "/console/overview"
    assert client.get("/console/overview").status_code == 200
    # the link is spent: GET and POST both answer 403 with how to get a new one
    for resp in (client.get(path), client.post(path)):
        assert resp.status_code == 403 and "/看板" in resp.text
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleSession)) == 1


def test_secure_host_cookie_when_public_url_is_https(app: App, db: Database) -> None:
    app.settings.server.public_url = "https://sales.example.com"
    with TestClient(create_asgi_app(app), base_url="https://sales.example.com", follow_redirects=False) as c:
        resp = c.post(path_of(ask_link(app, "zhang")))
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith("__Host-salesbot_console=") and "Secure" in cookie and "Path=/" in cookie
        assert "Domain" not in cookie
        assert c.get("/console/").headers["location"] == "/console/people/zhang"


def test_expired_and_unknown_links(client: TestClient, app: App, clock: FixedClock) -> None:
    path = path_of(ask_link(app, "zhang"))
    clock.advance(minutes=11)
    assert client.get(path).status_code == 403
    assert client.post(path).status_code == 403
    assert client.get("/console/login/" + "x" * 43).status_code == 403
    assert client.get("/console/login/short").status_code == 403
    assert "set-cookie" not in client.post("/console/login/" + "y" * 43).headers


def test_failed_redemptions_are_limited_per_address(client: TestClient, app: App) -> None:
    for _ in range(20):
        assert client.post("/console/login/" + "z" * 43).status_code == 403
    good = path_of(ask_link(app, "zhang"))
    resp = client.post(good)
    assert resp.status_code == 429 and "15" in resp.text


def test_link_issuance_is_limited_per_person(app: App, db: Database) -> None:
    for _ in range(LINK_LIMIT):
        ask_link(app, "zhang")
    out = app.out  # type: ignore[attr-defined]
    start = out.tell()
    from bot.core.types import Inbound, InboundKind

    app.dispatch(Inbound("console", "limit-1", "zhang", InboundKind.COMMAND, text="/看板"))
    assert "已经要过好几个登录链接" in out.getvalue()[start:]
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleLink)) == LINK_LIMIT


def test_no_session_redirects_to_how_to_sign_in(client: TestClient) -> None:
    for path in ("/console/", "/console/overview", "/console/people/zhang", "/console/overview?period=bad"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/console/signin"
    page = client.get("/console/signin", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert page.status_code == 200 and "Send /console" in page.text and '<html lang="en">' in page.text
    assert "陈经理" not in page.text


def test_logout_needs_csrf_and_ends_the_session(sign_in, db: Database) -> None:  # noqa: ANN001
    c = sign_in("mgr_east")
    html = c.get("/console/overview").text
    token = csrf_of(html)
    refused = c.post("/console/logout", data={})
    assert refused.status_code == 403 and "没有做任何改动" in refused.text
    cross = c.post("/console/logout", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert c.get("/console/overview").status_code == 200  # still signed in
    done = c.post("/console/logout", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"].startswith("/console/signin")
    assert c.get("/console/overview").status_code == 303
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_htmx_header_carries_csrf(sign_in) -> None:  # noqa: ANN001
    c = sign_in("zhang")
    token = csrf_of(c.get("/console/people/zhang").text)
    assert c.post("/console/logout", headers={"X-CSRF-Token": token}).status_code == 303


def test_session_ends_when_role_or_regions_change(sign_in, db: Database, org: Org) -> None:  # noqa: ANN001
    c = sign_in("mgr_east")
    assert c.get("/console/overview").status_code == 200
    with db.unit_of_work() as s:
        s.add(ManagedRegion(person_id=org.ids["user:mgr_east"], region_id=org.ids["north"]))
    assert c.get("/console/overview").status_code == 303
    c = sign_in("zhang")
    assert c.get("/console/people/zhang").status_code == 200
    with db.unit_of_work() as s:
        s.execute(update(Person).where(Person.code == "zhang").values(role="manager"))
    assert c.get("/console/people/zhang").status_code == 303


def test_sessions_expire_idle_and_absolute(sign_in, clock: FixedClock) -> None:  # noqa: ANN001
    c = sign_in("zhang")
    clock.advance(minutes=119)
    assert c.get("/console/people/zhang").status_code == 200
    clock.advance(minutes=121)
    assert c.get("/console/people/zhang").status_code == 303
    c = sign_in("zhang")
    for _ in range(11):
        clock.advance(minutes=60)
        assert c.get("/console/people/zhang").status_code == 200
    clock.advance(minutes=61)
    assert c.get("/console/people/zhang").status_code == 303


def test_a_new_sign_in_replaces_the_old_session(sign_in, app: App, db: Database) -> None:  # noqa: ANN001
    c = sign_in("zhang")
    c.post(path_of(ask_link(app, "zhang")))
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleSession)) == 1
