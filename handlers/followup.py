"""/followups (/跟进) and the nudge_done / nudge_snooze buttons."""

from __future__ import annotations

from typing import Any

from bot.core.context import Context
from bot.core.errors import Forbidden, UserFacingError
from bot.core.router import Router
from bot.core.types import Button, Outbound
from models import FollowUp, FollowUpStatus
from services.calendar import load_calendar
from services.followups import (
    due_for,
    followup_item,
    mark_done,
    refresh,
    refresh_customer,
    snooze,
)

# A WeCom button card holds at most 6 buttons: done + snooze for the first three items.
MAX_BUTTON_ITEMS = 3


def list_followups(ctx: Context) -> list[Outbound]:
    """List my follow-ups due today or overdue, each with done and snooze buttons."""
    assert ctx.person is not None
    session, person, today, locale = ctx.session, ctx.person, ctx.today(), ctx.locale
    calendar = load_calendar(session, ctx.settings.org.holidays)
    refresh(session=session, settings=ctx.settings, calendar=calendar, today=today, now=ctx.now(),
            owner_id=person.id)
    items: list[dict[str, Any]] = []
    for f in due_for(session=session, person_id=person.id, today=today):
        item = followup_item(f, locale)
        item["overdue_days"] = calendar.workdays_since(f.due, today) if f.due < today else 0
        items.append(item)
    buttons: list[Button] = []
    for item in items[:MAX_BUTTON_ITEMS]:
        buttons.append(Button(ctx.render("followup_button", locale, kind="done", customer=item["customer"]),
                              "nudge_done", str(item["id"]), "primary"))
        buttons.append(Button(ctx.render("followup_button", locale, kind="snooze", customer=item["customer"]),
                              "nudge_snooze", str(item["id"])))
    return [ctx.reply("followups", buttons=tuple(buttons), name=person.name, day=today, items=items,
                      more=max(0, len(items) - MAX_BUTTON_ITEMS))]


def _owned(ctx: Context) -> FollowUp | None:
    """Return the pressed follow-up if it is the person's and still live; refuse anyone else."""
    assert ctx.person is not None
    try:
        followup_id = int(ctx.rest.strip())
    except ValueError:
        followup_id = 0
    if not 0 < followup_id < 2**31:  # a forged button value must not reach the database as an overflow
        followup_id = 0
    followup = ctx.session.get(FollowUp, followup_id)
    if followup is None:
        raise UserFacingError("followup_done", action="missing", id=ctx.rest.strip()[:20], customer="",
                              last_contact=None, next_due=None)
    if followup.owner_id != ctx.person.id:
        raise Forbidden("not_owner")
    if followup.status == FollowUpStatus.DONE:
        raise UserFacingError("followup_done", action="closed", id=followup.id, customer=followup.customer.name,
                              last_contact=followup.customer.last_contact, next_due=None)
    return followup


def done(ctx: Context) -> list[Outbound]:
    """Close the follow-up: the customer was followed up today."""
    followup = _owned(ctx)
    assert followup is not None
    today, now = ctx.today(), ctx.now()
    mark_done(session=ctx.session, followup=followup, now=now, today=today)
    calendar = load_calendar(ctx.session, ctx.settings.org.holidays)
    following = refresh_customer(session=ctx.session, settings=ctx.settings, calendar=calendar,
                                 customer=followup.customer, now=now)
    return [ctx.reply("followup_done", action="done", id=followup.id, customer=followup.customer.name,
                      last_contact=followup.customer.last_contact,
                      next_due=following.due if following is not None else None)]


def postpone(ctx: Context) -> list[Outbound]:
    """Snooze the follow-up one workday."""
    followup = _owned(ctx)
    assert followup is not None
    calendar = load_calendar(ctx.session, ctx.settings.org.holidays)
    snooze(session=ctx.session, followup=followup, calendar=calendar, today=ctx.today())
    return [ctx.reply("followup_done", action="snooze", id=followup.id, customer=followup.customer.name,
                      last_contact=followup.customer.last_contact, next_due=followup.due)]


def register(router: Router) -> None:
    router.command("followups", ["followups", "followup", "跟进"], list_followups)
    router.action("nudge_done", done)
    router.action("nudge_snooze", postpone)
