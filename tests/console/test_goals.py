"""/console/goals: set and split goals with /goal's rules, managers within their regions, admins for all."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.core.db import Database
from models import AuditEntry, Goal, GoalProposal
from tests.console.conftest import csrf_of


def _set(client: TestClient, **data: str) -> object:
    token = csrf_of(client.get("/console/goals").text)
    return client.post("/console/goals", data={"csrf_token": token, **data})


def _goal(db: Database, scope: str, code: str, period: str, metric: str = "signed_amount") -> Goal | None:
    with db.unit_of_work() as s:
        goal = s.scalar(select(Goal).where(Goal.scope == scope, Goal.code == code, Goal.period == period,
                                           Goal.metric == metric))
        if goal is not None:
            s.expunge(goal)
        return goal


def test_a_manager_sets_a_goal_in_their_region_only(sign_in: Callable[[str], TestClient], db: Database) -> None:
    east = sign_in("mgr_east")
    page = east.get("/console/goals?period=2026-11")
    assert page.status_code == 200 and "张伟" in page.text and "王芳" not in page.text
    resp = _set(east, unit="team:sh1", period="2026-12", metric="signed_amount", target="50万", floor="40万",
                stretch="650,000")
    assert resp.status_code == 303, resp.text
    goal = _goal(db, "team", "sh1", "2026-12")
    assert goal is not None and goal.target == Decimal(500000) and goal.floor == Decimal(400000)
    assert goal.stretch == Decimal(650000)
    # another region's team: as if it did not exist
    assert _set(east, unit="team:gz1", period="2026-12", metric="signed_amount", target="1").status_code == 404
    assert _goal(db, "team", "gz1", "2026-12") is None
    with db.unit_of_work() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "goal.set")).one()
        assert (entry.actor, entry.source, entry.target) == ("mgr_east", "console", "team sh1 2026-12 signed_amount")
        assert entry.before is None and entry.after["target"] == "500000"


def test_the_chat_rules_refuse_bad_amounts(sign_in: Callable[[str], TestClient], db: Database) -> None:
    admin = sign_in("admin")
    resp = _set(admin, unit="user:zhang", period="2026-12", metric="signed_amount", target="50万", floor="60万")
    assert resp.status_code == 200 and "保底 60万 不能高于目标" in resp.text
    resp = _set(admin, unit="user:zhang", period="2026-12", metric="visits", target="3.5")
    assert resp.status_code == 200 and "不是有效的数" in resp.text
    resp = _set(admin, unit="user:zhang", period="2026-13", metric="visits", target="3")
    assert resp.status_code == 400 and "2026-Q4" in resp.text
    assert _goal(db, "user", "zhang", "2026-12") is None


def test_split_shown_adjusted_and_applied(sign_in: Callable[[str], TestClient], db: Database) -> None:
    east = sign_in("mgr_east")
    assert _set(east, unit="team:sh1", period="2026-12", metric="signed_amount", target="100000").status_code == 303
    page = east.get("/console/goals/split?scope=team&code=sh1&period=2026-12&metric=signed_amount&by=even")
    assert page.status_code == 200 and "张伟" in page.text and "李娜" in page.text
    with db.unit_of_work() as s:
        assert s.scalar(select(GoalProposal.id)) is None  # looking changes nothing
    names = re.findall(r'name="(s\d+-\d+)-target" value="([^"]*)"', page.text)
    assert names
    token = csrf_of(page.text)
    data = {"csrf_token": token, "scope": "team", "code": "sh1", "period": "2026-12", "metric": "signed_amount",
            "by": "even", "action": "apply"}
    rows = dict(names)
    first, second = list(rows)[:2]
    data.update({f"{k}-target": v for k, v in rows.items()})
    data[f"{first}-target"] = "70000"
    data[f"{second}-target"] = "lots"
    refused = east.post("/console/goals/split", data=data)
    assert refused.status_code == 200 and "标红" in refused.text and 'value="lots"' in refused.text
    assert _goal(db, "user", "zhang", "2026-12") is None
    data[f"{second}-target"] = "30000"
    applied = east.post("/console/goals/split", data=data)
    assert applied.status_code == 303, applied.text
    goals = {g: _goal(db, "user", g, "2026-12") for g in ("zhang", "li")}
    assert sorted(g.target for g in goals.values() if g is not None) == [Decimal(30000), Decimal(70000)]
    with db.unit_of_work() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "goal.split_apply")).one()
        assert entry.source == "console" and entry.target == "team sh1 2026-12 signed_amount"


def test_reps_cannot_reach_goals(sign_in: Callable[[str], TestClient]) -> None:
    rep = sign_in("zhang")
    assert rep.get("/console/goals").status_code == 404
    assert rep.get("/console/goals/split?scope=team&code=sh1&period=2026-12&metric=signed_amount").status_code == 404
