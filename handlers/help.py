"""/help: every command, in the person's locale."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Outbound
from models import Role


def show_help(ctx: Context) -> list[Outbound]:
    """List every command the person may use."""
    assert ctx.person is not None
    role = ctx.person.role
    return [ctx.reply("help", name=ctx.person.name, is_admin=role == Role.ADMIN,
                      is_manager=role in (Role.MANAGER, Role.ADMIN))]


def register(router: Router) -> None:
    router.command("help", ["help", "帮助", "h", "?"], show_help)
