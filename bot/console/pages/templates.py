"""/console/templates: the message templates for admins: edit with a live preview on real data, history,
side-by-side diff, rollback and reset, through the same service as `/template` in chat."""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import func, select
from starlette.responses import HTMLResponse, Response

from bot.console.pages.admin import ADMINS, record
from bot.console.pages.common import seller_condition
from bot.console.preview import Previewer, PreviewResult
from bot.console.tables import Column, Table
from bot.console.web import BadInput, NotFound, View, page
from bot.core.rendering import LOCALES, MAX_TEMPLATE_CHARS
from models import DailyReport, Person, Team, TemplateVersion
from services import templates as svc

# the filters a template may use besides Jinja's own, each with an example (documented beside the editor)
FILTERS = (
    ("money", "{{ total|money(locale) }}", "12.5万 / 125,000"),
    ("number", "{{ visits|number }}", "1,250"),
    ("pct", "{{ goal.pct_target|pct }}", "42%"),
    ("day", "{{ day|day }}", "2026-11-23"),
    ("bar", "{{ goal.pct_target|bar }}", "████░░░░░░"),
    ("join", "{{ missing|join(', ') }}", "李娜, 王芳"),
    ("length", "{{ missing|length }}", "2"),
    ("default", "{{ note|default('-') }}", "-"),
)
_LINE = re.compile(r"\bline (\d+)")


def _name(view: View) -> str:
    name = view.path("name")
    if not svc.is_known(name):
        raise NotFound()
    return name


def _locale(view: View, raw: str | None = None) -> str:
    value = raw if raw is not None else view.param("locale")
    if not value:
        return view.locale if view.locale in LOCALES else LOCALES[0]
    if value not in LOCALES:
        raise BadInput("locale", value, ", ".join(LOCALES))
    return value


def title_of(view: View, name: str) -> str:
    key = f"tpl.name.{name}"
    return view.t(key) if view.t.has(key) else name


# ---------------------------------------------------------------------------
# the list


@page("/console/templates", roles=ADMINS)
def template_list(view: View) -> Response:
    """Every template with what it is for and the version in use in each locale."""
    t, session = view.t, view.session
    newest = select(func.max(TemplateVersion.id)).group_by(TemplateVersion.name, TemplateVersion.locale)
    latest = {(n, loc): (v, at, author) for n, loc, v, at, author in session.execute(
        select(TemplateVersion.name, TemplateVersion.locale, TemplateVersion.version, TemplateVersion.created_at,
               Person.name).outerjoin(Person, Person.id == TemplateVersion.author_id)
        .where(TemplateVersion.id.in_(newest)))}
    zone = view.today_zone()
    rows = []
    for name in svc.template_names():
        row: dict[str, Any] = {"title": title_of(view, name), "name": name}
        changed = None
        for loc in LOCALES:
            found = latest.get((name, loc))
            row[loc] = t("tpl.version", version=found[0]) if found else t("tpl.default")
            if found and (changed is None or found[1] > changed[1]):
                changed = found
        row["changed"] = (f"{changed[1].astimezone(zone):%Y-%m-%d %H:%M} · {changed[2] or '-'}"
                          if changed else None)
        rows.append(row)
    table = Table("main", t("tpl.list_title"), [
        Column("title", t("tpl.col.title"), link=lambda r: f"/console/templates/{r['name']}"),
        Column("name", t("tpl.col.name")),
        *(Column(loc, t(f"locale.{loc}"), link=lambda r, loc=loc: view.url(f"/console/templates/{r['name']}",
                                                                             locale=loc)) for loc in LOCALES),
        Column("changed", t("tpl.col.changed"))], rows)
    table.page_size = 100
    return view.respond("templates.html", tables=[table], filters={})


# ---------------------------------------------------------------------------
# the editor


def _teams(view: View) -> list[Team]:
    return list(view.session.scalars(select(Team).where(view.scope.regions(Team.region_id)).order_by(Team.code)
                                     .limit(500)))


def _people(view: View, team: Team | None) -> list[Person]:
    if team is None:
        return []
    return list(view.session.scalars(select(Person).where(Person.team_id == team.id, Person.active.is_(True),
                                                          view.scope.people(Person.id))
                                     .order_by(seller_condition(view.today()).desc(), Person.code).limit(500)))


