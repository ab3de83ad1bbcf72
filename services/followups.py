"""Follow-ups: one live follow-up per customer, its kind and due date from the rules (contract section 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core.settings import Settings
from models import Customer, FollowUp, FollowUpKind, FollowUpStatus, Person, Team
from services.calendar import WorkCalendar
from services.fields import Stage, stage_label

__all__ = [
    "Due",
    "compute_due",
    "due_for",
    "followup_item",
    "kind_label",
    "live_followup",
    "mark_done",
    "refresh",
    "refresh_customer",
    "snooze",
    "stalled",
    "to_escalate",
]

# No follow-ups are owed on customers in these stages.
_CLOSED_STAGES = frozenset({Stage.LOST.value})
_NOT_STALLED = frozenset({Stage.SIGNED.value, Stage.AFTER_SALE.value, Stage.LOST.value})
_LIVE = (FollowUpStatus.OPEN.value, FollowUpStatus.SNOOZED.value)
# On a tie the more specific reason names the follow-up.
_PRIORITY = {FollowUpKind.NEW_LEAD: 0, FollowUpKind.POST_SIGN: 1, FollowUpKind.TIER: 2, FollowUpKind.PROMISED: 3}

_KIND_LABELS = {
    "zh-CN": {"tier": "定期回访", "new_lead": "新线索首次联系", "post_sign": "签约后回访", "promised": "约定跟进"},
    "en": {"tier": "regular contact", "new_lead": "first contact", "post_sign": "post-sign revisit",
           "promised": "promised follow-up"},
}


@dataclass(frozen=True)
class Due:
    kind: FollowUpKind
    due: date


def _zone(customer: Customer, settings: Settings) -> ZoneInfo:
    owner = customer.owner
    team: Team | None = owner.team if owner is not None else None
    return ZoneInfo((team.timezone if team is not None and team.timezone else None) or settings.org.timezone)


def compute_due(customer: Customer, *, settings: Settings, calendar: WorkCalendar) -> Due | None:
    """Return the follow-up the rules ask for on this customer (None when none is owed)."""
    if customer.stage in _CLOSED_STAGES:
        return None
    rules = settings.rules
    zone = _zone(customer, settings)
    created = customer.created_at.astimezone(zone).date()
    options: list[Due] = []
    if customer.last_contact is None:
        base = created
        if customer.stage == Stage.LEAD:
            deadline = customer.created_at + timedelta(hours=rules.new_lead_hours)
            options.append(Due(FollowUpKind.NEW_LEAD, deadline.astimezone(zone).date()))
    else:
        base = customer.last_contact
    tier_due = base + timedelta(days=rules.tier_days(customer.tier or "C"))
    if customer.signed_on is not None and (customer.last_contact is None
                                           or customer.last_contact <= customer.signed_on):
        # The revisit after signing is the next contact: due within its own window, and never
        # later than the tier's rhythm would have it.
        revisit = calendar.add_workdays(customer.signed_on, rules.post_sign_revisit_days)
        options.append(Due(FollowUpKind.POST_SIGN, min(revisit, tier_due)))
    else:
        options.append(Due(FollowUpKind.TIER, tier_due))
    if customer.next_follow_up is not None and customer.next_follow_up < tier_due:
        options.append(Due(FollowUpKind.PROMISED, customer.next_follow_up))
    return min(options, key=lambda d: (d.due, _PRIORITY[d.kind]))


def live_followup(*, session: Session, customer_id: int) -> FollowUp | None:
    """Return the customer's open or snoozed follow-up."""
    return session.scalar(select(FollowUp).where(FollowUp.open_key == customer_id))


def _apply(session: Session, customer: Customer, live: FollowUp | None, want: Due | None, now: datetime) -> bool:
    """Bring the customer's live follow-up in line with `want`; return whether anything changed."""
    if want is None or customer.owner_id is None:
        if live is None:
            return False
        # Nothing is owed any more (lost, or no owner): close it without pretending a contact.
        live.status = FollowUpStatus.DONE
        live.open_key = None
        live.done_at = now
        return True
    if live is None:
        session.add(FollowUp(customer_id=customer.id, owner_id=customer.owner_id, kind=want.kind, due=want.due,
                             status=FollowUpStatus.OPEN, open_key=customer.id, created_at=now))
        return True
    changed = False
    if live.owner_id != customer.owner_id:
        live.owner_id = customer.owner_id
        changed = True
    if live.status == FollowUpStatus.SNOOZED and live.kind == want.kind and want.due <= live.due:
        # A snooze stands until the basis of the follow-up moves past it.
        return changed
    if live.kind != want.kind or live.due != want.due:
        if want.due > live.due:
            live.escalated = False
        live.kind = want.kind
        live.due = want.due
        live.status = FollowUpStatus.OPEN
        changed = True
    return changed


