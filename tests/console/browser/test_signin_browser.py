"""Signing in with a real browser: the chat's link, its button, the cookie, a replayed link, CSRF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.console.browser.conftest import DESKTOP, PHONE, ConsolePage, Server, watch


def test_sign_in_from_the_chat_link_at_phone_and_desktop(console_server: Server,
                                                         fresh_context: Callable[..., Any]) -> None:
    for viewport in (PHONE, DESKTOP):
        link = console_server.link("liujl")
        context = fresh_context(viewport)
        page = context.new_page()
        errors = watch(page)
        # opening the link (what a chat app's preview does) changes nothing: twice, then the button still works
        for _ in range(2):
            response = page.goto(link)
            assert response is not None and response.status == 200
            expect(page.get_by_role("heading", level=1)).to_contain_text("刘佳丽")
            assert response.headers["referrer-policy"] == "no-referrer"
        assert context.cookies() == []
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{console_server.url}/console/overview")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("heading", level=1)).to_contain_text("目标总览")
        expect(page.locator("header .who")).to_have_text("刘佳丽")
        # the cookie: only a random id, HttpOnly, SameSite=Lax, not Secure over plain http (and not readable by JS)
        (cookie,) = context.cookies()
        assert cookie["name"] == "salesbot_console" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert not cookie["secure"] and cookie["path"] == "/" and len(cookie["value"]) >= 40
        assert "salesbot_console" not in page.evaluate("document.cookie")
        assert not errors, errors


def test_a_replayed_link_is_refused(console_server: Server, fresh_context: Callable[..., Any]) -> None:
    link = console_server.link("wangfang")
    first = fresh_context().new_page()
    first.goto(link)
    first.get_by_role("button").click()
    first.wait_for_url(f"{console_server.url}/console/people/wangfang")
    # the same link again, in another browser: 403 to GET and to POST, with how to get a new one
    other = fresh_context()
    page = other.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("/看板")
    expect(page.get_by_role("button")).to_have_count(0)
    posted = page.request.post(link, max_redirects=0)
    assert posted.status == 403
    assert other.cookies() == []
    # and nobody is signed in there: the console sends them to the sign-in page, which shows no data
    page.goto(f"{console_server.url}/console/overview")
    assert page.url == f"{console_server.url}/console/signin"
    expect(page.get_by_role("heading", level=1)).to_have_text("请先登录")


def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(console_server: Server,
                                                                       open_as: Callable[..., ConsolePage]) -> None:
    view = open_as("huangmin", "/console/people/huangmin")
    page = view.page
    view.allow_errors()  # the 403 page logs "Failed to load resource"
    # a form whose token was taken out (an out-of-date or forged page): 403, nothing changed
    page.locator("form.logout input[name=csrf_token]").evaluate("el => el.remove()")
    with page.expect_response(f"{console_server.url}/console/logout") as answer:
        page.get_by_role("button", name="退出").click()
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("安全校验")
    # a same-origin fetch without the token
    status = page.evaluate("fetch('/console/logout', {method: 'POST'}).then(r => r.status)")
    assert status == 403
    # another site's page posting the right token to our logout: the browser says cross-site, we refuse
    view.goto("/console/people/huangmin")
    token = page.locator("form.logout input[name=csrf_token]").input_value()
    evil = "http://evil.example/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body=(
        f'<form method="post" action="{console_server.url}/console/logout">'
        f'<input type="hidden" name="csrf_token" value="{token}"><button>win a prize</button></form>')))
    page.goto(evil)
    with page.expect_response(f"{console_server.url}/console/logout") as answer:
        page.get_by_role("button", name="win a prize").click()
    assert answer.value.status in (303, 403)  # Lax keeps the cookie off a cross-site POST; either way refused
    # still signed in: the session survived all three
    view.goto("/console/people/huangmin")
    expect(page.locator("header .who")).to_have_text("黄敏")
    # and the page's own form, token and all, does sign out
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/console/signin?out=1")
    expect(page.locator(".ok")).to_have_text("你已退出看板。")