def _choices(view: View, locale: str, values: dict[str, str]) -> dict[str, Any]:
    """The team, person and day a preview uses: as chosen, else a team of the locale, its first seller, today."""
    teams = _teams(view)
    code = values.get("team", "")
    if code:
        team: Team | None = view.scope.team(view.session, code)
    else:
        team = next((tm for tm in teams if (tm.locale or view.settings.org.locale) == locale),
                    teams[0] if teams else None)
    people = _people(view, team)
    person: Person | None = None
    pcode = values.get("person", "")
    if pcode:
        person = next((p for p in people if p.code == pcode), None)
    if person is None:
        person = people[0] if people else None
    raw_day = values.get("day", "")
    if raw_day:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_day):
            raise BadInput("day", raw_day, view.t("expected.day"))
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise BadInput("day", raw_day, view.t("expected.day")) from None
    else:
        # the last day the team reported: a preview of an evening post with nobody's numbers helps nobody
        day = (view.session.scalar(select(func.max(DailyReport.day)).where(
            DailyReport.team_id == team.id, DailyReport.day <= view.today())) if team is not None else None) \
            or view.today()
    return {"teams": teams, "team": team, "people": people, "person": person, "day": day}


def _previewer(view: View) -> Previewer:
    previewer: Previewer = view.app.previewer
    return previewer


def _preview(view: View, name: str, locale: str, body: str, chosen: dict[str, Any]) -> PreviewResult:
    return _previewer(view).preview(view.session, name=name, locale=locale, body=body, team=chosen["team"],
                                    person=chosen["person"], day=chosen["day"], viewer=view.person)


def problem(view: View, err: svc.TemplateRejected, body: str, name: str) -> dict[str, Any]:
    """A refusal in words an admin reads: the reason, the line it is on and the lines around it."""
    t = view.t
    line = err.line
    if line is None:
        found = _LINE.search(err.detail)
        line = int(found[1]) if found else None
    detail = err.detail
    if err.reason is svc.Reason.TOO_LONG:
        detail = str(MAX_TEMPLATE_CHARS)
    message = t(f"tpl.reason.{err.reason}", detail=detail)
    hint = ""
    if err.reason is svc.Reason.UNKNOWN_VARIABLE:
        close = difflib.get_close_matches(err.detail, svc.variables_of(name), n=1)
        if close:
            hint = t("tpl.did_you_mean", name=close[0])
    lines = body.split("\n")
    excerpt = []
    if line is not None and 1 <= line <= len(lines):
        for number in range(max(1, line - 2), min(len(lines), line + 2) + 1):
            excerpt.append({"number": number, "text": lines[number - 1], "bad": number == line})
    return {"line": line, "message": message, "hint": hint, "excerpt": excerpt, "locale": err.locale or ""}


def _status(view: View, name: str, locale: str) -> dict[str, Any]:
    current = svc.current_version(session=view.session, name=name, locale=locale)
    row = view.session.scalar(select(TemplateVersion).where(
        TemplateVersion.name == name, TemplateVersion.locale == locale, TemplateVersion.version == current.version)) \
        if current.version else None
    return {"version": current.version, "body": current.body,
            "author": row.author.name if row is not None and row.author is not None else "",
            "at": f"{row.created_at.astimezone(view.today_zone()):%Y-%m-%d %H:%M}" if row is not None else ""}


def _history(view: View, name: str, locale: str) -> list[dict[str, Any]]:
    zone = view.today_zone()
    out = []
    for row in svc.history(session=view.session, name=name, limit=50):
        if row.locale != locale:
            continue
        first = next((ln.strip() for ln in row.body.splitlines() if ln.strip()), "")
        out.append({"version": row.version, "author": row.author.name if row.author is not None else "-",
                    "at": f"{row.created_at.astimezone(zone):%Y-%m-%d %H:%M}", "first_line": first[:60]})
    return out


def describe(value: Any) -> str:
    """The kind of a sample value, as a console message key."""
    if isinstance(value, bool):
        return "tpl.kind.bool"
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return "tpl.kind.number"
    if isinstance(value, date):
        return "tpl.kind.date"
    if isinstance(value, list):
        return "tpl.kind.list"
    if isinstance(value, dict):
        return "tpl.kind.group"
    if value is None:
        return "tpl.kind.empty"
    return "tpl.kind.text"


