"""/visit (/拜访): log a customer visit, with the 撞单 guard for other regions' customers."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.core.context import Context
from bot.core.errors import UserFacingError
from bot.core.router import Router
from bot.core.types import Outbound
from handlers.parsing import ArgError, parse_visit_args, split_command
from models import CollabRequest, CollabStatus, Customer, FollowUpStatus, Visit
from services.calendar import load_calendar
from services.customers import (
    customer_data,
    family_ids,
    find_customer,
    live_grant,
    may_work_on,
    normalize_name,
    person_region_id,
)
from services.fields import Stage
from services.followups import followup_item, live_followup, refresh_customer

MAX_NAME = 200


def log_visit(ctx: Context) -> list[Outbound]:
    """Store a visit and update the customer, or flag it when the customer is another region's."""
    assert ctx.person is not None and ctx.inbound is not None
    person, session = ctx.person, ctx.session
    today, now = ctx.today(), ctx.now()
    split = split_command(ctx.inbound.text)
    try:
        args = parse_visit_args(split[1] if split else [], today=today)
    except ArgError as err:
        raise UserFacingError("visit_error", code=err.code, arg=err.arg or "", value=err.value or "",
                              example=err.example or "") from None
    name = args.customer.strip()[:MAX_NAME]
    customer = find_customer(session=session, name=name)
    created = False
    region_id = person_region_id(person)
    if customer is None:
        if region_id is None:
            raise UserFacingError("visit_error", code="no_region", arg="customer", value=name, example="")
        customer, created = _create_lead(ctx, name, region_id)

    grant = None
    if not created and not may_work_on(session=session, person=person, customer=customer):
        grant = live_grant(session=session, person=person, customer=customer, now=now)
        if grant is None:
            return [_flagged(ctx, customer, args.stage, args.next_day, args.note)]

    visit = Visit(customer_id=customer.id, person_id=person.id, region_id=region_id, day=today,
                  stage=args.stage.value if args.stage else None, next_follow_up=args.next_day,
                  note=args.note, without_permission=False, created_at=now)
    session.add(visit)
    old_stage = customer.stage
    stage_changed = args.stage is not None and args.stage.value != customer.stage
    if customer.last_contact is None or customer.last_contact < today:
        customer.last_contact = today
    if args.next_day is not None:
        customer.next_follow_up = args.next_day
    elif customer.next_follow_up is not None and customer.next_follow_up <= today:
        customer.next_follow_up = None  # the promised contact happened
    if stage_changed and args.stage is not None:
        customer.stage = args.stage.value
        customer.stage_changed_at = now
        if args.stage == Stage.SIGNED:
            customer.signed_on = today
    if customer.owner_id is None and grant is None:
        customer.owner_id = person.id
    # The visit is the contact the live follow-up asked for: close it, then let the rules set the next.
    live = live_followup(session=session, customer_id=customer.id)
    if live is not None:
        live.status = FollowUpStatus.DONE
        live.open_key = None
        live.done_at = now
    session.flush()
    session.refresh(customer)
    calendar = load_calendar(session, ctx.settings.org.holidays)
    followup = refresh_customer(session=session, settings=ctx.settings, calendar=calendar, customer=customer,
                                now=now)
    locale = ctx.locale
    return [ctx.reply(
        "visit_reply", day=today, created=created, granted=grant is not None,
        grant_until=grant.expires_at.astimezone(ctx.zone()).date() if grant and grant.expires_at else None,
        stage_changed=stage_changed, old_stage=_stage_words(old_stage, locale),
        signed=stage_changed and args.stage == Stage.SIGNED, note=args.note,
        customer=customer_data(customer, locale),
        followup=followup_item(followup, locale) if followup is not None else None,
    )]


def _create_lead(ctx: Context, name: str, region_id: int) -> tuple[Customer, bool]:
    """Create the rep's new lead; if the same name was created at this very moment, use that one."""
    assert ctx.person is not None
    session, now = ctx.session, ctx.now()
    customer = Customer(name=name, name_key=normalize_name(name), region_id=region_id, owner_id=ctx.person.id,
                        tier="C", stage=Stage.LEAD.value, stage_changed_at=now, created_at=now)
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        found = find_customer(session=session, name=name)
        if found is None:
            raise
        return found, False
    session.refresh(customer)
    return customer, True


def _stage_words(stage: str, locale: str) -> str:
    from services.fields import stage_label

    try:
        return stage_label(Stage(stage), locale)
    except ValueError:
        return stage


def _flagged(ctx: Context, customer: Customer, stage: Stage | None, next_day: date | None, note: str) -> Outbound:
    """Store the visit as a cross-region conflict and tell the rep how to ask for permission."""
    assert ctx.person is not None
    session = ctx.session
    session.add(Visit(customer_id=customer.id, person_id=ctx.person.id, region_id=person_region_id(ctx.person),
                      day=ctx.today(), stage=stage.value if stage else None,
                      next_follow_up=next_day, note=note, without_permission=True, created_at=ctx.now()))
    ids = family_ids(session=session, customer=customer)
    pending = session.scalar(select(CollabRequest.id).where(
        CollabRequest.requester_id == ctx.person.id, CollabRequest.customer_id.in_(ids),
        CollabRequest.status == CollabStatus.PENDING).limit(1))
    session.flush()
    return ctx.reply("collab_needed", customer=customer_data(customer, ctx.locale), pending=pending is not None)


def register(router: Router) -> None:
    router.command("visit", ["visit", "拜访"], log_visit)
