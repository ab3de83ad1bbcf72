"""Evening leaderboard: the day's ranking by the team's main metric, team total against goal, who is missing."""

from __future__ import annotations

from datetime import date

from jobs.base import JobContext, JobResult
from jobs.common import metric_info, progress_item
from models import Team
from services.goals import team_progress, team_total
from services.leaderboard import team_ranking
from services.report_fields import load_fields


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Post the day's leaderboard to every channel of `team`."""
    locale = ctx.team_locale(team)
    fields = load_fields(session=ctx.session)
    metric = team.main_metric or "signed_amount"
    standings = team_ranking(session=ctx.session, team=team, metric=metric, start=day, end=day)
    ranking = [{"rank": s.rank, "code": s.code, "name": s.name, "value": s.value, "reported": s.reported}
               for s in standings]
    total = team_total(session=ctx.session, team=team, metric=metric, start=day, end=day)
    goal = next((progress_item(p, fields, locale) for p in
                 team_progress(session=ctx.session, team=team, day=day, calendar=ctx.calendar)
                 if p.metric == metric), None)
    missing = [s.name for s in standings if not s.reported]
    ctx.send(ctx.ctx.post_to_team(team, "evening_leaderboard", key=ctx.key(team, day, "team"),
                                  team=team.name, day=day, metric=metric_info(fields, metric, locale),
                                  ranking=ranking, total=total, goal=goal, missing=missing,
                                  reported=len(standings) - len(missing), headcount=len(standings)))
    return JobResult(processed=len(standings), enqueued=1)
