"""/console/import: the organisation from a CSV or Excel file, for admins: a preview of what would change
(new, updated, unchanged) and every problem with its line and column before anything is written; then the
import, all or nothing. The checks are `salesbot import`'s (services/transfer.py: preview and import_file),
and the import is recorded in the audit log by import_file."""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import PurePath
from typing import Any

from starlette.responses import Response

from bot.console.pages.admin import ADMINS
from bot.console.tables import Column, Table
from bot.console.web import MAX_UPLOAD, BadInput, View, page
from services import audit, transfer
from services.tables import ImportProblems, Problem

SHOWN_CHANGES = 500  # rows of a preview listed on the page (the counts are of every row)
EXTENSIONS = (".csv", ".xlsx", ".json")


def _kind(view: View, raw: str) -> str:
    kind = raw or "users"
    if kind not in transfer.IMPORT_KINDS:
        raise BadInput("kind", raw, ", ".join(transfer.IMPORT_KINDS))
    return kind


def _current(view: View, kind: str) -> Table:
    """The data of a kind as stored now, in the import's columns: download it, change it in Excel, upload it."""
    columns, rows = transfer.export_rows(session=view.session, kind=kind, now=view.now,
                                         zone=view.settings.org.timezone)
    return Table(kind, view.t(f"imp.kind.{kind}"), [Column(c, c) for c in columns],
                 [{c: ";".join(map(str, v)) if isinstance(v := r.get(c), list | tuple) else v for c in columns}
                  for r in rows])


def _form_page(view: View, kind: str, **variables: Any) -> Response:
    kinds = [{"kind": k, "columns": transfer.COLUMNS[k], "required": transfer.REQUIRED[k]}
             for k in transfer.IMPORT_KINDS]
    defaults: dict[str, Any] = {"done": False, "done_vars": {}, "error": "", "problems": [], "refused": False,
                                "preview": None, "changes": [], "more": 0, "counts": {}, "filename": "", "data": "",
                                "digest": ""}
    return view.render("import.html", kind=kind, kinds=kinds, **{**defaults, **variables})


@page("/console/import", roles=ADMINS, methods=("GET", "POST"), upload=True)
def import_page(view: View) -> Response:
    """GET: the upload form (and `?kind=K&format=xlsx|csv`: the kind's current data). POST: check, then import."""
    if view.request.method == "GET":
        kind = _kind(view, view.param("kind"))
        if view.param("format"):
            return view.respond("import.html", tables=[_current(view, kind)], filters={"kind": kind})
        done = view.param("done")
        return _form_page(view, kind, done=done == "1",
                          done_vars={k: view.param(k)[:80] for k in ("file", "created", "updated", "rows")})
    kind = _kind(view, view.form.get("kind", ""))
    if view.form.get("action") == "apply":
        return _apply(view, kind)
    upload = view.files.get("file")
    if upload is None or not upload[1]:
        return _form_page(view, kind, error=view.t("imp.no_file"))
    filename, data = upload
    name = PurePath(filename).name or "upload.csv"
    if len(data) > MAX_UPLOAD:
        return _form_page(view, kind, error=view.t("imp.too_big", mb=MAX_UPLOAD // (1024 * 1024)))
    if not name.lower().endswith(EXTENSIONS):
        return _form_page(view, kind, error=view.t("imp.bad_extension", name=name))
    return _preview(view, kind, name, data)


def _preview(view: View, kind: str, name: str, data: bytes) -> Response:
    result = transfer.preview(session=view.session, kind=kind, data=data, filename=name, now=view.now)
    changed = [c for c in result.changes if c.status != "unchanged"]
    return _form_page(view, kind, preview=result, problems=_problems(view, result.problems),
                      changes=changed[:SHOWN_CHANGES], more=max(0, len(changed) - SHOWN_CHANGES),
                      counts={s: result.count(s) for s in ("new", "updated", "unchanged")}, filename=name,
                      data=base64.b64encode(data).decode("ascii"), digest=hashlib.sha256(data).hexdigest())


def _problems(view: View, problems: list[Problem]) -> list[dict[str, Any]]:
    """Each problem where it is and in the reader's words (`imp.problem.CODE`; the English one without a code)."""
    out = []
    for p in sorted(problems, key=lambda p: (p.line, p.column)):
        key = f"imp.problem.{p.code}"
        message = view.t(key, **p.args) if p.code and view.t.has(key) else p.message
        column = view.t("imp.header_row") if p.column == "header" else p.column
        out.append({"line": p.line, "column": column, "message": message})
    return out


def _apply(view: View, kind: str) -> Response:
    """Import the file the preview showed (sent back with the form); the import checks it all again."""
    name = PurePath(view.form.get("filename", "")).name or "upload.csv"
    try:
        data = base64.b64decode(view.form.get("data", ""), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("data", view.form.get("data", "")[:20], view.t("imp.expected.data")) from None
    if not data or hashlib.sha256(data).hexdigest() != view.form.get("digest", ""):
        raise BadInput("data", view.form.get("data", "")[:20], view.t("imp.expected.data"))
    savepoint = view.session.begin_nested()
    try:
        result = transfer.import_file(session=view.session, kind=kind, data=data, filename=name, now=view.now,
                                      actor=view.person, source=audit.Source.CONSOLE)
        savepoint.commit()
    except ImportProblems as exc:
        savepoint.rollback()  # nothing from the file is written
        return _form_page(view, kind, problems=_problems(view, list(exc.problems)), filename=name, refused=True)
    return view.redirect(view.url("/console/import", kind=kind, done="1", file=name, created=result.created,
                                  updated=result.updated, rows=result.rows))


__all__ = ["import_page"]
