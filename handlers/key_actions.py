"""Today's three key actions: `今日三件事` / `today` messages and replies in the morning prompt's Slack thread."""

from __future__ import annotations

from sqlalchemy import or_, select

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Inbound, InboundKind, Outbound
from handlers.parsing import is_key_actions, is_report, parse_key_actions, parse_thread_key_actions
from models import OutboxMessage
from services.reports import find_report, save_key_actions

MORNING_KEY_PREFIX = "job:morning:"


def _is_morning_thread(ctx: Context, thread_ts: str) -> bool:
    assert ctx.person is not None
    found = ctx.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.platform == "slack",
            OutboxMessage.ref_id == thread_ts,
            OutboxMessage.key.like(MORNING_KEY_PREFIX + "%"),
            or_(OutboxMessage.person_id == ctx.person.id, OutboxMessage.person_id.is_(None)),
        ).limit(1)
    )
    return found is not None


def receive_key_actions(ctx: Context) -> list[Outbound]:
    """Store today's key actions and say what was kept."""
    assert ctx.person is not None and ctx.inbound is not None
    inbound = ctx.inbound
    if is_key_actions(inbound.text):
        actions = parse_key_actions(inbound.text)
    elif inbound.thread_ts and _is_morning_thread(ctx, inbound.thread_ts):
        actions = parse_thread_key_actions(inbound.text)
    else:
        return [ctx.reply("unknown_message")]
    today = ctx.today()
    if not actions:
        return [ctx.reply("key_actions_reply", name=ctx.person.name, day=today.isoformat(), actions=[],
                          replaced=False)]
    earlier = find_report(session=ctx.session, person_id=ctx.person.id, day=today)
    replaced = earlier is not None and bool(earlier.key_actions)
    save_key_actions(session=ctx.session, person=ctx.person, day=today, actions=actions, now=ctx.now())
    return [ctx.reply("key_actions_reply", name=ctx.person.name, day=today.isoformat(), actions=actions,
                      replaced=replaced)]


def _key_actions_message(inbound: Inbound) -> bool:
    if inbound.kind != InboundKind.MESSAGE:
        return False
    if is_key_actions(inbound.text):
        return True
    # any reply in a Slack thread may answer the morning prompt; the handler checks which thread
    return (inbound.platform == "slack" and bool(inbound.thread_ts) and not is_report(inbound.text)
            and not inbound.text.lstrip().startswith(("/", "／")))


def register(router: Router) -> None:
    router.message("key_actions", _key_actions_message, receive_key_actions)
