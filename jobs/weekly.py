"""Weekly review: last week against goal, the funnel, overdue and stalled, conflicts, scores, a chart."""

from __future__ import annotations

import dataclasses
from datetime import date

from jobs.base import JobContext, JobResult
from jobs.common import metric_info
from jobs.nudges import stalled_item
from models import Team
from services.charts import bar_chart
from services.customers import conflict_count, managers_of_region
from services.followups import stalled
from services.report_fields import load_fields
from services.weekly import funnel, last_week, overdue_followups, person_rows, team_region_ids


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Post last week's review to the team's channels and to its region's managers."""
    s = ctx.session
    start, end = last_week(day)
    locale = ctx.team_locale(team)
    fields = load_fields(session=s)
    metric = team.main_metric or "signed_amount"
    info = metric_info(fields, metric, locale)
    people, total = person_rows(session=s, settings=ctx.settings, calendar=ctx.calendar, team=team,
                                metric=metric, start=start, end=end)
    member_ids = [p.id for p in ctx.members(team)]
    regions = team_region_ids(session=s, team=team)
    risky = [stalled_item(c, day, locale) for c in stalled(session=s, settings=ctx.settings, today=day)
             if c.owner_id in set(member_ids)]
    variables = {
        "team": team.name, "start": start, "end": end, "metric": info, "people": people, "total": total,
        "funnel": funnel(session=s, region_ids=regions, locale=locale),
        "overdue": overdue_followups(session=s, person_ids=member_ids, day=day),
        "stalled": risky,
        "conflicts": conflict_count(session=s, region_ids=regions, start=start, end=end),
    }
    png = bar_chart([p["name"] for p in people], [p["actual"] for p in people], goals=[p["target"] for p in people],
                    title=f"{team.name} {start.isoformat()} – {end.isoformat()} · {info['label']}", money=info["money"],
                    locale=locale)
    name = f"weekly-{team.code}-{start.isoformat()}.png"
    post = ctx.ctx.post_to_team(team, "weekly_review", key=ctx.key(team, day, "team"), **variables)
    ctx.send(dataclasses.replace(post, image=png, image_name=name))
    sent = 1
    for manager in managers_of_region(session=s, region_id=team.region_id):
        dm = ctx.ctx.message_to(manager, "weekly_review", key=ctx.key(team, day, f"manager:{manager.code}"),
                                **variables)
        ctx.send(dataclasses.replace(dm, image=png, image_name=name))
        sent += 1
    return JobResult(processed=len(people), enqueued=sent)
