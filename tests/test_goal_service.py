"""The rules of /goal as a service (what the console's goal forms call): no chat context, same refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.db import Database
from models import AuditEntry, Goal, GoalProposal, Person
from services.goals import GoalRefused, apply_split_for, propose_split_for, set_goal_for
from tests.support.org import build_org

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture()
def session(db: Database) -> Iterator[Session]:
    build_org(db)
    with db.unit_of_work() as s:
        yield s


def person(s: Session, code: str) -> Person:
    return s.scalars(select(Person).where(Person.code == code)).one()


def refused(**kwargs: object) -> GoalRefused:
    with pytest.raises(GoalRefused) as info:
        set_goal_for(**{"now": NOW, "source": "console", "period": "2026-12", "metric": "signed_amount",
                        "target": Decimal(500000), **kwargs})  # type: ignore[arg-type]
    return info.value


def test_set_goal_for_keeps_the_rules_of_goal_set(session: Session) -> None:
    s, east = session, person(session, "mgr_east")
    err = refused(session=s, person=person(s, "mgr_south"), scope="team", code="sh1")
    assert (err.code, err.forbidden, err.details["target"]) == ("not_manager_of", True, "上海一组 (sh1)")
    assert refused(session=s, person=person(s, "zhang"), scope="user", code="li").forbidden
    err = refused(session=s, person=east, scope="squad", code="sh1")
    assert (err.code, err.field, err.value) == ("bad_scope", "scope", "squad")
    err = refused(session=s, person=east, scope="团队", code="nope")
    assert (err.code, err.field, err.value, err.details) == ("unknown_code", "code", "nope", {"scope": "team"})
    assert refused(session=s, person=east, scope="team", code="sh1", period="2026-13").code == "bad_period"
    err = refused(session=s, person=east, scope="team", code="sh1", metric="plan")
    assert err.code == "text_metric" and "signed_amount" in err.details["choices"]
    assert refused(session=s, person=east, scope="team", code="sh1", metric="nope").code == "unknown_metric"
    err = refused(session=s, person=east, scope="team", code="sh1", metric="visits", target=Decimal("2.5"))
    assert (err.code, err.field, err.value, err.details) == ("bad_amount", "target", "2.5",
                                                             {"what": "target", "type": "count"})
    assert refused(session=s, person=east, scope="team", code="sh1", target=Decimal(0)).code == "bad_amount"
    err = refused(session=s, person=east, scope="team", code="sh1", floor=Decimal(600000))
    assert (err.code, err.field, err.value) == ("floor_above_target", "floor", "600000")
    err = refused(session=s, person=east, scope="team", code="sh1", stretch=Decimal(1))
    assert (err.code, err.field) == ("stretch_below_target", "stretch")
    assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0

    done = set_goal_for(session=s, person=east, scope="team", code="sh1", period="2026-12", metric="签约",
                        target=Decimal(500000), floor=Decimal(300000), now=NOW, source="console")
    assert done.created and done.field.key == "signed_amount" and str(done.period) == "2026-12"
    assert (done.goal.target, done.goal.floor, done.goal.stretch) == (500000, 300000, None)
    entry = s.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor, entry.source, entry.target) == (
        "goal.set", "mgr_east", "console", "team sh1 2026-12 signed_amount")
    admin = person(s, "admin")
    assert set_goal_for(session=s, person=admin, scope="region", code="south", period="2026", metric="visits",
                        target=Decimal(900), now=NOW, source="console").created  # admins: every goal


def test_split_proposed_adjusted_and_applied_with_the_buttons_rules(session: Session) -> None:
    s, east = session, person(session, "mgr_east")
    set_goal_for(session=s, person=east, scope="region", code="east", period="2026-Q1", metric="signed_amount",
                 target=Decimal(900000), floor=Decimal(600000), now=NOW, source="console")
    with pytest.raises(GoalRefused) as info:
        propose_split_for(session=s, person=east, scope="region", code="east", period="2026-Q2",
                          metric="signed_amount", now=NOW)
    assert info.value.code == "no_goal"
    with pytest.raises(GoalRefused) as info:
        propose_split_for(session=s, person=east, scope="region", code="east", period="2026-Q1",
                          metric="signed_amount", by="random", now=NOW)
    assert info.value.code == "bad_by"
    set_goal_for(session=s, person=east, scope="user", code="zhang", period="2026-W50", metric="visits",
                 target=Decimal(20), now=NOW, source="console")
    with pytest.raises(GoalRefused) as info:
        propose_split_for(session=s, person=east, scope="user", code="zhang", period="2026-W50", metric="visits",
                          now=NOW)
    assert info.value.code == "nothing_to_split"
    assert s.scalar(select(func.count()).select_from(GoalProposal)) == 0

    proposal, sections = propose_split_for(session=s, person=east, scope="region", code="east", period="2026-Q1",
                                           metric="signed_amount", by="even", now=NOW)
    assert {sec.kind: len(sec.rows) for sec in sections} == {"months": 3, "members": 2}
    with pytest.raises(GoalRefused) as info:
        apply_split_for(session=s, person=person(s, "mgr_south"), proposal_id=proposal.id, now=NOW, source="console")
    assert (info.value.code, info.value.forbidden) == ("not_asker", True)
    for bad, code in (({("region", "east", "2026-01"): {"target": Decimal(100), "floor": Decimal(200)}},
                       "floor_above_target"),
                      ({("region", "nowhere", "2026-Q1"): {"target": Decimal(1)}}, "unknown_code")):
        with pytest.raises(GoalRefused) as info:
            apply_split_for(session=s, person=east, proposal_id=proposal.id, now=NOW, source="console",
                            adjusted=bad)  # type: ignore[arg-type]
        assert info.value.code == code
    assert s.scalar(select(func.count()).select_from(Goal)) == 3  # zhang's two and east's own
    proposal, written = apply_split_for(
        session=s, person=east, proposal_id=str(proposal.id), now=NOW, source="console",
        adjusted={("region", "east", "2026-01"): {"target": Decimal(400000), "floor": Decimal(250000)}})
    assert written == 5 and proposal.payload["adjusted"] is True
    january = s.scalars(select(Goal).where(Goal.code == "east", Goal.period == "2026-01")).one()
    assert (january.target, january.floor) == (400000, 250000)
    february = s.scalars(select(Goal).where(Goal.code == "east", Goal.period == "2026-02")).one()
    assert february.target == 300000
    entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "goal.split_apply")).one()
    assert entry.after["goals"]["region east 2026-01"]["target"] == "400000"
    with pytest.raises(GoalRefused) as info:
        apply_split_for(session=s, person=east, proposal_id=proposal.id, now=NOW, source="console")
    assert info.value.code == "already_applied"
    with pytest.raises(GoalRefused) as info:
        apply_split_for(session=s, person=east, proposal_id="x" * 40, now=NOW, source="console")
    assert (info.value.code, info.value.value) == ("no_proposal", "x" * 20)
