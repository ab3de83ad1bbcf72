"""/console/reports: who reported on a day, late or not at all, with streaks (日报提交情况)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select
from starlette.responses import Response

from bot.console import params
from bot.console.pages.common import MANAGERS, report_state, seller_condition
from bot.console.tables import Column, Table
from bot.console.web import BadInput, View, page
from models import DailyReport, Person, Region, Team
from services.goals import region_subtree

STREAK_WINDOW = 30  # workdays looked back for streaks and misses


def scoped_teams(view: View) -> tuple[list[int], str, str]:
    """The teams a page is about: `?team=CODE`, `?region=CODE` (and below), or the whole scope."""
    session, scope = view.session, view.scope
    region_code, team_code = view.param("region"), view.param("team")
    if region_code and team_code:
        raise BadInput("team", team_code, view.t("expected.region_or_team"))
    if team_code:
        return [scope.team(session, team_code).id], region_code, team_code
    if region_code:
        region: Region = scope.region(session, region_code)
        subtree = region_subtree(session=session, region_ids=[region.id])
        ids = list(session.scalars(select(Team.id).where(Team.region_id.in_(subtree), scope.regions(Team.region_id))))
        return ids, region_code, team_code
    return list(session.scalars(select(Team.id).where(scope.regions(Team.region_id)))), region_code, team_code


def team_options(view: View) -> list[tuple[str, str]]:
    return [(code, name) for code, name in view.session.execute(
        select(Team.code, Team.name).where(view.scope.regions(Team.region_id)).order_by(Team.code).limit(500))]


@page("/console/reports", roles=MANAGERS)
def reports(view: View) -> Response:
    """Daily report compliance for a day: on time, late, missing; streaks and misses over 30 workdays."""
    t, session = view.t, view.session
    day, day_raw = params.day(view)
    team_ids, region_code, team_code = scoped_teams(view)
    calendar = params.calendar(view)
    window: list[date] = []
    d = day
    while len(window) < STREAK_WINDOW:
        if calendar.is_workday(d):
            window.append(d)
        d = date.fromordinal(d.toordinal() - 1)
    people = list(session.execute(
        select(Person.id, Person.code, Person.name, Team).join(Team, Team.id == Person.team_id)
        .where(Person.team_id.in_(team_ids), seller_condition(day), view.scope.people(Person.id))
        .order_by(Team.code, Person.code))) if team_ids else []
    sent: dict[int, dict[date, Any]] = defaultdict(dict)
    ids = [p[0] for p in people]
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        for pid, rday, at in session.execute(
                select(DailyReport.person_id, DailyReport.day, DailyReport.submitted_at)
                .where(DailyReport.person_id.in_(chunk), DailyReport.day >= min(window), DailyReport.day <= day,
                       DailyReport.submitted_at.is_not(None))):
            sent[pid][rday] = at
    rows = []
    counts = {"on_time": 0, "late": 0, "missing": 0}
    for pid, code, name, team in people:
        state = report_state(sent[pid].get(day), team, day, view.settings)
        counts[state] += 1
        streak = 0
        for wd in window:
            if wd in sent[pid]:
                streak += 1
            elif wd == day and wd == view.today():
                continue  # today is not over: no report yet does not break the streak
            else:
                break
        at = sent[pid].get(day)
        rows.append({"name": name, "code": code, "team": team.name, "state": t(f"state.{state}"), "_state": state,
                     "submitted": at.astimezone(view.today_zone()).strftime("%H:%M") if at is not None else None,
                     "streak": streak, "missed": sum(1 for wd in window if wd not in sent[pid] and wd != day),
                     })
    order = {"missing": 0, "late": 1, "on_time": 2}
    rows.sort(key=lambda r: (order[r["_state"]], -r["streak"], r["code"]))
    table = Table("main", t("reports.table", day=day.isoformat()), [
        Column("name", t("col.person"), link=lambda r: view.url(f"/console/people/{r['code']}",
                                                                 period=day.isoformat())),
        Column("team", t("col.team")), Column("state", t("col.state")), Column("submitted", t("col.submitted")),
        Column("streak", t("col.streak"), "number"), Column("missed", t("col.missed", days=STREAK_WINDOW), "number")],
        rows, empty=t("reports.nobody"))
    filters = {"day": day.isoformat(), "region": region_code, "team": team_code}
    return view.respond("reports.html", tables=[table], filters=filters, day=day, day_raw=day_raw,
                        counts=counts, total=len(rows), workday=calendar.is_workday(day),
                        teams=team_options(view), region_code=region_code, team_code=team_code)
