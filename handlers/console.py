"""/console (/看板): a one-time sign-in link to the web console, sent to the asker only."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from bot.core.settings import Settings
from bot.core.types import Outbound, ToPerson
from services.console_auth import issue_link

LOGIN_PATH = "/console/login/"


def base_url(settings: Settings) -> str:
    """The console's base address: server.public_url, else the address `serve` listens on."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def console_link(ctx: Context) -> list[Outbound]:
    """Answer with a sign-in link, as a direct message to the asker (also when asked in a channel)."""
    assert ctx.person is not None and ctx.inbound is not None
    minutes = ctx.settings.console.link_minutes
    token = issue_link(session=ctx.session, person=ctx.person, platform=ctx.inbound.platform, now=ctx.now(),
                       settings=ctx.settings)
    url = f"{base_url(ctx.settings)}{LOGIN_PATH}{token}" if token is not None else ""
    text = ctx.render("console_link", name=ctx.person.name, url=url, minutes=minutes, limited=token is None)
    # To the person on the platform they asked from: a direct message, never the channel.
    return [Outbound(to=ToPerson(ctx.person.id, ctx.inbound.platform), text=text)]


def register(router: Router) -> None:
    router.command("console", ["console", "看板", "dashboard"], console_link)
