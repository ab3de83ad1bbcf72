"""The follow-up rules (contract section 6) as a table, and the live follow-up's life on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.settings import Settings
from models import Customer, FollowUp
from services.calendar import WorkCalendar
from services.followups import (
    compute_due,
    due_for,
    followup_item,
    mark_done,
    refresh,
    snooze,
    stalled,
    to_escalate,
)
from tests.support.org import build_org

MON = date(2026, 11, 23)
CREATED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
PLAIN = WorkCalendar("none")
# Tuesday 2026-11-24 is a company holiday in this calendar.
HOLIDAY = WorkCalendar("none", {date(2026, 11, 24): "holiday"})

RULES = [
    # (what, customer fields, calendar, expected kind, expected due)
    ("A every 7 days", dict(tier="A", stage="needs", last_contact=date(2026, 11, 16)), PLAIN, "tier",
     date(2026, 11, 23)),
    ("B every 14 days", dict(tier="B", stage="needs", last_contact=date(2026, 11, 16)), PLAIN, "tier",
     date(2026, 11, 30)),
    ("C every 30 days", dict(tier="C", stage="needs", last_contact=date(2026, 11, 16)), PLAIN, "tier",
     date(2026, 12, 16)),
    ("never contacted: from creation", dict(tier="A", stage="needs"), PLAIN, "tier", date(2026, 11, 8)),
    ("promised earlier than tier", dict(tier="A", stage="proposal", last_contact=MON,
                                        next_follow_up=date(2026, 11, 27)), PLAIN, "promised", date(2026, 11, 27)),
    ("promised later: A still every 7 days", dict(tier="A", stage="proposal", last_contact=MON,
                                                  next_follow_up=date(2026, 12, 15)), PLAIN, "tier",
     date(2026, 11, 30)),
    ("lead: 72 h after creation", dict(tier="C", stage="lead", created_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC)),
     PLAIN, "new_lead", date(2026, 11, 26)),
    ("lead: 72 h counted in the team's zone", dict(tier="C", stage="lead",
                                                   created_at=datetime(2026, 11, 23, 20, 0, tzinfo=UTC)),
     PLAIN, "new_lead", date(2026, 11, 27)),
    ("lead already contacted: tier", dict(tier="C", stage="lead", last_contact=MON), PLAIN, "tier",
     date(2026, 12, 23)),
    ("post-sign revisit in 7 workdays", dict(tier="C", stage="signed", signed_on=MON, last_contact=MON), PLAIN,
     "post_sign", date(2026, 12, 2)),
    ("post-sign revisit skips a holiday", dict(tier="C", stage="signed", signed_on=MON, last_contact=MON), HOLIDAY,
     "post_sign", date(2026, 12, 3)),
    ("post-sign A: no later than the tier", dict(tier="A", stage="signed", signed_on=MON, last_contact=MON), PLAIN,
     "post_sign", date(2026, 11, 30)),
    ("revisited after signing: tier again", dict(tier="C", stage="signed", signed_on=MON,
                                                 last_contact=date(2026, 11, 25)), PLAIN, "tier",
     date(2026, 12, 25)),
]


@pytest.mark.parametrize(("what", "fields", "calendar", "kind", "due"), RULES, ids=[r[0] for r in RULES])
def test_rules(what: str, fields: dict, calendar: WorkCalendar, kind: str, due: date,  # type: ignore[type-arg]
               settings: Settings) -> None:
    customer = Customer(name="x", name_key="x", region_id=1, created_at=fields.pop("created_at", CREATED),
                        **fields)
    found = compute_due(customer, settings=settings, calendar=calendar)
    assert found is not None
    assert (found.kind, found.due) == (kind, due)


def test_lost_customers_owe_nothing(settings: Settings) -> None:
    customer = Customer(name="x", name_key="x", region_id=1, tier="A", stage="lost", created_at=CREATED)
    assert compute_due(customer, settings=settings, calendar=PLAIN) is None


def test_live_followup_lifecycle(db: Database, settings: Settings) -> None:
    org = build_org(db)
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    cid, wang = org.ids["cust:yuanhang"], org.ids["user:wang"]
    with db.unit_of_work() as s:
        c = s.get(Customer, cid)
        assert c is not None
        c.last_contact = date(2026, 11, 13)  # A customer: due 11-20, overdue on Monday 11-23
        c.created_at = CREATED
    with db.unit_of_work() as s:
        assert refresh(session=s, settings=settings, calendar=HOLIDAY, today=MON, now=now) == 1
        assert refresh(session=s, settings=settings, calendar=HOLIDAY, today=MON, now=now) == 0  # idempotent
        due = due_for(session=s, person_id=wang, today=MON)
        assert [(f.kind, f.due) for f in due] == [("tier", date(2026, 11, 20))]
        assert due_for(session=s, person_id=org.ids["user:zhang"], today=MON) == []
        assert followup_item(due[0], "en")["stage"] == "proposal"
        # Overdue one workday (Fri 11-20 -> Mon 11-23): not yet escalated with the default 3.
        assert to_escalate(session=s, settings=settings, calendar=HOLIDAY, today=MON) == []
        later = date(2026, 11, 26)
        assert [f.id for f in to_escalate(session=s, settings=settings, calendar=HOLIDAY, today=later)] == [due[0].id]
        # Snooze moves it one workday after today, over Tuesday's holiday.
        snooze(session=s, followup=due[0], calendar=HOLIDAY, today=MON)
        assert (due[0].status, due[0].due) == ("snoozed", date(2026, 11, 25))
    with db.unit_of_work() as s:
        # A refresh keeps the snooze.
        assert refresh(session=s, settings=settings, calendar=HOLIDAY, today=MON, now=now) == 0
        assert due_for(session=s, person_id=wang, today=MON) == []
        live = due_for(session=s, person_id=wang, today=date(2026, 11, 25))
        assert len(live) == 1
        mark_done(session=s, followup=live[0], now=now, today=MON)
        assert live[0].open_key is None and live[0].customer.last_contact == MON
    with db.unit_of_work() as s:
        assert refresh(session=s, settings=settings, calendar=HOLIDAY, today=MON, now=now) == 1
        rows = list(s.scalars(select(FollowUp).order_by(FollowUp.id)))
        assert [(f.status, f.due) for f in rows] == [("done", date(2026, 11, 25)), ("open", date(2026, 11, 30))]


def test_stalled_opportunities(db: Database, settings: Settings) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        s.add(Customer(name="新签客户", name_key="新签客户", region_id=org.ids["gz"], stage="signed",
                       stage_changed_at=CREATED))
        s.add(Customer(name="刚推进", name_key="刚推进", region_id=org.ids["gz"], stage="needs",
                       stage_changed_at=datetime(2026, 11, 20, tzinfo=UTC)))
    with db.unit_of_work() as s:
        # 远航集团 has been in proposal since 11-01: 22 days >= 14.
        assert [c.name for c in stalled(session=s, settings=settings, today=MON)] == ["远航集团"]
        assert stalled(session=s, settings=settings, today=date(2026, 11, 14)) == []
