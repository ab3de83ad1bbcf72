"""Morning prompt: month goal progress, run rate, follow-ups due today, and today's three key actions."""

from __future__ import annotations

from datetime import date

from jobs.base import JobContext, JobResult
from jobs.common import followup_data, progress_item
from models import Team
from services.followups import due_for, refresh
from services.goals import person_progress
from services.report_fields import load_fields


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Send each rep of `team` the morning prompt for `day`."""
    fields = load_fields(session=ctx.session)
    refresh(session=ctx.session, settings=ctx.settings, calendar=ctx.calendar, today=day, now=ctx.now)
    reps = ctx.reps(team)
    for rep in reps:
        locale = ctx.ctx.locale_of(rep)
        goals = [progress_item(p, fields, locale) for p in
                 person_progress(session=ctx.session, person=rep, day=day, calendar=ctx.calendar)]
        due = [followup_data(f, day, ctx.calendar) for f in due_for(session=ctx.session, person_id=rep.id, today=day)]
        # The key starts with job:morning: so a reply in this message's Slack thread is read as key actions.
        ctx.send(ctx.ctx.message_to(rep, "morning_prompt", key=ctx.key(team, day, rep.code),
                                    name=rep.name, day=day, goals=goals, followups=due))
    return JobResult(processed=len(reps), enqueued=len(reps))