def _example(value: Any) -> str:
    if isinstance(value, list | dict) or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def variable_docs(name: str) -> list[dict[str, Any]]:
    """The variables a template may use, from its sample: name, kind, example, how to write it, and
    for a list or a group what each item has."""
    sample = svc.load_sample(name) or {}
    out = []
    for var in svc.variables_of(name):
        value = sample.get(var, "zh-CN" if var == "locale" else ("CNY" if var == "currency" else None))
        entry: dict[str, Any] = {"name": var, "kind": describe(value), "example": _example(value), "parts": [],
                                 "about": f"var.{var}"}
        item = value[0] if isinstance(value, list) and value else value
        if isinstance(value, list):
            entry["snippet"] = f"{{% for row in {var} %}}\n{{{{ row }}}}\n{{% endfor %}}"
        elif isinstance(value, date):
            entry["snippet"] = f"{{{{ {var}|day }}}}"
        else:
            entry["snippet"] = f"{{{{ {var} }}}}"
        if isinstance(item, dict):
            prefix = "row" if isinstance(value, list) else var
            for key, sub in item.items():
                if str(key).startswith("_"):
                    continue
                entry["parts"].append({"name": f"{prefix}.{key}", "kind": describe(sub), "example": _example(sub),
                                       "snippet": f"{{{{ {prefix}.{key} }}}}", "about": f"var.{key}",
                                       "about_here": f"var.{var}.{key}"})
            if isinstance(value, list) and entry["parts"]:
                entry["snippet"] = (f"{{% for row in {var} %}}\n{entry['parts'][0]['snippet']}\n{{% endfor %}}")
        out.append(entry)
    return out


def _editor(view: View, name: str, locale: str, *, body: str, chosen: dict[str, Any],
            refused: dict[str, Any] | None = None, done: str = "", done_version: str = "") -> HTMLResponse:
    status = _status(view, name, locale)
    result = _preview(view, name, locale, body, chosen)
    return view.render("template_edit.html", name=name, title=title_of(view, name), tlocale=locale, locales=LOCALES,
                       body=body, current=status, refused=refused, done=done, done_version=done_version,
                       history=_history(view, name, locale), variables=variable_docs(name), filters=FILTERS,
                       chosen=chosen, result=result, result_problem=_result_problem(view, result, body, name),
                       changed=body != status["body"], oob=False)


def _result_problem(view: View, result: PreviewResult, body: str, name: str) -> dict[str, Any] | None:
    return problem(view, result.error, body, name) if result.error is not None else None


@page("/console/templates/{name}", roles=ADMINS, methods=("GET", "POST"), sample={"name": "evening_leaderboard"})
def template_edit(view: View) -> Response:
    """GET: the editor with the text in use and its preview. POST: save the text (`text`), or show why not."""
    name = _name(view)
    if view.request.method == "POST":
        return _save(view, name)
    locale = _locale(view)
    chosen = _choices(view, locale, {k: view.param(k) for k in ("team", "person", "day")})
    body = svc.current_source(session=view.session, name=name, locale=locale)
    done = view.param("done")
    return _editor(view, name, locale, body=body, chosen=chosen, done=done if done in ("saved", "restored") else "",
                   done_version=view.param("v")[:8])


def _form_text(view: View) -> str:
    body = view.form.get("text", "").replace("\r\n", "\n")
    if len(body) > MAX_TEMPLATE_CHARS * 2:
        raise BadInput("text", body[:40], view.t("tpl.expected.shorter", chars=MAX_TEMPLATE_CHARS))
    return body


def _save(view: View, name: str) -> Response:
    locale = _locale(view, view.form.get("locale", ""))
    body = _form_text(view)
    chosen = _choices(view, locale, {k: view.form.get(k, "") for k in ("team", "person", "day")})
    before = svc.current_version(session=view.session, name=name, locale=locale)
    if body == before.body:
        return view.redirect(view.url(f"/console/templates/{name}", locale=locale))
    try:
        rows = svc.save(session=view.session, name=name, locales=(locale,), body=body, author=view.person,
                        now=view.now, currency=view.settings.org.currency)
    except svc.TemplateRejected as err:
        # refused: nothing stored, the version in use stays; the text stays in the box to be fixed
        return _editor(view, name, locale, body=body, chosen=chosen, refused=problem(view, err, body, name))
    record(view, "template.save", f"{name} {locale}", before={"version": before.version, "text": before.body},
           after={"version": rows[0].version, "text": body})
    return view.redirect(view.url(f"/console/templates/{name}", locale=locale, done="saved", v=rows[0].version,
                                  team=view.form.get("team", ""), person=view.form.get("person", ""),
                                  day=view.form.get("day", "")))


