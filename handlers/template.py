"""/template (/模板): admins list, show, edit, preview, save, roll back message templates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.core.context import Context
from bot.core.errors import Forbidden, UserFacingError
from bot.core.rendering import LOCALES, RENDER_SECONDS, render_source
from bot.core.router import Router
from bot.core.types import Form, FormField, HandlerResult, Outbound, ToTarget
from models import Role, TemplateVersion
from services import audit
from services import templates as svc

SUBCOMMANDS = {
    "list": "list", "ls": "list", "列表": "list", "列出": "list",
    "show": "show", "查看": "show", "显示": "show",
    "edit": "edit", "编辑": "edit", "修改": "edit",
    "save": "save", "保存": "save",
    "preview": "preview", "预览": "preview",
    "history": "history", "历史": "history",
    "rollback": "rollback", "回滚": "rollback", "恢复": "rollback",
}
SLACK_INPUT_CHARS = 3000
USAGE = "/template list | show NAME | edit NAME [LOCALE] | preview NAME [LOCALE] | history NAME | " \
        "rollback NAME VERSION [LOCALE]"


def _usage(problem: str, **variables: Any) -> UserFacingError:
    variables.setdefault("value", "")
    return UserFacingError("template_usage", problem=problem, usage=USAGE, names=[], **variables)


def _require_admin(ctx: Context) -> None:
    if ctx.person is None or ctx.person.role != Role.ADMIN:
        raise Forbidden("role", command="template")


def _name(args: list[str], index: int = 1) -> str:
    if len(args) <= index:
        raise _usage("missing_name")
    name = args[index].strip().lower()
    if not svc.is_known(name):
        close = [n for n in svc.template_names() if name[:4] and n.startswith(name[:4])][:5]
        raise UserFacingError("template_usage", problem="unknown_name", value=args[index], usage=USAGE,
                              names=close)
    return name


def _locales(ctx: Context, word: str | None) -> tuple[str, ...]:
    locales = svc.parse_locales(word, ctx.locale)
    if locales is None:
        raise _usage("bad_locale", value=word or "")
    return locales


def _one_locale(ctx: Context, word: str | None) -> str:
    locales = _locales(ctx, word)
    if len(locales) != 1:
        raise _usage("one_locale", value=word or "")
    return locales[0]


def handle(ctx: Context) -> HandlerResult | list[Outbound]:
    """Run one /template subcommand for an admin."""
    _require_admin(ctx)
    first, _, body = ctx.rest.partition("\n")
    args = first.split()
    if not args:
        return [list_templates(ctx)]
    sub = SUBCOMMANDS.get(args[0].casefold())
    if sub is None:
        raise _usage("unknown_sub", value=args[0])
    if sub == "list":
        return [list_templates(ctx)]
    name = _name(args)
    extra = args[2:]
    if sub == "show":
        return [show(ctx, name, _one_locale(ctx, extra[0] if extra else None))]
    if sub == "edit":
        return [edit(ctx, name, _one_locale(ctx, extra[0] if extra else None))]
    if sub == "preview":
        return [preview(ctx, name, _one_locale(ctx, extra[0] if extra else None))]
    if sub == "history":
        return [show_history(ctx, name)]
    if sub == "save":
        if len(extra) > 1:
            raise _usage("extra_args", value=" ".join(extra[1:]))
        return [save(ctx, name, _locales(ctx, extra[0] if extra else None), body.strip("\n"))]
    # rollback
    if not extra:
        raise _usage("missing_version")
    try:
        version = int(extra[0].lstrip("vV"))
    except ValueError:
        raise _usage("bad_version", value=extra[0]) from None
    if version < 0:
        raise _usage("bad_version", value=extra[0])
    if version >= 2**31:  # no version is that high, and the lookup would overflow the database's integer
        raise _usage("no_version", value=f"{name} {extra[0][:20]}")
    return [do_rollback(ctx, name, version, _locales(ctx, extra[1] if len(extra) > 1 else None))]


def list_templates(ctx: Context) -> Outbound:
    """List every template with its version in use per locale."""
    rows = ctx.session.execute(
        select(TemplateVersion.name, TemplateVersion.locale, func.max(TemplateVersion.version))
        .group_by(TemplateVersion.name, TemplateVersion.locale)
    ).all()
    versions = {(name, locale): version for name, locale, version in rows}
    items = [{"name": name, "versions": {loc: versions.get((name, loc), 0) for loc in LOCALES},
              "customized": any(versions.get((name, loc)) for loc in LOCALES)}
             for name in svc.template_names()]
    return ctx.reply("template_list", templates=items, locales=list(LOCALES))


def show(ctx: Context, name: str, locale: str) -> Outbound:
    """Print a template's text in use and the variables it may use."""
    current = svc.current_version(session=ctx.session, name=name, locale=locale)
    return ctx.reply("template_show", template_name=name, template_locale=locale, version=current.version,
                     body=current.body, variables=svc.variables_of(name))


def _form_labels(ctx: Context, name: str, locale: str) -> dict[str, str]:
    return {part: ctx.render("template_edit", part=part, template_name=name, template_locale=locale, body="",
                             version=0, variables=[])
            for part in ("title", "submit", "label")}


