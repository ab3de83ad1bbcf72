"""What a person may see: one scope per person, used by every console query (ORM and Core alike).

A rep sees themselves; a manager the regions in `manages`, every region below them, and those
regions' teams, people and customers (and themselves); an admin everything. Lookups by code
outside the scope raise `OutOfScope`, which the console answers with 404, so a page cannot tell
"does not exist" from "not yours".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from models import Customer, ManagedRegion, Person, Region, Role, Team
from services.goals import region_subtree

__all__ = ["OutOfScope", "Scope", "scope_for"]


class OutOfScope(LookupError):
    """The thing asked for does not exist or lies outside the person's scope (the same answer)."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(f"{kind} {code!r}")
        self.kind = kind
        self.code = code


@dataclass(frozen=True)
class Scope:
    """The regions (None: all) and the one person a signed-in person may see."""

    person_id: int
    role: str
    region_ids: frozenset[int] | None

    @property
    def everything(self) -> bool:
        return self.region_ids is None

    @property
    def oversees(self) -> bool:
        """Whether the person sees more than themselves (a manager with regions, or an admin)."""
        return self.region_ids is None or bool(self.region_ids)

    # -- conditions for WHERE clauses (work in ORM and Core statements alike) ------------
    def regions(self, column: Any) -> ColumnElement[bool]:
        """A condition on a region id column."""
        if self.region_ids is None:
            return true()
        if not self.region_ids:
            return false()
        return column.in_(sorted(self.region_ids))

    def teams(self, column: Any) -> ColumnElement[bool]:
        """A condition on a team id column."""
        if self.region_ids is None:
            return true()
        return column.in_(self.team_ids_select())

    def people(self, column: Any) -> ColumnElement[bool]:
        """A condition on a person id column: the person, and everyone in a team of the scope."""
        if self.region_ids is None:
            return true()
        if not self.region_ids:
            return column == self.person_id
        return or_(column == self.person_id,
                   column.in_(select(Person.id).where(Person.team_id.in_(self.team_ids_select()))))

    def customers(self, region_column: Any, owner_column: Any) -> ColumnElement[bool]:
        """A condition on a customer's region and owner columns: the scope's regions, or owned by the person."""
        if self.region_ids is None:
            return true()
        return or_(owner_column == self.person_id, self.regions(region_column))

    def team_ids_select(self) -> Select[Any]:
        return select(Team.id).where(self.regions(Team.region_id))

    # -- lookups by code: OutOfScope when missing or outside ----------------------------
    def region(self, session: Session, code: str) -> Region:
        region = session.scalar(select(Region).where(Region.code == code, self.regions(Region.id)))
        if region is None:
            raise OutOfScope("region", code)
        return region

    def team(self, session: Session, code: str) -> Team:
        team = session.scalar(select(Team).where(Team.code == code, self.regions(Team.region_id)))
        if team is None:
            raise OutOfScope("team", code)
        return team

    def person(self, session: Session, code: str) -> Person:
        person = session.scalar(select(Person).where(Person.code == code, self.people(Person.id)))
        if person is None:
            raise OutOfScope("person", code)
        return person

    def customer(self, session: Session, customer_id: int) -> Customer:
        customer = session.scalar(select(Customer).where(Customer.id == customer_id,
                                                         self.customers(Customer.region_id, Customer.owner_id)))
        if customer is None:
            raise OutOfScope("customer", str(customer_id))
        return customer

    def top_regions(self, session: Session) -> list[Region]:
        """The highest regions of the scope (a manager's `manages` minus those inside another), by code."""
        if self.region_ids is None:
            return list(session.scalars(select(Region).where(Region.parent_id.is_(None)).order_by(Region.code)))
        rows = list(session.scalars(select(Region).where(self.regions(Region.id)).order_by(Region.code)))
        return [r for r in rows if r.parent_id not in self.region_ids]


def managed_region_ids(session: Session, person_id: int) -> list[int]:
    return sorted(session.scalars(select(ManagedRegion.region_id).where(ManagedRegion.person_id == person_id)))


def scope_for(*, session: Session, person: Person) -> Scope:
    """Decide what a person may see."""
    if person.role == Role.ADMIN:
        return Scope(person.id, person.role, None)
    if person.role == Role.MANAGER:
        managed = managed_region_ids(session, person.id)
        return Scope(person.id, person.role, frozenset(region_subtree(session=session, region_ids=managed)))
    return Scope(person.id, person.role, frozenset())
