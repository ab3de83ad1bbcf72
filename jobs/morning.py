"""Morning prompt: month goal progress (or the quarter's or year's if that is the goal set), run rate, follow-ups due today, and today's three key actions."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from jobs.base import JobContext, JobResult
from jobs.common import followup_data, progress_item
from models import FollowUp, Goal, GoalScope, Team
from services.followups import due_for, refresh
from services.goals import person_progress, personal_periods
from services.report_fields import load_fields


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Send each seller of `team` (services.sellers) the morning prompt for `day`."""
    s = ctx.session
    fields = load_fields(session=s)
    refresh(session=s, settings=ctx.settings, calendar=ctx.calendar, today=day, now=ctx.now)
    reps = ctx.sellers(team, day)
    # Two queries find who has a goal this month and who has a follow-up due, so a team of
    # thousands costs per-person queries only for those who have something to show.
    codes = [r.code for r in reps]
    with_goal: set[str] = set()
    periods = [str(p) for p in personal_periods(day)]
    for start in range(0, len(codes), 500):
        with_goal |= set(s.scalars(select(Goal.code).where(
            Goal.scope == GoalScope.USER, Goal.period.in_(periods),
            Goal.code.in_(codes[start:start + 500]))))
    ids = [r.id for r in reps]
    with_due: set[int] = set()
    for start in range(0, len(ids), 500):
        with_due |= {i for i in s.scalars(select(FollowUp.owner_id).where(
            FollowUp.owner_id.in_(ids[start:start + 500]), FollowUp.open_key.is_not(None), FollowUp.due <= day))
            if i is not None}
    for rep in reps:
        locale = ctx.ctx.locale_of(rep)
        goals = [progress_item(p, fields, locale) for p in
                 person_progress(session=s, person=rep, day=day, calendar=ctx.calendar)] \
            if rep.code in with_goal else []
        due = [followup_data(f, day, ctx.calendar) for f in due_for(session=s, person_id=rep.id, today=day)] \
            if rep.id in with_due else []
        # The key starts with job:morning: so a reply in this message's Slack thread is read as key actions.
        ctx.send(ctx.ctx.message_to(rep, "morning_prompt", key=ctx.key(team, day, rep.code),
                                    name=rep.name, day=day, goals=goals, followups=due))
    return JobResult(processed=len(reps), enqueued=len(reps))
