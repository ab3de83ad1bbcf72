"""/field (/字段): admins list, add, alias and rename daily report fields."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import UserFacingError
from bot.core.router import Router
from bot.core.types import Outbound
from handlers.parsing import split_command
from models import Role
from services import audit
from services import field_admin as svc
from services.report_fields import field_by_key, load_fields

SUBCOMMANDS = {
    "list": "list", "ls": "list", "列表": "list", "查看": "list",
    "add": "add", "new": "add", "添加": "add", "新增": "add",
    "alias": "alias", "别名": "alias",
    "rename": "rename", "改名": "rename", "重命名": "rename",
}
_ACTIONS = {"add": audit.Action.FIELD_ADD, "alias": audit.Action.FIELD_ALIAS, "rename": audit.Action.FIELD_RENAME}
USAGE = "/field list | add KEY count|money|text zh:LABEL en:LABEL | alias KEY LABEL | rename KEY LABEL"


def _refused(code: str, value: str = "", other: str = "") -> UserFacingError:
    return UserFacingError("field_refused", problem=code, value=value, other=other, usage=USAGE)


def handle(ctx: Context) -> list[Outbound]:
    """Run one /field subcommand for an admin."""
    assert ctx.inbound is not None
    parts = split_command(ctx.inbound.text)
    args = parts[1] if parts is not None else ctx.rest.split()
    if not args:
        return [list_fields(ctx)]
    sub = SUBCOMMANDS.get(args[0].casefold())
    if sub is None:
        raise _refused("unknown_sub", args[0])
    if sub == "list":
        return [list_fields(ctx)]
    before = None
    try:
        if sub == "add":
            if len(args) < 3:
                raise _refused("add_usage")
            zh, en = svc.parse_labels(args[3:])
            field = svc.add_field(session=ctx.session, key=args[1], type_word=args[2], labels_zh=zh, labels_en=en)
        else:
            if len(args) < 3:
                raise _refused(f"{sub}_usage")
            label = " ".join(args[2:])
            old = field_by_key(load_fields(session=ctx.session), args[1].strip())
            before = svc.field_item(old, ctx.locale) if old is not None else None
            if sub == "alias":
                field = svc.add_alias(session=ctx.session, key=args[1], label=label)
            else:
                field = svc.rename_field(session=ctx.session, key=args[1], label=label, locale=ctx.locale)
    except svc.FieldAdminError as err:
        raise _refused(err.code, err.value, err.other) from None
    after = svc.field_item(field, ctx.locale)
    audit.record_chat(ctx, _ACTIONS[sub], target=field.key, before=before, after=after)
    return [ctx.reply("field_changed", action=sub, field=svc.field_item(field, ctx.locale))]


def list_fields(ctx: Context) -> Outbound:
    """List every report field with its type, labels and aliases."""
    fields = [svc.field_item(f, ctx.locale) for f in load_fields(session=ctx.session)]
    return ctx.reply("field_list", fields=fields)


def register(router: Router) -> None:
    router.command("field", ["field", "fields", "字段"], handle, roles=[Role.ADMIN])
