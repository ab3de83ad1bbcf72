"""/console/overview: the goal tree region -> team -> person for any period, trend, ranking, comparison."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

from sqlalchemy import and_, case, func, select
from starlette.responses import Response

from bot.console import params
from bot.console.charts import line_chart
from bot.console.pages.common import (
    MANAGERS,
    ZERO,
    among,
    forecast_label,
    pace_word,
    progress_row,
    seller_condition,
)
from bot.console.tables import Column, Table
from bot.console.web import BadInput, View, page
from bot.core.db import read_beside
from bot.core.rendering import format_money, format_number
from models import DailyReport, GoalScope, Person, Region, Team
from services.calendar import WorkCalendar
from services.fields import FieldDef, FieldType
from services.forecast import Outlook, assumptions, forecast
from services.goals import GoalTarget, Period, Progress, time_progress, units_progress
from services.leaderboard import team_ranking
from services.report_totals import daily_by_team, has_totals, window

RANKING_SHOWN = 10


def forecast_for(view: View, targets: list[GoalTarget], span: params.Span,
                 metric: str) -> tuple[dict[tuple[str, str], Any], list[Outlook]]:
    """The period-end forecast column (issue 16): services.forecast once for each top unit of the tree.

    Returns each unit's projection by (scope, code), and the outlooks (for their assumptions in words)."""
    session, regions = view.session, {u.id for u in targets if u.scope is GoalScope.REGION}
    parents = dict(session.execute(select(Region.id, Region.parent_id).where(Region.id.in_(regions))).all())
    tops = [u for u in targets if (u.scope is GoalScope.REGION and parents.get(u.id) not in regions)
            or (u.scope is GoalScope.TEAM and u.region_id not in regions)]
    out: dict[tuple[str, str], Any] = {}
    outlooks = []
    for top in tops:
        outlook = forecast(session=session, unit=session.get(Region if top.scope is GoalScope.REGION else Team, top.id),
                           period=span.period, metric=metric, day=span.as_of, calendar=params.calendar(view),
                           settings=view.settings, people=top.scope is GoalScope.TEAM)
        out.update({(n.scope, n.code): n.projection for n in outlook.nodes})
        outlooks.append(outlook)
    return out, outlooks


def _tree(view: View, region: Region | None, team: Team | None, span: params.Span) -> list[tuple[GoalTarget, int]]:
    """The units shown, top first, with their depth: a team and its sellers in the span, or regions with
    sub-regions and teams."""
    session, scope = view.session, view.scope
    if team is not None:
        out = [(GoalTarget(GoalScope.TEAM, team.code, team.name, team.id, team.region_id), 0)]
        people = session.execute(select(Person.id, Person.code, Person.name).where(
            Person.team_id == team.id, seller_condition(span.start, span.end), scope.people(Person.id))
            .order_by(Person.code))
        out += [(GoalTarget(GoalScope.USER, code, name, pid, team.region_id), 1) for pid, code, name in people]
        return out
    regions = list(session.execute(select(Region.id, Region.code, Region.name, Region.parent_id)
                                   .where(scope.regions(Region.id)).order_by(Region.code)))
    teams = list(session.execute(select(Team.id, Team.code, Team.name, Team.region_id)
                                 .where(scope.regions(Team.region_id)).order_by(Team.code)))
    children: dict[int | None, list[Any]] = defaultdict(list)
    for r in regions:
        children[r.parent_id].append(r)
    teams_of: dict[int, list[Any]] = defaultdict(list)
    for t in teams:
        teams_of[t.region_id].append(t)
    ids = {r.id for r in regions}
    roots = [r for r in regions if (r.id == region.id if region is not None else r.parent_id not in ids)]
    out = []

    def walk(r: Any, depth: int) -> None:
        out.append((GoalTarget(GoalScope.REGION, r.code, r.name, r.id, r.id), depth))
        for child in children.get(r.id, []):
            walk(child, depth + 1)
        for t in teams_of.get(r.id, []):
            out.append((GoalTarget(GoalScope.TEAM, t.code, t.name, t.id, t.region_id), depth + 1))

    for root in roots:
        walk(root, 0)
    return out


def _daily(view: View, focus: GoalTarget | None, team_ids: list[int] | None, metric: FieldDef, start: date,
           end: date) -> Callable[[], dict[date, Decimal]]:
    """Start summing the metric by day over the focus team or the teams shown (the overview's focus is never a
    person), from the teams' daily totals; return a function that gives the sums (read beside the page's
    others)."""
    if not has_totals(metric.key):
        return dict
    view.session.flush()
    ids = [focus.id] if focus is not None and focus.scope is GoalScope.TEAM else team_ids or []
    rows = read_beside(view.session, daily_by_team(metric.key, ids, start, end,
                                                   among=lambda c, i: among(view.session, c, i)))
    return lambda: {d: Decimal(v or 0) for d, v in rows()}


