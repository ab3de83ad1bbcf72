"""/customer (/客户): a customer's card, readable by anyone."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.errors import UserFacingError
from bot.core.router import Router
from bot.core.types import Outbound
from handlers.parsing import split_command
from services.customers import (
    close_names,
    customer_data,
    family_members,
    find_customer,
    may_work_on,
    recent_collabs,
    recent_visits,
)
from services.followups import followup_item, live_followup


def show_customer(ctx: Context) -> list[Outbound]:
    """Show the card of the named customer, or suggest close names."""
    assert ctx.person is not None and ctx.inbound is not None
    session, locale = ctx.session, ctx.locale
    split = split_command(ctx.inbound.text)
    name = " ".join(a.strip() for a in (split[1] if split else []) if a.strip())
    if not name:
        raise UserFacingError("customer_usage", command="customer")
    customer = find_customer(session=session, name=name)
    if customer is None:
        raise UserFacingError("customer_unknown", name=name, command="customer",
                              suggestions=close_names(session=session, name=name))
    members = family_members(session=session, customer=customer)
    head = members[0] if len(members) > 1 else None
    live = live_followup(session=session, customer_id=customer.id)
    return [ctx.reply(
        "customer_card",
        customer=customer_data(customer, locale),
        own=may_work_on(session=session, person=ctx.person, customer=customer),
        group=head.name if head is not None else None,
        members=[{"name": m.name, "region": m.region.name, "owner": m.owner.name if m.owner else "-",
                  "head": m.parent_id is None} for m in members] if head is not None else [],
        followup=followup_item(live, locale) if live is not None else None,
        visits=recent_visits(session=session, customer_ids={customer.id}, locale=locale),
        collabs=recent_collabs(session=session, customer_ids={customer.id}, now=ctx.now()),
    )]


def register(router: Router) -> None:
    router.command("customer", ["customer", "客户"], show_customer)
