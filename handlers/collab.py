"""/collab (/协作) and its collab_approve / collab_reject buttons."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.core.context import Context
from bot.core.errors import Forbidden, UserFacingError
from bot.core.router import Router
from bot.core.types import Button, Outbound, ToPerson
from handlers.parsing import split_command
from models import CollabRequest, CollabStatus, Customer, Person, Role
from services import audit
from services.customers import (
    close_names,
    customer_data,
    family_ids,
    find_customer,
    is_region_manager,
    live_grant,
    managers_of_region,
    may_work_on,
    recent_visits,
)

MAX_REASON = 2000


def request_key(request_id: int, manager_id: int) -> str:
    """Return the outbox key of the request message sent to one manager."""
    return f"collab:{request_id}:to:{manager_id}"


def _deciders(ctx: Context, customer: Customer) -> list[Person]:
    managers = managers_of_region(session=ctx.session, region_id=customer.region_id)
    if managers:
        return managers
    # No manager anywhere up the tree: the admins decide.
    return list(ctx.session.scalars(select(Person).where(Person.role == Role.ADMIN, Person.active.is_(True))
                                    .order_by(Person.id)))


def ask(ctx: Context) -> list[Outbound]:
    """Ask the managers of the owning region for permission to contact a customer."""
    assert ctx.person is not None and ctx.inbound is not None
    person, session, now = ctx.person, ctx.session, ctx.now()
    split = split_command(ctx.inbound.text)
    args = split[1] if split else []
    if not args or not args[0].strip():
        raise UserFacingError("customer_usage", command="collab")
    name = args[0].strip()
    reason = " ".join(a.strip() for a in args[1:] if a.strip())[:MAX_REASON]
    customer = find_customer(session=session, name=name)
    if customer is None:
        raise UserFacingError("customer_unknown", name=name, command="collab",
                              suggestions=close_names(session=session, name=name))
    region = customer.region.name
    base = {"customer": customer.name, "region": region, "id": 0, "managers": [], "expires_at": None}
    if may_work_on(session=session, person=person, customer=customer):
        return [ctx.reply("collab_sent", **{**base, "status": "own"})]
    grant = live_grant(session=session, person=person, customer=customer, now=now)
    if grant is not None and grant.expires_at is not None:
        return [ctx.reply("collab_sent", **{**base, "status": "granted",
                                             "expires_at": grant.expires_at.astimezone(ctx.zone()).date()})]
    root = min(family_ids(session=session, customer=customer))
    pending_key = f"{person.id}:{root}"
    existing = session.scalar(select(CollabRequest).where(CollabRequest.pending_key == pending_key))
    if existing is not None:
        return [ctx.reply("collab_sent", **{**base, "status": "pending", "id": existing.id})]
    request = CollabRequest(customer_id=customer.id, requester_id=person.id, owner_region_id=customer.region_id,
                            reason=reason, status=CollabStatus.PENDING, pending_key=pending_key, created_at=now)
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:  # the same request arrived twice at once
        existing = session.scalar(select(CollabRequest).where(CollabRequest.pending_key == pending_key))
        return [ctx.reply("collab_sent", **{**base, "status": "pending", "id": existing.id if existing else 0})]
    deciders = _deciders(ctx, customer)
    requester_region = person.team.region.name if person.team is not None else "-"
    ids = family_ids(session=session, customer=customer)
    out: list[Outbound] = []
    for manager in deciders:
        locale = ctx.locale_of(manager)
        buttons = (
            Button(ctx.render("collab_button", locale, kind="approve"), "collab_approve", str(request.id), "primary"),
            Button(ctx.render("collab_button", locale, kind="reject"), "collab_reject", str(request.id), "danger"),
        )
        out.append(ctx.message_to(
            manager, "collab_request", buttons=buttons, key=request_key(request.id, manager.id),
            id=request.id, requester=person.name, requester_region=requester_region, reason=reason,
            grant_days=ctx.settings.collab.grant_days, customer=customer_data(customer, locale),
            visits=recent_visits(session=session, customer_ids=ids, locale=locale, limit=5),
        ))
    out.append(ctx.reply("collab_sent", **{**base, "status": "sent", "id": request.id,
                                           "managers": [m.name for m in deciders]}))
    return out


def _local(ctx: Context, moment: datetime | None, person: Person) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ctx.zone(person.team)).strftime("%Y-%m-%d %H:%M")


def _decide(ctx: Context, decision: CollabStatus) -> list[Outbound]:
    assert ctx.person is not None
    session, person, now = ctx.session, ctx.person, ctx.now()
    try:
        request_id = int(ctx.rest.strip())
    except ValueError:
        request_id = 0
    if not 0 < request_id < 2**31:  # a forged button value must not reach the database as an overflow
        request_id = 0
    request = session.get(CollabRequest, request_id)
    if request is None:
        raise UserFacingError("unknown_command", text=f"collab #{ctx.rest.strip()[:20]}")
    customer = request.customer
    if not is_region_manager(session=session, person=person, region_id=request.owner_region_id) \
            and not is_region_manager(session=session, person=person, region_id=customer.region_id):
        raise Forbidden("not_region_manager")
    expires = now + timedelta(days=ctx.settings.collab.grant_days) if decision == CollabStatus.APPROVED else None
    # The first decision wins, also against a press in another process at the same moment.
    result = session.execute(
        update(CollabRequest)
        .where(CollabRequest.id == request.id, CollabRequest.status == CollabStatus.PENDING)
        .values(status=decision.value, pending_key=None, decided_by_id=person.id, decided_at=now,
                expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    session.expire(request)
    won = result.rowcount == 1
    decided_by = request.decided_by
    data = {"id": request.id, "requester": request.requester.name, "customer": customer.name,
            "owner_region": request.owner_region.name, "reason": request.reason or "",
            "decision": str(request.status), "decided_by": decided_by.name if decided_by else "-"}
    if won:
        action = audit.Action.COLLAB_APPROVE if decision == CollabStatus.APPROVED else audit.Action.COLLAB_REJECT
        audit.record_chat(ctx, action, target=f"collab {request.id} {customer.name}",
                          before={"status": CollabStatus.PENDING.value},
                          after={"status": decision.value, "customer": customer.name,
                                 "requester": request.requester.code, "expires_at": expires})
    if not won:
        return [ctx.reply("collab_decision", audience="late", decided_at=_local(ctx, request.decided_at, person),
                          expires_at=_date(ctx, request.expires_at, person), **data)]
    out: list[Outbound] = []
    for manager in _deciders(ctx, customer):
        out.append(Outbound(
            to=ToPerson(manager.id),
            text=ctx.render("collab_decision", ctx.locale_of(manager), audience="manager",
                            decided_at=_local(ctx, now, manager), expires_at=_date(ctx, expires, manager), **data),
            key=f"collab:{request.id}:decided:{manager.id}", update_of=request_key(request.id, manager.id)))
    requester = request.requester
    out.append(ctx.message_to(requester, "collab_decision", key=f"collab:{request.id}:requester",
                              audience="requester", decided_at=_local(ctx, now, requester),
                              expires_at=_date(ctx, expires, requester), **data))
    return out


def _date(ctx: Context, moment: datetime | None, person: Person) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(ctx.zone(person.team)).date().isoformat()


def approve(ctx: Context) -> list[Outbound]:
    """Grant the requester contact rights for the customer's group."""
    return _decide(ctx, CollabStatus.APPROVED)


def reject(ctx: Context) -> list[Outbound]:
    """Turn the request down."""
    return _decide(ctx, CollabStatus.REJECTED)


def register(router: Router) -> None:
    router.command("collab", ["collab", "协作"], ask)
    router.action("collab_approve", approve)
    router.action("collab_reject", reject)


__all__ = ["approve", "ask", "register", "reject", "request_key"]