def _cumulative(daily: dict[date, Decimal], start: date, days: int, upto: date | None) -> list[Decimal | None]:
    total, out = ZERO, []
    for i in range(days):
        d = start + timedelta(days=i)
        if upto is not None and d > upto:
            out.append(None)
            continue
        total += daily.get(d, ZERO)
        out.append(total)
    return out


def _pace(calendar: WorkCalendar, period: Period, goal: Decimal | None) -> list[Decimal | None]:
    if goal is None:
        return []
    days = (period.end - period.start).days + 1
    workdays = set(calendar.workdays(period.start, period.end))
    total = len(workdays) or 1
    out, gone = [], 0
    for i in range(days):
        d = period.start + timedelta(days=i)
        gone += d in workdays
        out.append(goal * gone / total)
    return out


def _known_actuals(outlooks: list[Outlook], metric: FieldDef, span: params.Span) -> dict[int, Decimal] | None:
    """The sellers' sums over the span that the forecast has already made (same metric, period and days)."""
    if not outlooks or span.end < span.start or any(
            o.metric != metric.key or o.period != str(span.period) or o.day != span.end for o in outlooks):
        return None
    known: dict[int, Decimal] = {}
    for o in outlooks:
        known.update(o.seller_actuals)
    return known


def _sellers(view: View, team_ids: list[int] | None, span: params.Span) -> Callable[[], list[Any]] | None:
    """Start reading the sellers of the teams over the span (id, code, name, team name), in code order."""
    if not team_ids:
        return None
    view.session.flush()
    return read_beside(view.session, select(Person.id, Person.code, Person.name, Team.name)
                       .join(Team, Team.id == Person.team_id)
                       .where(among(view.session, Person.team_id, team_ids), seller_condition(span.start, span.end),
                              view.scope.people(Person.id)).order_by(Person.code))


def _ranking(view: View, focus: GoalTarget | None, team_ids: list[int] | None, metric: FieldDef,
             span: params.Span, known: dict[int, Decimal] | None = None,
             sellers: Callable[[], list[Any]] | None = None) -> Sequence[dict[str, Any]]:
    """Sellers by the metric over the span: the chat's team ranking for a team, the same rule region-wide."""
    if focus is not None and focus.scope is GoalScope.TEAM:
        team = view.session.get(Team, focus.id)
        assert team is not None
        standings = team_ranking(session=view.session, team=team, metric=metric.key, start=span.start,
                                 end=span.end)
        names = {team.id: team.name}
        return [{"rank": s.rank, "code": s.code, "name": s.name, "team": names[team.id], "value": s.value}
                for s in standings]
    if not team_ids:
        return []
    if known is not None and sellers is not None:
        # the sellers (the same rule as below) with the forecast's sums of them; every seller ranked here is
        # one the forecast listed (a seller in the span is one in its period), else the sums are made below
        people = sellers()
        if all(pid in known for pid, *_ in people):
            # by value, ties in the database's order of codes (a stable sort), as the query below orders them
            rows = sorted(((code, name, team_name, known[pid]) for pid, code, name, team_name in people),
                          key=lambda r: r[3], reverse=True)
            return _ranked(rows)
    if not has_totals(metric.key):
        return []
    sellers = select(Person.id).where(among(view.session, Person.team_id, team_ids), seller_condition(span.start, span.end),
                                      view.scope.people(Person.id))
    # each seller's sum over the span wherever they filed it, from the monthly totals (services/report_totals)
    sums = window(metric.key, span.start, span.end, lambda person, _team: person.in_(sellers), by_team=False)
    total = func.coalesce(sums.c.total, 0)
    # plain rows on the session's connection: a region ranks thousands of sellers (bench/console.py)
    view.session.flush()
    rows = view.session.connection().execute(
        select(Person.code, Person.name, Team.name, total)
        .join(Team, Team.id == Person.team_id).outerjoin(sums, sums.c.person_id == Person.id)
        .where(among(view.session, Person.team_id, team_ids), seller_condition(span.start, span.end),
               view.scope.people(Person.id))
        .order_by(total.desc(), Person.code)).all()
    return _ranked(rows)