@page("/console/templates/{name}/preview", roles=ADMINS, methods=("POST",), sample={"name": "evening_leaderboard"})
def template_preview(view: View) -> Response:
    """The preview part of the editor for a draft (htmx, as the admin types): changes nothing."""
    name = _name(view)
    locale = _locale(view, view.form.get("locale", ""))
    body = _form_text(view)
    chosen = _choices(view, locale, {k: view.form.get(k, "") for k in ("team", "person", "day")})
    result = _preview(view, name, locale, body, chosen)
    return view.render("_template_preview.html", name=name, tlocale=locale, result=result, chosen=chosen,
                       result_problem=_result_problem(view, result, body, name), oob=True)


@page("/console/templates/{name}/rollback", roles=ADMINS, methods=("POST",), sample={"name": "evening_leaderboard"})
def template_rollback(view: View) -> Response:
    """Restore an old version (`version`; 0 is the shipped default) as the newest, as `/template rollback`."""
    name = _name(view)
    locale = _locale(view, view.form.get("locale", ""))
    raw = view.form.get("version", "")
    if not raw.isdigit() or int(raw) >= 2**31:
        raise BadInput("version", raw, view.t("tpl.expected.version"))
    version = int(raw)
    before = svc.current_version(session=view.session, name=name, locale=locale)
    try:
        rows = svc.rollback(session=view.session, name=name, version=version, locales=(locale,), author=view.person,
                            now=view.now, currency=view.settings.org.currency)
    except LookupError:
        raise BadInput("version", raw, ", ".join(["0", *(str(h["version"]) for h in _history(view, name, locale))])) \
            from None
    except svc.TemplateRejected as err:
        chosen = _choices(view, locale, {})
        return _editor(view, name, locale, body=before.body, chosen=chosen,
                       refused=problem(view, err, svc.version_body(session=view.session, name=name, locale=locale,
                                                                   version=version) or "", name))
    record(view, "template.reset" if version == 0 else "template.rollback", f"{name} {locale}",
           before={"version": before.version, "text": before.body},
           after={"version": rows[0].version, "restored": version, "text": rows[0].body})
    return view.redirect(view.url(f"/console/templates/{name}", locale=locale, done="restored", v=version))


@page("/console/templates/{name}/diff", roles=ADMINS, sample={"name": "evening_leaderboard"})
def template_diff(view: View) -> Response:
    """Two versions side by side (`from`, `to`; 0 is the default, `to` defaults to the version in use)."""
    name = _name(view)
    locale = _locale(view)
    current = svc.current_version(session=view.session, name=name, locale=locale)

    def version(param: str, default: int) -> tuple[int, str]:
        raw = view.param(param) or str(default)
        if not raw.isdigit() or int(raw) >= 2**31:
            raise BadInput(param, raw, view.t("tpl.expected.version"))
        body = svc.version_body(session=view.session, name=name, locale=locale, version=int(raw))
        if body is None:
            raise BadInput(param, raw, view.t("tpl.expected.version"))
        return int(raw), body

    old_v, old = version("from", 0)
    new_v, new = version("to", current.version)
    def label(v: int) -> str:
        return view.t("tpl.default") if v == 0 else view.t("tpl.version", version=v)

    differ = difflib.HtmlDiff(tabsize=2, wrapcolumn=36)
    table = differ.make_table(old.split("\n"), new.split("\n"), fromdesc=str(escape(label(old_v))),
                              todesc=str(escape(label(new_v))), context=False)
    # difflib writes attributes our stylesheet replaces (the CSP allows no inline styles)
    table = re.sub(r'\s+(nowrap="nowrap"|cellspacing="0"|cellpadding="0"|rules="groups")', "", table)
    return view.render("template_diff.html", name=name, title=title_of(view, name), tlocale=locale,
                       diff=Markup(table), old_v=old_v, new_v=new_v, current=current.version, same=old == new,
                       old_label=label(old_v), new_label=label(new_v))


__all__ = ["problem", "template_diff", "template_edit", "template_list", "template_preview", "template_rollback",
           "variable_docs"]
