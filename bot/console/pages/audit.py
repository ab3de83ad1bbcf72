"""/console/audit: who changed what and when, from chat, the console and the command line alike (services/audit.py),
filterable by who, what, where and when, exportable, with before and after (a side-by-side diff for a text)."""

from __future__ import annotations

import difflib
import json
import re
from datetime import date
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select
from starlette.responses import Response

from bot.console import params
from bot.console.pages.admin import ADMINS
from bot.console.tables import Column, Table
from bot.console.web import BadInput, NotFound, View, page
from models import AuditEntry, Person
from services import audit

FAMILIES = ("template", "field", "goal", "collab", "import", "console")
SOURCES = ("console", "slack", "wecom", "dingtalk", "feishu", "terminal", "cli", "system")
MAX_ROWS = 20_000  # newest first; a filter narrows further


def _day(view: View, name: str) -> date | None:
    if not view.param(name):
        return None
    return params.day(view, name)[0]


def _words(view: View, key: str, value: str) -> str:
    full = f"{key}.{value}"
    return view.t(full) if view.t.has(full) else value


def summary(value: Any, limit: int = 120) -> str:
    """Before or after in one line: `target 500000, floor 400000`; a text by its first line."""
    if value is None:
        return ""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, str) and "\n" in item:
                item = item.strip().splitlines()[0] + " …"
            elif isinstance(item, dict | list):
                item = json.dumps(item, ensure_ascii=False)
            parts.append(f"{key} {item}")
        text = ", ".join(parts)
    else:
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@page("/console/audit", roles=ADMINS)
def audit_log(view: View) -> Response:
    """The audit log, newest first: `?who=CODE&what=FAMILY&source=S&since=D&until=D&q=TEXT`."""
    t = view.t
    since, until = _day(view, "since"), _day(view, "until")
    if since and until and since > until:
        raise BadInput("until", view.param("until"), t("aud.expected.until"))
    what, source, who, text = view.param("what"), view.param("source"), view.param("who"), view.param("q")
    if what and what not in FAMILIES and what not in {a.value for a in audit.Action}:
        raise BadInput("what", what, ", ".join(FAMILIES))
    if source and source not in SOURCES:
        raise BadInput("source", source, ", ".join(SOURCES))
    rows_in = audit.entries(view.session, since=since, until=until, zone=view.settings.org.timezone,
                            actions=(what,) if what else (), actor=who or None, source=source or None,
                            text=text or None, limit=MAX_ROWS)
    names = {pid: name for pid, name in view.session.execute(
        select(Person.id, Person.name).where(Person.id.in_({e.actor_id for e in rows_in if e.actor_id})))}
    zone = view.today_zone()
    rows = [{"id": e.id, "at": e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
             "who": f"{names[e.actor_id]} ({e.actor})" if e.actor_id in names else e.actor,
             "source": _words(view, "aud.source", e.source), "what": _words(view, "aud.action", e.action),
             "target": e.target, "before": summary(e.before), "after": summary(e.after),
             "before_json": json.dumps(e.before, ensure_ascii=False) if e.before is not None else "",
             "after_json": json.dumps(e.after, ensure_ascii=False) if e.after is not None else ""}
            for e in rows_in]
    details = Column("id", t("aud.col.details"), link=lambda r: f"/console/audit/entry?id={r['id']}")
    columns = [Column("at", t("aud.col.at")), Column("what", t("aud.col.what")), Column("target", t("aud.col.target")),
               Column("who", t("aud.col.who")), Column("source", t("aud.col.source")),
               Column("before", t("aud.col.before")), Column("after", t("aud.col.after")), details]
    if view.param("format"):  # the export carries before and after whole
        columns = [*columns[:5], Column("before_json", t("aud.col.before")), Column("after_json", t("aud.col.after")),
                   Column("id", "id")]
    table = Table("main", t("aud.title"), columns, rows, empty=t("aud.none"))
    actors = list(view.session.execute(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor).limit(500)))
    filters = {"who": who, "what": what, "source": source, "since": view.param("since"), "until": view.param("until"),
               "q": text}
    return view.respond("audit.html", tables=[table], filters=filters, families=FAMILIES, sources=SOURCES,
                        actors=[a for (a,) in actors], capped=len(rows_in) >= MAX_ROWS)


def _diff(old: str, new: str, view: View) -> Markup:
    table = difflib.HtmlDiff(tabsize=2, wrapcolumn=36).make_table(
        old.split("\n"), new.split("\n"), fromdesc=str(escape(view.t("aud.col.before"))),
        todesc=str(escape(view.t("aud.col.after"))), context=False)
    return Markup(re.sub(r'\s+(nowrap="nowrap"|cellspacing="0"|cellpadding="0"|rules="groups")', "", table))


@page("/console/audit/entry", roles=ADMINS)
def audit_entry(view: View) -> Response:
    """One change (`?id=N`): who, when, where, and before and after in full (texts side by side)."""
    raw = view.param("id")
    if not raw:
        return view.redirect("/console/audit")
    if not raw.isdigit() or int(raw) >= 2**31:
        raise BadInput("id", raw, view.t("aud.expected.id"))
    entry = view.session.get(AuditEntry, int(raw))
    if entry is None:
        raise NotFound()
    before = entry.before if isinstance(entry.before, dict) else {"value": entry.before} if entry.before else {}
    after = entry.after if isinstance(entry.after, dict) else {"value": entry.after} if entry.after else {}
    fields = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            fields.append({"key": key, "diff": _diff(old, new, view)})
        else:
            fields.append({"key": key, "old": _show(old), "new": _show(new), "changed": old != new})
    actor = view.session.get(Person, entry.actor_id) if entry.actor_id else None
    return view.render("audit_entry.html", entry=entry, fields=fields,
                       at=entry.at.astimezone(view.today_zone()).strftime("%Y-%m-%d %H:%M:%S"),
                       who=f"{actor.name} ({entry.actor})" if actor is not None else entry.actor,
                       what=_words(view, "aud.action", entry.action), source=_words(view, "aud.source", entry.source))


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return str(value)


__all__ = ["audit_entry", "audit_log", "summary"]