class _Ranked(Sequence[dict[str, Any]]):
    """Ranks (equal values share one, the next skips) for (code, name, team, value) rows in order; each row
    made a dict only when shown or exported (a region ranks 10,000 sellers and shows ten)."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = rows
        self._ranks: list[int] = []
        rank, last = 0, None
        for i, row in enumerate(rows, 1):
            if row[3] != last:
                rank, last = i, row[3]
            self._ranks.append(rank)

    def __len__(self) -> int:
        return len(self._rows)

    def _row(self, i: int) -> dict[str, Any]:
        code, name, team_name, value = self._rows[i]
        return {"rank": self._ranks[i], "code": code, "name": name, "team": team_name, "value": value}

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self._rows)))]
        return self._row(range(len(self._rows))[index])


def _ranked(rows: Sequence[Any]) -> Sequence[dict[str, Any]]:
    """The ranking of (code, name, team, value) rows in order, values as Decimals."""
    return _Ranked([(code, name, team, value if isinstance(value, Decimal) else Decimal(value or 0))
                    for code, name, team, value in rows])


def _reported(view: View, team_ids: list[int], day: date) -> Callable[[], tuple[int, int]]:
    """Start counting (reported, sellers) on a day across the teams; return a function that gives them."""
    if not team_ids:
        return lambda: (0, 0)
    on = and_(DailyReport.person_id == Person.id, DailyReport.day == day, DailyReport.submitted_at.is_not(None))
    rows = read_beside(view.session, select(func.count(Person.id), func.sum(case((DailyReport.id.is_not(None), 1),
                                                                                   else_=0)))
                       .outerjoin(DailyReport, on)
                       .where(among(view.session, Person.team_id, team_ids), seller_condition(day)))

    def counted() -> tuple[int, int]:
        sellers, reported = rows()[0]
        return int(reported or 0), int(sellers or 0)

    return counted



def _together(name: str, tops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cards' figures of several top units at once: actuals and goals added up (a goal only when every
    unit has one), 达成率 of the sums, the run rates needed added up."""
    if len(tops) < 2:
        return None
    actual = sum((r["actual"] or ZERO for r in tops), ZERO)
    every_goal = all(r["target"] is not None for r in tops)
    target = sum((r["target"] for r in tops), ZERO) if every_goal else None
    return {"name": name, "actual": actual, "target": target,
            "pct": (actual * 100 / target).quantize(Decimal("0.1"), ROUND_HALF_UP) if target else None,
            "run_rate": sum((r["run_rate"] for r in tops), ZERO) if every_goal else None,
            "remaining": max((r["remaining"] for r in tops if r["remaining"] is not None), default=None)}

