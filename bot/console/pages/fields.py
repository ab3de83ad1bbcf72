"""/console/fields: the daily report fields for admins: add, rename, alias and reorder, through the same
service and rules as `/field` in chat (services/field_admin.py); the report form, template and export follow."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from bot.console.pages.admin import ADMINS, record
from bot.console.tables import Column, Table
from bot.console.web import BadInput, View, page
from services import field_admin as svc
from services.report_fields import load_fields

ACTIONS = ("add", "rename", "alias", "move")
TYPES = ("count", "money", "text")


def _table(view: View) -> Table:
    t = view.t
    rows = [{"place": n, "key": f.key, "type": t(f"fld.type.{f.type}"), "zh": "、".join(f.labels_zh),
             "en": ", ".join(f.labels_en), "aliases": "、".join(f.aliases), "builtin": f.builtin}
            for n, f in enumerate(load_fields(session=view.session), 1)]
    return Table("main", t("fld.title"), [
        Column("place", t("fld.col.place"), "number"), Column("key", t("fld.col.key")),
        Column("type", t("fld.col.type")), Column("zh", t("fld.col.zh")), Column("en", t("fld.col.en")),
        Column("aliases", t("fld.col.aliases")), Column("builtin", t("fld.col.builtin"), "bool")], rows)


def _page(view: View, *, error: dict[str, Any] | None = None, values: dict[str, str] | None = None) -> Response:
    done = view.param("done")
    return view.respond("fields.html", tables=[_table(view)], filters={}, error=error, values=values or {},
                        done=done if done in ACTIONS else "", done_key=view.param("key")[:41], types=TYPES)


@page("/console/fields", roles=ADMINS, methods=("GET", "POST"))
def fields(view: View) -> Response:
    """GET: the fields in report order, with a form for each change. POST `action`: add, rename, alias, move."""
    if view.request.method == "GET":
        return _page(view)
    form = view.form
    action = form.get("action", "")
    if action not in ACTIONS:
        raise BadInput("action", action, ", ".join(ACTIONS))
    key = form.get("key", "").strip()
    before = next((svc.field_item(f, view.locale) for f in load_fields(session=view.session) if f.key == key), None)
    savepoint = view.session.begin_nested()
    try:
        if action == "add":
            # what is typed in a language's box is that language's label, whatever its script
            typed = [f"{side}:{form.get(name, '').strip()}" for side, name in (("zh", "label_zh"), ("en", "label_en"))
                     if form.get(name, "").strip()]
            zh, en = svc.parse_labels(typed)
            field = svc.add_field(session=view.session, key=key, type_word=form.get("type", ""), labels_zh=zh,
                                  labels_en=en)
        elif action == "rename":
            locale = form.get("locale", "")
            if locale not in ("zh-CN", "en"):
                raise BadInput("locale", locale, "zh-CN, en")
            field = svc.rename_field(session=view.session, key=key, label=form.get("label", ""), locale=locale)
        elif action == "alias":
            field = svc.add_alias(session=view.session, key=key, label=form.get("label", ""))
        else:
            raw = form.get("to", "")
            if not raw.isdigit() or not 0 < int(raw) < 1000:
                raise BadInput("to", raw, view.t("fld.expected.place"))
            field = svc.move_field(session=view.session, key=key, to=int(raw))
        savepoint.commit()
    except svc.FieldAdminError as err:
        savepoint.rollback()  # nothing of a refused change stays
        message = view.t(f"fld.err.{err.code}", value=err.value, other=err.other)
        return _page(view, error={"action": action, "key": key, "message": message}, values=dict(form))
    except Exception:
        savepoint.rollback()
        raise
    record(view, f"field.{action}", field.key, before=before, after=svc.field_item(field, view.locale))
    return view.redirect(view.url("/console/fields", done=action, key=field.key) + f"#f-{field.key}")
