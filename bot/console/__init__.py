"""The web console (看板): a third kind of edge beside bot/platforms and the CLI.

How to add a page (the conventions every console page follows):

- **Route and guard**: in a module of `bot/console/pages/`, declare it with the decorator
  `@page("/console/NAME", roles=MANAGERS, sample={...})` over `def NAME(view: View) -> Response`.
  `roles` is the role guard (None: everyone signed in; a role outside it gets 404); `sample`
  gives path parameters for the route-walking test. Add the module to `PAGE_MODULES` below.
  The frame does the rest: no session -> 303 to /console/signin; unsafe methods need the
  CSRF token (hidden `csrf_token` field, or the `X-CSRF-Token` header htmx sends) and are
  refused when `Sec-Fetch-Site: cross-site`; one unit of work per request.
- **Scope**: every query filters through `view.scope` (services/scope.py): `scope.regions(col)`,
  `scope.teams(col)`, `scope.people(col)`, `scope.customers(region_col, owner_col)` for WHERE
  clauses (ORM and Core alike), and `scope.region/team/person(session, code)` for lookups, which
  raise OutOfScope -> 404. Never query a table the scope does not filter.
- **Bad input**: parse query parameters with `bot.console.params` or raise
  `BadInput(param, value, expected)` -> a 400 page in the person's language.
- **Words**: every word comes from `bot/console/locales/{zh-CN,en}.json` through `t("key")`
  (templates) or `view.t("key")` (code); both files have the same keys (a test checks).
  Amounts go through the `money` filter (bot.core.rendering.format_money), like chat.
- **Layout**: templates in `bot/console/templates/` extend `base.html` (`{% block main %}`).
- **Tables**: build `Table(name, title, columns=[Column(key, label, kind, link=...)], rows=[...])`
  and answer with `view.respond("page.html", tables=[...], filters={...})`: the page shows
  50 rows a page (`?page=`), and the same URL with `?format=csv` (UTF-8 with BOM) or
  `?format=xlsx` exports every row with the filters. Render with `{{ table(tables.main) }}`
  from `_table.html`. `Column.link(row)` makes a cell a drill-down.
- **Static files**: put them in `bot/console/static/`; templates use `static('name')`, which
  gives a content-hashed URL cached for a year.
- **Browser tests**: `tests/console/browser/` (Playwright on Debian's /usr/bin/chromium): use the
  `browser`, `console_server` and `signed_in` fixtures of its conftest.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route

PAGE_MODULES = (
    "bot.console.auth",
    "bot.console.pages.people",
    "bot.console.pages.overview",
    "bot.console.pages.reports",
    "bot.console.pages.pipeline",
    "bot.console.pages.templates",
    "bot.console.pages.fields",
    "bot.console.pages.goals",
    "bot.console.pages.importing",
    "bot.console.pages.audit",
)


def console_routes(app: Any) -> list[BaseRoute]:
    """Every console route, for the HTTP app of `salesbot serve`."""
    from bot.console import assets, web
    from bot.console.auth import auth_routes

    for name in PAGE_MODULES:
        importlib.import_module(name)

    async def bare(_: Any) -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    return [*assets.routes(), *auth_routes(app), *web.page_routes(app), Route("/console", bare)]