@page("/console/overview", roles=MANAGERS)
def overview(view: View) -> Response:
    """Goals against progress down the tree, for a period, a region or a team, and one metric."""
    t, session, scope = view.t, view.session, view.scope
    span = params.period(view)
    metric, metric_raw = params.metric(view)
    region_code, team_code = view.param("region"), view.param("team")
    if region_code and team_code:
        raise BadInput("team", team_code, t("expected.region_or_team"))
    region = scope.region(session, region_code) if region_code else None
    team = scope.team(session, team_code) if team_code else None
    calendar = params.calendar(view)
    units = _tree(view, region, team, span)
    focus = units[0][0] if units and (region is not None or team is not None or
                                      sum(1 for _, d in units if d == 0) == 1) else None
    if team is not None:
        team_ids: list[int] | None = [team.id]
    else:
        team_ids = [u.id for u, _ in units if u.scope is GoalScope.TEAM]
    targets = [u for u, _ in units]
    # the trend and who reported are read beside the forecast (bot.core.db.read_beside)
    prev = params.previous(span.period)
    daily_rows = _daily(view, focus, team_ids, metric, prev.start, span.end) if team_ids or focus is not None \
        else dict
    reported_rows = _reported(view, team_ids or [], span.end)
    sellers = _sellers(view, team_ids, span) if team is None else None
    forecasts, outlooks = forecast_for(view, targets, span, metric.key)
    # the forecast has summed every team's and region's actual as /goal does: the goal tree reuses them
    known = {(n.scope, n.code): n.actual for o in outlooks for n in o.nodes if n.scope != "user"}
    progress = units_progress(session=session, targets=targets, period=span.period, day=span.as_of,
                              calendar=calendar, metric=metric.key, known=known)
    time_pct = time_progress(calendar, span.period, span.as_of)
    money = metric.type is FieldType.MONEY
    rows = []
    for unit, depth in units:
        found: Progress | None = next(iter(progress.get((str(unit.scope), unit.code), [])), None)
        row = {"name": unit.name, "code": unit.code, "kind": t(f"kind.{unit.scope}"), "_level": depth,
               # a unit with no goal still has an actual (the forecast summed it): 上海 above its teams
               "_scope": str(unit.scope),
               "actual": found.actual if found is not None else known.get((str(unit.scope), unit.code)),
               **progress_row(found, time_pct)}
        if forecasts:
            row["forecast"] = forecasts.get((str(unit.scope), unit.code))
        rows.append(row)
    period_text = str(span.period) if not span.text or span.text == str(span.period) else span.text

    def drill(row: dict[str, Any]) -> str:
        if row["_scope"] == "user":
            return view.url(f"/console/people/{row['code']}", period=span.text)
        key = "team" if row["_scope"] == "team" else "region"
        return view.url("/console/overview", period=span.text, metric=metric_raw, **{key: row["code"]})

    kind = "money" if money else "number"
    # What a manager looks for first comes first, in view on a phone without scrolling sideways: the actual
    # and 达成率, then the goal and what it takes; floor, stretch and the kind of unit last.
    columns = [Column("name", t("col.unit"), link=drill), Column("actual", t("col.actual"), kind, link=drill),
               Column("progress", t("col.pct"), "progress"), Column("target", t("col.target"), kind),
               Column("run_rate", t("col.run_rate"), kind), Column("remaining", t("col.remaining"), "number")]
    if forecasts:
        columns.append(Column("forecast", forecast_label(view.t, span.period), kind))
    columns += [Column("floor", t("col.floor"), kind), Column("stretch", t("col.stretch"), kind),
                Column("kind", t("col.kind"))]
    tree = Table("main", t("overview.tree"), columns, rows)
    ranking_rows = _ranking(view, focus if team is not None else None, team_ids, metric, span,
                            _known_actuals(outlooks, metric, span), sellers)
    ranking = Table("ranking", t("overview.ranking"), [
        Column("rank", t("col.rank"), "number"),
        Column("name", t("col.person"), link=lambda r: view.url(f"/console/people/{r['code']}", period=span.text)),
        Column("team", t("col.team")), Column("value", metric.label(view.locale), kind)], ranking_rows,
        page_size=RANKING_SHOWN)
    # the focus unit's figures: cards, trend and the previous period; with several regions at the top (a
    # manager of two, an admin), their sum
    head = rows[0] if focus is not None and rows else _together(
        t("overview.together"), [r for r, (_, depth) in zip(rows, units, strict=True) if depth == 0])
    daily = daily_rows()
    days = (span.period.end - span.period.start).days + 1
    actual_line = _cumulative(daily, span.period.start, days, span.end)
    prev_days = (prev.end - prev.start).days + 1
    prev_line = _cumulative(daily, prev.start, prev_days, None)[:days]
    offset = (span.end - span.period.start).days
    prev_same = prev_line[min(offset, len(prev_line) - 1)] if prev_line and offset >= 0 else None
    prev_total = prev_line[-1] if prev_line else None
    now_total = sum((v for d, v in daily.items() if span.period.start <= d <= span.end), ZERO)
    change = ((now_total - prev_same) * 100 / prev_same).quantize(Decimal("0.1")) if prev_same else None
    target = head["target"] if head else None
    pace = _pace(calendar, span.period, target)
    fmt = (lambda v: format_money(v, view.locale)) if money else (lambda v: format_number(v))
    peak = max([v for v in actual_line + prev_line + pace if v is not None], default=ZERO)
    chart = line_chart([("target", pace), ("prev", prev_line), ("actual", actual_line)],
                       labels=(span.period.start.isoformat(), span.period.end.isoformat()),
                       top_label=fmt(peak), title=t("overview.trend_title", metric=metric.label(view.locale),
                                                    period=period_text))
    reported, sellers = reported_rows()
    # the assumptions of the forecast shown first: the focus unit's (its open pipeline), else the first top's
    how: list[str] = []
    if outlooks:
        node = outlooks[0].node(focus.scope, focus.code) if focus is not None else None
        how = assumptions(outlook=outlooks[0], locale=view.locale, node=node)
    filters = {"period": period_text, "metric": metric.key, "region": region_code, "team": team_code}
    return view.respond(
        "overview.html", tables=[tree, ranking], filters=filters, span=span, period_text=period_text,
        metric=metric, money=money, head=head, time_pct=time_pct,
        pace=pace_word(head["pct"] if head else None, time_pct), prev=prev, prev_same=prev_same,
        prev_total=prev_total, now_total=now_total, change=change, chart=chart, reported=reported,
        sellers=sellers, metrics=params.metrics(view), region_code=region_code, team_code=team_code,
        focus=focus, top=ranking_rows[:3], how=how)
