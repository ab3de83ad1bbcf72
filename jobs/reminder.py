"""Report reminder: a direct message to each rep who has not reported today, with the template."""

from __future__ import annotations

from datetime import date

from jobs.base import JobContext, JobResult
from models import Team
from services.report_fields import load_fields
from services.reports import report_template, reported_person_ids


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Remind each seller of `team` without a report for `day`."""
    reps = ctx.sellers(team, day)
    done = reported_person_ids(session=ctx.session, team_id=team.id, day=day)
    fields = load_fields(session=ctx.session)
    blanks: dict[str, str] = {}
    result = JobResult(processed=len(reps))
    for rep in reps:
        if rep.id in done:
            result.skipped += 1
            continue
        locale = ctx.ctx.locale_of(rep)
        if locale not in blanks:
            blanks[locale] = report_template(fields=fields, locale=locale)
        ctx.send(ctx.ctx.message_to(rep, "report_reminder", key=ctx.key(team, day, rep.code),
                                    name=rep.name, day=day, template=blanks[locale]))
        result.enqueued += 1
    return result
