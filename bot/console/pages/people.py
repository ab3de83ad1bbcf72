"""/console/people/CODE: one person's goals and progress, reports with gaps, visits, follow-ups, weekly score."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.responses import Response

from bot.console import params
from bot.console.pages.common import forecast_label, progress_row, report_state
from bot.console.tables import Column, Table
from bot.console.web import View, page
from models import Customer, DailyReport, FollowUp, FollowUpStatus, GoalScope, Visit
from services.fields import FieldType, Stage, stage_label
from services.followups import kind_label
from services.forecast import Outlook, assumptions, forecast
from services.goals import GoalTarget, time_progress, unit_progress
from services.report_fields import get_value, load_fields
from services.scores import activity_scores


def _stage(key: str | None, locale: str) -> str:
    try:
        return stage_label(Stage(key or ""), locale)
    except ValueError:
        return key or ""


@page("/console/people/{code}", sample={"code": "zhang"})
def person_page(view: View) -> Response:
    """The person's own page (for them, their managers and admins)."""
    t, session, locale = view.t, view.session, view.locale
    person = view.scope.person(session, view.path("code"))
    span = params.period(view)
    calendar = params.calendar(view)
    fields = load_fields(session=session)
    numeric = [f for f in fields if f.type is not FieldType.TEXT]
    region_id = person.team.region_id if person.team is not None else None
    target = GoalTarget(GoalScope.USER, person.code, person.name, person.id, region_id)
    time_pct = time_progress(calendar, span.period, span.as_of)
    labels = {f.key: f for f in fields}
    # the period-end forecast of each metric with a goal, and of the team's main metric (the card)
    main = person.team.main_metric if person.team is not None else "signed_amount"
    main = main if main in labels and labels[main].type is not FieldType.TEXT else "signed_amount"
    outlooks: dict[str, Outlook] = {}

    def projected(metric: str) -> Outlook | None:
        fdef = labels.get(metric)
        if fdef is None or fdef.type is FieldType.TEXT:
            return None
        if metric not in outlooks:
            outlooks[metric] = forecast(session=session, unit=person, period=span.period, metric=metric,
                                        day=span.as_of, calendar=calendar, settings=view.settings)
        return outlooks[metric]

    goal_rows = []
    for p in unit_progress(session=session, target=target, period=span.period, day=span.as_of, calendar=calendar):
        fdef = labels.get(p.metric)
        outlook = projected(p.metric)
        goal_rows.append({"metric": fdef.label(locale) if fdef else p.metric, "actual": p.actual,
                          "_money": bool(fdef and fdef.type is FieldType.MONEY), **progress_row(p, time_pct),
                          "forecast": outlook.root.projection if outlook is not None else None})
    card = projected(main)
    assert card is not None
    how = assumptions(outlook=card, locale=locale, node=card.root)
    goals = Table("main", t("person.goals"), [
        Column("metric", t("col.metric")), Column("floor", t("col.floor"), "number"),
        Column("target", t("col.target"), "number"), Column("stretch", t("col.stretch"), "number"),
        Column("actual", t("col.actual"), "number", link=lambda r: "#t-reports"),
        Column("progress", t("col.pct"), "progress"), Column("run_rate", t("col.run_rate"), "number"),
        Column("remaining", t("col.remaining"), "number"),
        Column("forecast", forecast_label(view.t, span.period), "number")], goal_rows, empty=t("person.no_goals"))
    # reports, day by day: every workday, and any other day with a report
    reports = {r.day: r for r in session.scalars(select(DailyReport).where(
        DailyReport.person_id == person.id, DailyReport.day >= span.start, DailyReport.day <= span.end))}
    workdays = set(calendar.workdays(span.start, span.end)) if span.start <= span.end else set()
    report_rows: list[dict[str, Any]] = []
    gaps = 0
    for day in sorted(workdays | {d for d, r in reports.items() if r.submitted_at is not None}, reverse=True):
        r = reports.get(day)
        state = report_state(r.submitted_at if r else None, person.team, day, view.settings)
        gaps += state == "missing" and day in workdays
        row: dict[str, Any] = {"day": day, "state": t(f"state.{state}"),
                               "submitted": r.submitted_at.astimezone(view.today_zone()).strftime("%m-%d %H:%M")
                               if r is not None and r.submitted_at is not None else None}
        for f in numeric:
            row[f.key] = get_value(r, f) if r is not None and r.submitted_at is not None else None
        row["key_actions"] = "; ".join(r.key_actions or []) if r is not None else ""
        report_rows.append(row)
    report_table = Table("reports", t("person.reports"), [
        Column("day", t("col.day"), "date"), Column("state", t("col.state")), Column("submitted", t("col.submitted")),
        *[Column(f.key, f.label(locale), "money" if f.type is FieldType.MONEY else "number") for f in numeric],
        Column("key_actions", t("col.key_actions"))], report_rows)
    visit_rows = [{"day": v.day, "customer": c.name, "stage": _stage(v.stage, locale), "note": v.note,
                   "without_permission": v.without_permission}
                  for v, c in session.execute(select(Visit, Customer).join(Customer, Customer.id == Visit.customer_id)
                                              .where(Visit.person_id == person.id, Visit.day >= span.start,
                                                     Visit.day <= span.end)
                                              .order_by(Visit.day.desc(), Visit.id.desc()))]
    visits = Table("visits", t("person.visits"), [
        Column("day", t("col.day"), "date"), Column("customer", t("col.customer")), Column("stage", t("col.stage")),
        Column("note", t("col.note")), Column("without_permission", t("col.without_permission"), "bool")], visit_rows)
    today = view.today()
    follow_rows = [{"due": f.due, "customer": c.name, "tier": c.tier, "kind": kind_label(f.kind, locale),
                    "overdue": calendar.workdays_since(f.due, today) if f.due < today else 0,
                    "escalated": f.escalated}
                   for f, c in session.execute(select(FollowUp, Customer).join(Customer, Customer.id == FollowUp.customer_id)
                                               .where(FollowUp.owner_id == person.id,
                                                      FollowUp.status != FollowUpStatus.DONE,
                                                      FollowUp.open_key.is_not(None))
                                               .order_by(FollowUp.due, FollowUp.id))]
    followups = Table("followups", t("person.followups"), [
        Column("due", t("col.due"), "date"), Column("customer", t("col.customer")), Column("tier", t("col.tier")),
        Column("kind", t("col.kind")), Column("overdue", t("col.overdue_days"), "number"),
        Column("escalated", t("col.escalated"), "bool")], follow_rows)
    score_rows = []
    monday = span.start - timedelta(days=span.start.weekday())
    while monday <= span.end:
        sunday = monday + timedelta(days=6)
        start, end = max(monday, span.start), min(sunday, span.end)
        score = activity_scores(session=session, settings=view.settings, calendar=calendar, people=[person],
                                start=start, end=end).get(person.id)
        if score is not None:
            iso = monday.isocalendar()
            score_rows.append({"week": f"{iso.year}-W{iso.week:02d}", "total": score.total,
                               "reports": score.reports * 100, "visits": score.visits * 100,
                               "followups": score.followups * 100, "plans": score.plans * 100})
        monday += timedelta(days=7)
    scores = Table("scores", t("person.scores"), [
        Column("week", t("col.week")), Column("total", t("col.score"), "number"),
        Column("reports", t("col.score_reports"), "pct"), Column("visits", t("col.score_visits"), "pct"),
        Column("followups", t("col.score_followups"), "pct"), Column("plans", t("col.score_plans"), "pct")],
        list(reversed(score_rows)))
    filters = {"person": person.code, "period": span.text or str(span.period)}
    return view.respond("person.html", tables=[goals, report_table, visits, followups, scores], filters=filters,
                        subject=person, span=span, gaps=gaps, workdays=len(workdays), time_pct=time_pct,
                        outlook=card, forecast_title=forecast_label(view.t, span.period),
                        forecast_money=labels[main].type is FieldType.MONEY, forecast_metric=labels[main].label(locale),
                        how=how)
