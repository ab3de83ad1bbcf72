"""Customers: name matching (the 撞单 guard), group families, grants, region managers, conflicts."""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from models import (
    CollabRequest,
    CollabStatus,
    Customer,
    ManagedRegion,
    Person,
    Region,
    Role,
    Visit,
)

__all__ = [
    "ancestor_ids",
    "close_names",
    "conflict_count",
    "customer_data",
    "family_ids",
    "family_members",
    "find_customer",
    "grant_status",
    "has_grant",
    "in_region",
    "is_region_manager",
    "live_grant",
    "managers_of_region",
    "may_work_on",
    "normalize_name",
    "person_region_id",
    "recent_collabs",
    "recent_visits",
]

# Legal-form suffixes that say nothing about who the customer is. 集团 and 科技 are NOT here:
# 远航集团 and 远航科技 are different companies.
_CN_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "责任公司", "股份公司", "公司")
_EN_SUFFIXES = frozenset({
    "co", "ltd", "inc", "llc", "corp", "limited", "corporation", "company", "incorporated", "plc",
    "gmbh", "llp", "lp", "pte", "pty", "sa", "ag", "bv",
})  # fmt: skip
_WORD_RE = re.compile(r"[^\W_]+")
_MAX_KEY = 200


def normalize_name(name: str) -> str:
    """Return the matching key of a customer name: width, case, spaces, punctuation, legal suffixes."""
    tokens = _WORD_RE.findall(unicodedata.normalize("NFKC", name).casefold())
    changed = True
    while changed and tokens:
        changed = False
        last = tokens[-1]
        if last in _EN_SUFFIXES and len(tokens) > 1:
            tokens.pop()
            changed = True
            continue
        for suffix in _CN_SUFFIXES:
            if last.endswith(suffix):
                if len(last) > len(suffix):
                    tokens[-1] = last[: -len(suffix)]
                    changed = True
                elif len(tokens) > 1:
                    tokens.pop()
                    changed = True
                break
    key = "".join(tokens)
    if not key:
        key = "".join(unicodedata.normalize("NFKC", name).casefold().split())
    return key[:_MAX_KEY]


def find_customer(*, session: Session, name: str) -> Customer | None:
    """Find the customer a typed name means: same name, else same key (a group head first)."""
    name = name.strip()
    if not name:
        return None
    opts = (selectinload(Customer.region), selectinload(Customer.owner))
    exact = session.scalar(select(Customer).where(Customer.name == name).options(*opts))
    if exact is not None:
        return exact
    key = normalize_name(name)
    candidates = list(session.scalars(select(Customer).where(Customer.name_key == key)
                                      .order_by(Customer.id).options(*opts)))
    if not candidates:
        return None
    ids = {c.id for c in candidates}
    # Prefer the head of a group over its members, then the oldest.
    candidates.sort(key=lambda c: (c.parent_id is not None and c.parent_id in ids, c.parent_id is not None, c.id))
    return candidates[0]


def close_names(*, session: Session, name: str, limit: int = 3) -> list[str]:
    """Return up to `limit` stored customer names that look like `name`."""
    key = normalize_name(name)
    rows = list(session.execute(select(Customer.name, Customer.name_key)))
    by_key: dict[str, str] = {}
    for n, k in rows:
        by_key.setdefault(k, n)
    found = difflib.get_close_matches(key, list(by_key), n=limit, cutoff=0.5)
    names = [by_key[k] for k in found]
    if len(names) < limit:
        # A typed fragment of a longer name ("远航" for 远航集团) is close too.
        for k, n in sorted(by_key.items()):
            if len(names) >= limit:
                break
            if key and key in k and n not in names:
                names.append(n)
    return names


def _family_root(session: Session, customer: Customer) -> int:
    seen = {customer.id}
    current = customer.parent_id
    root = customer.id
    while current is not None and current not in seen:
        seen.add(current)
        root = current
        current = session.scalar(select(Customer.parent_id).where(Customer.id == current))
    return root


def family_ids(*, session: Session, customer: Customer) -> set[int]:
    """Return the ids of the customer's group: its top parent and everything under it."""
    root = _family_root(session, customer)
    ids = {root}
    frontier = {root}
    while frontier:
        children = set(session.scalars(select(Customer.id).where(Customer.parent_id.in_(frontier))))
        frontier = children - ids
        ids |= frontier
    return ids


def family_members(*, session: Session, customer: Customer) -> list[Customer]:
    """Return every customer of the customer's group, the head first."""
    ids = family_ids(session=session, customer=customer)
    members = list(session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)))
    members.sort(key=lambda c: (c.parent_id is not None, c.name))
    return members


def ancestor_ids(*, session: Session, region_id: int) -> list[int]:
    """Return the region and its ancestors, nearest first."""
    out: list[int] = []
    current: int | None = region_id
    while current is not None and current not in out:
        out.append(current)
        current = session.scalar(select(Region.parent_id).where(Region.id == current))
    return out


def in_region(*, session: Session, region_id: int | None, owner_region_id: int) -> bool:
    """Whether `region_id` is the owning region or lies under it."""
    if region_id is None:
        return False
    return owner_region_id in ancestor_ids(session=session, region_id=region_id)


def person_region_id(person: Person) -> int | None:
    """Return the region of the person's team (None without a team)."""
    return person.team.region_id if person.team is not None else None