def refresh_customer(*, session: Session, settings: Settings, calendar: WorkCalendar, customer: Customer,
                     now: datetime) -> FollowUp | None:
    """Recompute one customer's live follow-up and return it."""
    live = live_followup(session=session, customer_id=customer.id)
    _apply(session, customer, live, compute_due(customer, settings=settings, calendar=calendar), now)
    session.flush()
    return live_followup(session=session, customer_id=customer.id)


def refresh(*, session: Session, settings: Settings, calendar: WorkCalendar, today: date, now: datetime,
            owner_id: int | None = None) -> int:
    """Keep one live follow-up per customer with its kind and due date; return how many changed.

    With `owner_id`, only that person's customers (and their live follow-ups) are looked at.
    """
    query = select(Customer).options(selectinload(Customer.owner).selectinload(Person.team))
    live_query = select(FollowUp).where(FollowUp.open_key.is_not(None))
    if owner_id is not None:
        query = query.where(Customer.owner_id == owner_id)
        live_query = live_query.where(FollowUp.customer_id.in_(select(Customer.id).where(Customer.owner_id == owner_id)))
    customers = list(session.scalars(query))
    live = {f.customer_id: f for f in session.scalars(live_query)}
    changed = 0
    for customer in customers:
        want = compute_due(customer, settings=settings, calendar=calendar)
        if _apply(session, customer, live.get(customer.id), want, now):
            changed += 1
    session.flush()
    return changed


def _live_query() -> Any:
    return (select(FollowUp).where(FollowUp.status.in_(_LIVE), FollowUp.open_key.is_not(None))
            .options(selectinload(FollowUp.customer), selectinload(FollowUp.owner)))


def due_for(*, session: Session, person_id: int, today: date) -> list[FollowUp]:
    """Return the person's open or snoozed follow-ups due today or earlier, oldest first."""
    query = _live_query().where(FollowUp.owner_id == person_id, FollowUp.due <= today) \
        .order_by(FollowUp.due, FollowUp.id)
    return list(session.scalars(query))


def to_escalate(*, session: Session, settings: Settings, calendar: WorkCalendar, today: date) -> list[FollowUp]:
    """Return live follow-ups overdue for at least `rules.escalate_after_days` workdays, not escalated today."""
    threshold = settings.rules.escalate_after_days
    query = _live_query().where(FollowUp.due < today).order_by(FollowUp.due, FollowUp.id)
    return [f for f in session.scalars(query)
            if f.escalated_on != today and calendar.workdays_since(f.due, today) >= threshold]


def stalled(*, session: Session, settings: Settings, today: date) -> list[Customer]:
    """Return open opportunities whose stage has not changed for `rules.stalled_days` days."""
    cutoff = today - timedelta(days=settings.rules.stalled_days)
    query = (select(Customer).where(Customer.stage.not_in(list(_NOT_STALLED)))
             .options(selectinload(Customer.owner), selectinload(Customer.region)).order_by(Customer.name))
    out = [c for c in session.scalars(query) if (c.stage_changed_at or c.created_at).date() <= cutoff]
    out.sort(key=lambda c: (c.stage_changed_at or c.created_at).date())  # stuck longest first, then by name
    return out


def mark_done(*, session: Session, followup: FollowUp, now: datetime, today: date | None = None) -> None:
    """Close the follow-up as followed up: the customer's last contact becomes today."""
    day = today or now.date()
    followup.status = FollowUpStatus.DONE
    followup.open_key = None
    followup.done_at = now
    customer = followup.customer
    if customer.last_contact is None or customer.last_contact < day:
        customer.last_contact = day
    if customer.next_follow_up is not None and customer.next_follow_up <= day:
        customer.next_follow_up = None  # the promise is kept
    session.flush()


def snooze(*, session: Session, followup: FollowUp, calendar: WorkCalendar, today: date) -> None:
    """Move the follow-up to the next workday after its due date (or after today when overdue)."""
    followup.due = calendar.next_workday(max(followup.due, today))
    followup.status = FollowUpStatus.SNOOZED
    followup.escalated = False
    session.flush()


def kind_label(kind: str, locale: str) -> str:
    """Return the words for a follow-up kind in a locale."""
    return _KIND_LABELS.get(locale, _KIND_LABELS["zh-CN"]).get(kind, kind)


def followup_item(followup: FollowUp, locale: str) -> dict[str, Any]:
    """Return a follow-up as plain data for templates."""
    customer = followup.customer
    try:
        stage = stage_label(Stage(customer.stage), locale)
    except ValueError:
        stage = customer.stage
    return {
        "id": followup.id,
        "customer": customer.name,
        "tier": customer.tier,
        "stage": stage,
        "kind": str(followup.kind),
        "kind_label": kind_label(str(followup.kind), locale),
        "due": followup.due,
        "status": str(followup.status),
        "owner": followup.owner.name if followup.owner is not None else "-",
    }