def edit(ctx: Context, name: str, locale: str) -> Outbound:
    """Open a modal on Slack; elsewhere show the text and how to send a new one."""
    assert ctx.inbound is not None
    current = svc.current_version(session=ctx.session, name=name, locale=locale)
    # A Slack text input holds at most 3,000 characters: a longer text is edited the way other platforms do.
    if ctx.inbound.platform == "slack" and ctx.inbound.trigger_id and len(current.body) <= SLACK_INPUT_CHARS:
        labels = _form_labels(ctx, name, locale)
        form = Form(form_id="template_edit", title=labels["title"][:24], submit=labels["submit"][:24],
                    fields=(FormField("body", labels["label"][:48], multiline=True, initial=current.body,
                                      optional=False),),
                    meta=f"{name}|{locale}")
        return Outbound(to=ToTarget("slack", "trigger", ctx.inbound.trigger_id), form=form)
    return ctx.reply("template_edit", part="text", template_name=name, template_locale=locale, body=current.body,
                     version=current.version, variables=svc.variables_of(name))


def preview(ctx: Context, name: str, locale: str) -> Outbound:
    """Render the text in use with sample data."""
    body = svc.current_source(session=ctx.session, name=name, locale=locale)
    context = svc.sample_context(name, locale, currency=ctx.settings.org.currency)
    if context is None:
        raise ctx_refused(name, svc.TemplateRejected(svc.Reason.NO_SAMPLE, detail=name))
    try:
        text = render_source(body, context, deadline=RENDER_SECONDS)
    except Exception:  # noqa: BLE001 - the stored text no longer renders: say so, do not crash
        try:
            svc.validate(name, body, (locale,), currency=ctx.settings.org.currency)
        except svc.TemplateRejected as err:
            raise ctx_refused(name, err) from None
        raise
    return ctx.reply("template_preview", template_name=name, template_locale=locale, text=text)


def ctx_refused(name: str, err: svc.TemplateRejected) -> UserFacingError:
    return UserFacingError("template_refused", template_name=name, **err.as_dict())


def show_history(ctx: Context, name: str) -> Outbound:
    """List stored versions with author and time."""
    zone = ctx.zone()
    items = [{"version": row.version, "locale": row.locale,
              "author": row.author.name if row.author is not None else "-",
              "at": row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
              "first_line": row.body.strip().splitlines()[0][:60] if row.body.strip() else ""}
             for row in svc.history(session=ctx.session, name=name)]
    return ctx.reply("template_history", template_name=name, versions=items)


def _check_and_save(ctx: Context, name: str, locales: tuple[str, ...], body: str) -> list[TemplateVersion]:
    before = {locale: svc.current_version(session=ctx.session, name=name, locale=locale) for locale in locales}
    rows = svc.save(session=ctx.session, name=name, locales=locales, body=body, author=ctx.person, now=ctx.now(),
                    currency=ctx.settings.org.currency)
    _audit(ctx, audit.Action.TEMPLATE_SAVE, name, before, rows)
    return rows


def _audit(ctx: Context, action: audit.Action, name: str, before: dict[str, svc.Current],
           rows: list[TemplateVersion]) -> None:
    """Record a template change per locale: the version and text before and after (as the console does)."""
    for row in rows:
        old = before[row.locale]
        audit.record_chat(ctx, action, target=f"{name} {row.locale}",
                          before={"version": old.version, "text": old.body},
                          after={"version": row.version, "text": row.body})


def _saved(ctx: Context, name: str, rows: list[TemplateVersion], *, rolled_back_to: int | None = None) -> Outbound:
    saved = [{"locale": r.locale, "version": r.version} for r in rows]
    if rolled_back_to is not None:
        return ctx.reply("template_rolled_back", template_name=name, restored=rolled_back_to, saved=saved)
    return ctx.reply("template_saved", template_name=name, saved=saved)


def save(ctx: Context, name: str, locales: tuple[str, ...], body: str) -> Outbound:
    """Validate and store a new text sent after the `/template save` line."""
    if not body.strip():
        raise _usage("missing_body", value=name)
    try:
        rows = _check_and_save(ctx, name, locales, body)
    except svc.TemplateRejected as err:
        raise ctx_refused(name, err) from None
    return _saved(ctx, name, rows)


def do_rollback(ctx: Context, name: str, version: int, locales: tuple[str, ...]) -> Outbound:
    """Restore an old version as the newest one."""
    before = {locale: svc.current_version(session=ctx.session, name=name, locale=locale) for locale in locales}
    try:
        rows = svc.rollback(session=ctx.session, name=name, version=version, locales=locales, author=ctx.person,
                            now=ctx.now(), currency=ctx.settings.org.currency)
    except svc.TemplateRejected as err:
        raise ctx_refused(name, err) from None
    except LookupError as err:
        raise _usage("no_version", value=f"{name} v{version} {err.args[0] if err.args else ''}".strip()) from None
    _audit(ctx, audit.Action.TEMPLATE_RESET if version == 0 else audit.Action.TEMPLATE_ROLLBACK, name, before, rows)
    return _saved(ctx, name, rows, rolled_back_to=version)


def submit_form(ctx: Context) -> HandlerResult:
    """Save the Slack modal's text, or put what is wrong under the input."""
    assert ctx.inbound is not None
    _require_admin(ctx)
    name, _, locale = ctx.inbound.form_meta.partition("|")
    if not svc.is_known(name) or locale not in LOCALES:
        raise _usage("unknown_name", value=name)
    body = ctx.inbound.form_values.get("body", "")
    try:
        rows = _check_and_save(ctx, name, (locale,), body)
    except svc.TemplateRejected as err:
        return HandlerResult(form_errors={"body": ctx.render("template_refused", template_name=name, **err.as_dict())})
    return HandlerResult([_saved(ctx, name, rows)])


def register(router: Router) -> None:
    router.command("template", ["template", "templates", "模板"], handle, roles=[Role.ADMIN])
    router.form("template_edit", submit_form)
