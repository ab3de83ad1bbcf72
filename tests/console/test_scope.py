"""Scope: every console route walked as nobody, a rep, a manager of another region and an admin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from bot.console import PAGE_MODULES, console_routes
from bot.console.web import PAGES
from bot.core.db import Database
from bot.wiring import App
from services.scope import OutOfScope, scope_for
from tests.support.org import Org

# Every GET page with a URL about something of the East region (华东, team sh1, rep zhang).
EAST = ["/console/", "/console/overview?region=east", "/console/overview?team=sh1", "/console/people/zhang",
        "/console/people/zhang?format=csv&table=reports", "/console/overview?region=sh&format=xlsx",
        "/console/reports?team=sh1", "/console/funnel?region=east", "/console/followups?region=east",
        "/console/collabs?region=east", "/console/reports?region=hz&format=csv"]


def _get_pages(app: App) -> list[str]:
    console_routes(app)  # imports every page module
    out = []
    for spec in PAGES:
        if "GET" in spec.methods:
            path = spec.path
            for key, value in spec.sample.items():
                path = path.replace("{" + key + "}", value)
            out.append(path)
    return out


def test_every_route_is_walked(app: App) -> None:
    pages = _get_pages(app)
    assert len(PAGE_MODULES) >= 3 and "/console/overview" in pages and "/console/people/zhang" in pages
    assert set(pages) <= {p.split("?")[0] for p in EAST} | set(pages)


def test_nobody_is_sent_to_sign_in(client: TestClient, app: App) -> None:
    for path in _get_pages(app) + EAST:
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/console/signin", path
        assert "张伟" not in resp.text


def test_manager_of_another_region_gets_404(sign_in: Callable[[str], TestClient], app: App) -> None:
    south = sign_in("mgr_south")
    for path in EAST[1:]:
        resp = south.get(path)
        assert resp.status_code == 404, path
        assert "张伟" not in resp.text and "上海一组" not in resp.text
    own = south.get("/console/overview")
    assert own.status_code == 200 and "华南" in own.text and "华东" not in own.text and "张伟" not in own.text
    assert south.get("/console/people/wang").status_code == 200


def test_rep_sees_only_their_own_page(sign_in: Callable[[str], TestClient], app: App) -> None:
    rep = sign_in("zhang")
    assert rep.get("/console/").headers["location"] == "/console/people/zhang"
    assert rep.get("/console/people/zhang").status_code == 200
    for path in _get_pages(app):
        if path not in ("/console/", "/console/people/zhang"):
            assert rep.get(path).status_code == 404, path
    for path in ("/console/people/li", "/console/people/wang", "/console/overview?region=east",
                 "/console/people/nobody"):
        resp = rep.get(path)
        assert resp.status_code == 404 and "李娜" not in resp.text, path


def test_manager_and_admin_see_their_regions(sign_in: Callable[[str], TestClient], app: App) -> None:
    east = sign_in("mgr_east")
    for path in EAST[1:]:
        assert east.get(path).status_code == 200, path
    assert east.get("/console/overview?region=south").status_code == 404
    assert east.get("/console/people/wang").status_code == 404
    admin = sign_in("admin")
    for path in _get_pages(app) + EAST[1:] + ["/console/people/wang", "/console/overview?region=north"]:
        assert admin.get(path).status_code in (200, 303), path


def test_scope_function(db: Database, org: Org) -> None:
    from models import Person

    with db.unit_of_work() as s:
        east = scope_for(session=s, person=s.get(Person, org.ids["user:mgr_east"]))
        assert east.region_ids == {org.ids["east"], org.ids["sh"], org.ids["hz"]}
        assert east.team(s, "sh1").code == "sh1"
        with pytest.raises(OutOfScope):
            east.team(s, "gz1")
        with pytest.raises(OutOfScope):
            east.person(s, "wang")
        rep = scope_for(session=s, person=s.get(Person, org.ids["user:zhang"]))
        assert rep.person(s, "zhang").code == "zhang" and not rep.oversees
        with pytest.raises(OutOfScope):
            rep.person(s, "li")
        with pytest.raises(OutOfScope):
            rep.customer(s, org.ids["cust:yuanhang"])
        admin = scope_for(session=s, person=s.get(Person, org.ids["user:admin"]))
        assert admin.everything and admin.customer(s, org.ids["cust:yuanhang"]).name == "远航集团"
