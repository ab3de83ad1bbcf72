"""The weekly review's figures: last week, per person against goal, the funnel by stage."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from models import Customer, FollowUp, FollowUpStatus, GoalScope, Team
from services.calendar import WorkCalendar
from services.fields import Stage, stage_label
from services.goals import region_subtree, team_total
from services.leaderboard import team_ranking
from services.scores import activity_scores, prorated_target

ZERO = Decimal(0)


def last_week(day: date) -> tuple[date, date]:
    """Return Monday and Sunday of the week before the one containing `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def pct(actual: Decimal, target: Decimal | None) -> Decimal | None:
    if not target:
        return None
    return (actual * 100 / target).quantize(Decimal("0.1"), ROUND_HALF_UP)


def person_rows(*, session: Session, settings: Settings, calendar: WorkCalendar, team: Team, metric: str,
                start: date, end: date) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return one row per team member (actual, target, %, activity score) and the team total."""
    standings = team_ranking(session=session, team=team, metric=metric, start=start, end=end)
    from models import Person

    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([s.person_id for s in standings])))}
    scores = activity_scores(session=session, settings=settings, calendar=calendar, people=people.values(),
                             start=start, end=end)
    rows: list[dict[str, Any]] = []
    target_sum = ZERO
    any_target = False
    for s in standings:
        target = prorated_target(session=session, scope=GoalScope.USER, code=s.code, metric=metric,
                                 start=start, end=end, calendar=calendar)
        if target is not None:
            any_target = True
            target_sum += target
        score = scores.get(s.person_id)
        rows.append({"rank": s.rank, "code": s.code, "name": s.name, "actual": s.value, "target": target,
                     "pct": pct(s.value, target), "score": score.total if score else 0})
    # every report filed in the team, a manager's included, as the team's goal counts it (services.goals)
    actual = team_total(session=session, team=team, metric=metric, start=start, end=end)
    team_target = prorated_target(session=session, scope=GoalScope.TEAM, code=team.code, metric=metric,
                                  start=start, end=end, calendar=calendar)
    if team_target is None and any_target:
        team_target = target_sum
    return rows, {"actual": actual, "target": team_target, "pct": pct(actual, team_target)}


def team_region_ids(*, session: Session, team: Team) -> set[int]:
    return region_subtree(session=session, region_ids=[team.region_id])


def funnel(*, session: Session, region_ids: set[int], locale: str) -> list[dict[str, Any]]:
    """Return the count of customers by stage, in funnel order, for these regions."""
    counts = dict(session.execute(
        select(Customer.stage, func.count()).where(Customer.region_id.in_(list(region_ids)))
        .group_by(Customer.stage)).all())
    return [{"stage": stage.value, "label": stage_label(stage, locale), "count": int(counts.get(stage.value, 0))}
            for stage in Stage]


def overdue_followups(*, session: Session, person_ids: list[int], day: date) -> int:
    """Count the open follow-ups of these people that are past due on `day`."""
    if not person_ids:
        return 0
    return int(session.scalar(select(func.count()).select_from(FollowUp).where(
        FollowUp.owner_id.in_(person_ids), FollowUp.status != FollowUpStatus.DONE, FollowUp.due < day)) or 0)