def is_region_manager(*, session: Session, person: Person, region_id: int) -> bool:
    """Whether the person is an admin or manages the region or one of its ancestors."""
    if person.role == Role.ADMIN:
        return True
    chain = ancestor_ids(session=session, region_id=region_id)
    found = session.scalar(select(func.count()).select_from(ManagedRegion).where(
        ManagedRegion.person_id == person.id, ManagedRegion.region_id.in_(chain)))
    return bool(found)


def may_work_on(*, session: Session, person: Person, customer: Customer) -> bool:
    """Whether the customer belongs to the person's own region (no permission needed)."""
    if person.role == Role.ADMIN:
        return True
    if customer.owner_id is not None and customer.owner_id == person.id:
        return True
    if in_region(session=session, region_id=person_region_id(person), owner_region_id=customer.region_id):
        return True
    return is_region_manager(session=session, person=person, region_id=customer.region_id)


def live_grant(*, session: Session, person: Person, customer: Customer, now: datetime) -> CollabRequest | None:
    """Return the approved, unexpired request that lets the person contact the customer's group."""
    ids = family_ids(session=session, customer=customer)
    return session.scalar(
        select(CollabRequest)
        .where(CollabRequest.requester_id == person.id, CollabRequest.customer_id.in_(ids),
               CollabRequest.status == CollabStatus.APPROVED, CollabRequest.expires_at > now)
        .order_by(CollabRequest.expires_at.desc())
        .limit(1)
    )


def has_grant(*, session: Session, person: Person, customer: Customer, now: datetime) -> bool:
    """Whether the person holds a live contact right for the customer's group."""
    return live_grant(session=session, person=person, customer=customer, now=now) is not None


def managers_of_region(*, session: Session, region_id: int) -> list[Person]:
    """Return the active managers of the region, else of the nearest ancestor that has any."""
    for rid in ancestor_ids(session=session, region_id=region_id):
        people = list(session.scalars(
            select(Person).join(ManagedRegion, ManagedRegion.person_id == Person.id)
            .where(ManagedRegion.region_id == rid, Person.active.is_(True))
            .order_by(Person.id)
            .options(selectinload(Person.team))
        ))
        if people:
            return people
    return []


def conflict_count(*, session: Session, region_ids: set[int] | list[int], start: date, end: date) -> int:
    """Count visits made without permission between start and end that involve these regions."""
    ids = list(region_ids)
    if not ids:
        return 0
    query = (
        select(func.count(Visit.id))
        .join(Customer, Visit.customer_id == Customer.id)
        .where(Visit.without_permission.is_(True), Visit.day >= start, Visit.day <= end,
               or_(Visit.region_id.in_(ids), Customer.region_id.in_(ids)))
    )
    return int(session.scalar(query) or 0)


def _stage_text(stage: str | None, locale: str) -> str:
    if not stage:
        return ""
    from services.fields import Stage, stage_label

    try:
        return stage_label(Stage(stage), locale)
    except ValueError:
        return stage


def customer_data(customer: Customer, locale: str) -> dict[str, Any]:
    """Return a customer as plain data for templates (stage in the reader's words)."""
    return {
        "id": customer.id,
        "name": customer.name,
        "region": customer.region.name if customer.region is not None else "-",
        "owner": customer.owner.name if customer.owner is not None else "-",
        "tier": customer.tier,
        "stage": _stage_text(customer.stage, locale),
        "stage_key": customer.stage,
        "industry": customer.industry or "",
        "last_contact": customer.last_contact,
        "next_follow_up": customer.next_follow_up,
    }


def recent_visits(*, session: Session, customer_ids: set[int] | list[int], locale: str,
                  limit: int = 8) -> list[dict[str, Any]]:
    """Return the latest visits to these customers from every region, newest first, as plain data."""
    ids = list(customer_ids)
    if not ids:
        return []
    rows = session.execute(
        select(Visit, Person.name, Region.name)
        .join(Person, Visit.person_id == Person.id)
        .outerjoin(Region, Visit.region_id == Region.id)
        .where(Visit.customer_id.in_(ids))
        .order_by(Visit.day.desc(), Visit.id.desc())
        .limit(limit)
    ).all()
    return [{"day": v.day, "person": person, "region": region or "-", "stage": _stage_text(v.stage, locale),
             "note": v.note or "", "flagged": bool(v.without_permission)}
            for v, person, region in rows]


def grant_status(request: CollabRequest, now: datetime) -> str:
    """Return a request's status as shown and exported: an approved one past its expiry is `expired`."""
    if request.status == CollabStatus.APPROVED and request.expires_at is not None and request.expires_at < now:
        return CollabStatus.EXPIRED.value
    return str(request.status)


def recent_collabs(*, session: Session, customer_ids: set[int] | list[int], now: datetime,
                   limit: int = 5) -> list[dict[str, Any]]:
    """Return the latest collaboration requests on these customers as plain data, newest first."""
    ids = list(customer_ids)
    if not ids:
        return []
    rows = session.scalars(
        select(CollabRequest).where(CollabRequest.customer_id.in_(ids))
        .options(selectinload(CollabRequest.requester), selectinload(CollabRequest.decided_by))
        .order_by(CollabRequest.created_at.desc(), CollabRequest.id.desc()).limit(limit)
    )
    return [{"id": r.id, "requester": r.requester.name, "status": grant_status(r, now),
             "decided_by": r.decided_by.name if r.decided_by is not None else "",
             "expires_at": r.expires_at.date() if r.expires_at is not None else None}
            for r in rows]
