"""/console/goals: set and split goals in forms through the service `/goal` uses (services.goals set_goal_for,
propose_split_for, apply_split_for: the same rules and audit record): managers for the regions they manage,
admins for all. A split is shown as a table to adjust before it is applied; amounts are read as chat reads
them (bot.core.amounts)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from starlette.responses import Response

from bot.console.pages.common import MANAGERS
from bot.console.tables import Column, Table
from bot.console.web import BadInput, NotFound, View, page
from bot.core.amounts import parse_amount
from models import Goal, GoalScope, Person, Region, Team
from services import audit
from services.fields import FieldDef, FieldType
from services.goals import (
    GoalRefused,
    GoalTarget,
    Period,
    apply_split_for,
    find_goal,
    goal_target,
    month_period,
    parse_period,
    propose_split_for,
    set_goal_for,
)
from services.report_fields import load_fields

SCOPES = (GoalScope.REGION, GoalScope.TEAM, GoalScope.USER)
MAX_OPTIONS = 600  # above this many units the form asks for a code instead of listing them
BY = ("history", "even")


def _metrics(view: View) -> list[FieldDef]:
    return [f for f in load_fields(session=view.session) if f.type is not FieldType.TEXT]


def _units(view: View) -> list[tuple[GoalScope, str, str]]:
    """Every region, team and active person the person may set goals for (scope, code, name)."""
    s, scope = view.session, view.scope
    out: list[tuple[GoalScope, str, str]] = []
    for code, name in s.execute(select(Region.code, Region.name).where(scope.regions(Region.id))
                                .order_by(Region.code).limit(MAX_OPTIONS + 1)):
        out.append((GoalScope.REGION, code, name))
    for code, name in s.execute(select(Team.code, Team.name).where(scope.regions(Team.region_id))
                                .order_by(Team.code).limit(MAX_OPTIONS + 1)):
        out.append((GoalScope.TEAM, code, name))
    for code, name in s.execute(select(Person.code, Person.name).join(Team, Team.id == Person.team_id)
                                .where(Person.active.is_(True), scope.regions(Team.region_id))
                                .order_by(Team.code, Person.code).limit(MAX_OPTIONS + 1)):
        out.append((GoalScope.USER, code, name))
    return out


def _target(view: View, scope_text: str, code: str) -> GoalTarget:
    """The unit a form names, if the person may set its goals (else 404, as for anything outside the scope)."""
    try:
        return goal_target(session=view.session, person=view.person, scope=GoalScope(scope_text), code=code.strip())
    except ValueError:
        raise BadInput("scope", scope_text, ", ".join(s.value for s in SCOPES)) from None
    except GoalRefused as err:
        if err.forbidden:
            raise NotFound() from None
        raise BadInput("code", code, view.t(f"goal.expected.code.{scope_text}")) from None


def _unit_of(view: View, values: dict[str, str]) -> GoalTarget:
    unit = values.get("unit", "")
    if unit:
        scope_text, _, code = unit.partition(":")
        return _target(view, scope_text, code)
    return _target(view, values.get("scope", ""), values.get("code", ""))


def _period(view: View, raw: str, name: str = "period") -> Period:
    if not raw:
        return month_period(view.today())
    try:
        return parse_period(raw.strip())
    except ValueError:
        raise BadInput(name, raw, view.t("goal.expected.period")) from None


def _metric(view: View, raw: str) -> FieldDef:
    found = next((f for f in _metrics(view) if f.key == raw), None)
    if found is None:
        raise BadInput("metric", raw, ", ".join(f.key for f in _metrics(view)))
    return found


def _refusal(view: View, err: GoalRefused, fdef: FieldDef | None, typed: dict[str, str] | None = None) -> str:
    """The service's refusal in the console's words, naming the value as it was typed."""
    value = (typed or {}).get(err.field) or err.value
    what = err.details.get("what") or err.field or "target"
    return view.t(f"goal.err.{err.code}", value=value, what=view.t(f"goal.{what}") if view.t.has(f"goal.{what}")
                  else what, example=view.t(f"goal.example.{fdef.type if fdef else 'money'}"),
                  choices=err.details.get("choices", ""))


def _amounts(view: View, fdef: FieldDef, values: dict[str, str], prefix: str = "") -> dict[str, Decimal | None]:
    """The target, floor and stretch as typed (`50万`, `500,000`, `12`); GoalRefused for one that is not a number."""
    out: dict[str, Decimal | None] = {}
    for what in ("target", "floor", "stretch"):
        text = values.get(prefix + what, "").strip()
        if not text:
            out[what] = None
            continue
        try:
            out[what] = parse_amount(text, count=fdef.type is FieldType.COUNT)
        except ValueError:
            raise GoalRefused("bad_amount", field=what, value=text, what=what, type=str(fdef.type)) from None
    if out["target"] is None:
        raise GoalRefused("bad_amount", field="target", value="", what="target", type=str(fdef.type))
    return out


def _in_scope(view: View) -> Any:
    """A condition on Goal: its unit is one the person may see."""
    scope = view.scope
    if scope.region_ids is None:
        return Goal.id.is_not(None)
    regions = select(Region.code).where(scope.regions(Region.id))
    teams = select(Team.code).where(scope.regions(Team.region_id))
    people = select(Person.code).join(Team, Team.id == Person.team_id).where(scope.regions(Team.region_id))
    return or_((Goal.scope == GoalScope.REGION.value) & Goal.code.in_(regions),
               (Goal.scope == GoalScope.TEAM.value) & Goal.code.in_(teams),
               (Goal.scope == GoalScope.USER.value) & Goal.code.in_(people))


def _goals_table(view: View, period: Period, metrics: list[FieldDef]) -> Table:
    t = view.t
    labels = {f.key: f for f in metrics}
    names: dict[tuple[str, str], str] = {}
    goals = list(view.session.scalars(select(Goal).where(Goal.period == str(period), _in_scope(view))
                                      .order_by(Goal.scope, Goal.code, Goal.metric)))
    for scope, model in ((GoalScope.REGION, Region), (GoalScope.TEAM, Team), (GoalScope.USER, Person)):
        codes = [g.code for g in goals if g.scope == scope.value]
        if codes:
            for code, name in view.session.execute(select(model.code, model.name).where(model.code.in_(codes))):
                names[(scope.value, code)] = name
    order = {GoalScope.REGION.value: 0, GoalScope.TEAM.value: 1, GoalScope.USER.value: 2}
    rows = []
    for g in sorted(goals, key=lambda g: (order.get(g.scope, 3), g.code, g.metric)):
        fdef = labels.get(g.metric)
        splittable = g.scope != GoalScope.USER.value or period.kind.value in ("year", "quarter")
        rows.append({"kind": t(f"kind.{g.scope}"), "name": names.get((g.scope, g.code), g.code), "code": g.code,
                     "scope": g.scope, "metric_key": g.metric, "metric": fdef.label(view.locale) if fdef else g.metric,
                     "floor": g.floor, "target": g.target, "stretch": g.stretch,
                     "_money": bool(fdef and fdef.type is FieldType.MONEY),
                     "split": t("goal.split") if splittable else None})
    return Table("main", t("goal.table", period=str(period)), [
        Column("name", t("col.unit"), link=lambda r: view.url(
            "/console/goals", period=str(period), unit=f"{r['scope']}:{r['code']}", metric=r["metric_key"]) + "#set"),
        Column("metric", t("col.metric")), Column("target", t("col.target"), "number"),
        Column("split", t("goal.col.split"), link=lambda r: view.url(
            "/console/goals/split", scope=r["scope"], code=r["code"], period=str(period), metric=r["metric_key"])
            if r["split"] else None),
        Column("floor", t("col.floor"), "number"), Column("stretch", t("col.stretch"), "number"),
        Column("kind", t("col.kind"))],
        rows, empty=t("goal.none"))


def _page(view: View, *, values: dict[str, str], error: str = "", status_vars: dict[str, Any] | None = None) -> Response:
    metrics = _metrics(view)
    period = _period(view, values.get("period", "") or view.param("period"))
    units = _units(view)
    many = len(units) > MAX_OPTIONS
    done = view.param("done")
    return view.respond("goals.html", tables=[_goals_table(view, period, metrics)], filters={"period": str(period)},
                        values=values, error=error, metrics=metrics, units=[] if many else units, many=many,
                        period=str(period), done=done if done in ("set", "applied") else "",
                        done_vars=status_vars or {k: view.param(k)[:60] for k in ("name", "count")})


@page("/console/goals", roles=MANAGERS, methods=("GET", "POST"))
def goals(view: View) -> Response:
    """GET: the goals of a period in the person's scope, and the form to set one. POST: set (or change) a goal."""
    if view.request.method == "GET":
        values = {k: view.param(k) for k in ("unit", "metric", "period")}
        return _page(view, values=values)
    form = dict(view.form)
    target = _unit_of(view, form)
    period = _period(view, form.get("period", ""))
    fdef = _metric(view, form.get("metric", ""))
    try:
        amounts = _amounts(view, fdef, form)
        done = set_goal_for(session=view.session, person=view.person, scope=target.scope, code=target.code,
                            period=period, metric=fdef.key, target=amounts["target"] or Decimal(0),
                            floor=amounts["floor"], stretch=amounts["stretch"], now=view.now,
                            source=audit.Source.CONSOLE)
    except GoalRefused as err:
        if err.forbidden:
            raise NotFound() from None
        return _page(view, values=form, error=_refusal(view, err, fdef, form))
    return view.redirect(view.url("/console/goals", period=str(done.period), done="set",
                                  name=f"{target.name} {done.period} {fdef.label(view.locale)}"))


# ---------------------------------------------------------------------------
# splitting


def _proposal(view: View, target: GoalTarget, period: Period, fdef: FieldDef, by: str) -> list[dict[str, Any]]:
    """The split `/goal split` proposes, computed without keeping it (a GET changes nothing)."""
    savepoint = view.session.begin_nested()
    try:
        proposal, _ = propose_split_for(session=view.session, person=view.person, scope=target.scope,
                                        code=target.code, period=period, metric=fdef.key, by=by, now=view.now)
        sections: list[dict[str, Any]] = [dict(s) for s in proposal.payload["sections"]]
    except GoalRefused as err:
        savepoint.rollback()
        if err.forbidden:
            raise NotFound() from None
        raise BadInput("code", target.code, _refusal(view, err, fdef)) from None
    savepoint.rollback()
    return sections


def _split_args(view: View, values: dict[str, str]) -> tuple[GoalTarget, Period, FieldDef, Goal, str]:
    target = _target(view, values.get("scope", ""), values.get("code", ""))
    period = _period(view, values.get("period", ""))
    fdef = _metric(view, values.get("metric", ""))
    by = values.get("by", "") or "history"
    if by not in BY:
        raise BadInput("by", by, ", ".join(BY))
    goal = find_goal(session=view.session, scope=target.scope, code=target.code, period=period, metric=fdef.key)
    if goal is None:
        raise BadInput("metric", fdef.key, view.t("goal.expected.goal", name=target.name, period=str(period)))
    return target, period, fdef, goal, by


def _render_split(view: View, target: GoalTarget, period: Period, fdef: FieldDef, goal: Goal, by: str,
                  sections: list[dict[str, Any]], *, errors: dict[str, str] | None = None, error: str = "") -> Response:
    for section in sections:
        total = Decimal(0)
        for row in section["rows"]:
            try:
                total += Decimal(str(row["target"]))
            except ArithmeticError:  # what was typed in a box that is refused: counted as nothing
                pass
        section["total"] = total
        section["diff"] = total - goal.target
    return view.render("goal_split.html", target=target, period=str(period), fdef=fdef, goal=goal, by=by, bys=BY,
                       sections=sections, errors=errors or {}, error=error, money=fdef.type is FieldType.MONEY)


@page("/console/goals/split", roles=MANAGERS, methods=("GET", "POST"))
def goal_split(view: View) -> Response:
    """GET: the proposed split of a goal as a table to adjust. POST: recount, or apply the (adjusted) rows."""
    if view.request.method == "GET":
        values = {k: view.param(k) for k in ("scope", "code", "period", "metric", "by")}
        if not values["scope"] and not values["code"]:  # no goal named: choose one from the list
            return view.redirect("/console/goals")
        target, period, fdef, goal, by = _split_args(view, values)
        return _render_split(view, target, period, fdef, goal, by, _proposal(view, target, period, fdef, by))
    form = dict(view.form)
    target, period, fdef, goal, by = _split_args(view, form)
    # the proposal's rows (its units and periods) with the amounts typed in the table
    sections: list[dict[str, Any]] = []
    adjusted: dict[tuple[str, str, str], dict[str, Decimal | None]] = {}
    errors: dict[str, str] = {}
    for index, section in enumerate(_proposal(view, target, period, fdef, by)):
        rows = []
        for n, row in enumerate(section["rows"]):
            prefix = f"s{index}-{n}-"
            shown = dict(row)
            for what in ("target", "floor", "stretch"):
                shown[what] = form.get(prefix + what, "")
            try:
                amounts = _amounts(view, fdef, form, prefix)
                adjusted[(row["scope"], row["code"], row["period"])] = amounts
                shown.update({k: (str(v) if v is not None else None) for k, v in amounts.items()})
            except GoalRefused as err:
                errors[prefix.rstrip("-")] = _refusal(view, err, fdef, {w: form.get(prefix + w, "")
                                                                         for w in ("target", "floor", "stretch")})
            rows.append(shown)
        sections.append({**section, "rows": rows})
    if errors or form.get("action") != "apply":
        return _render_split(view, target, period, fdef, goal, by, sections, errors=errors,
                             error=view.t("goal.split_errors", count=len(errors)) if errors else "")
    savepoint = view.session.begin_nested()
    try:
        proposal, _ = propose_split_for(session=view.session, person=view.person, scope=target.scope,
                                        code=target.code, period=period, metric=fdef.key, by=by, now=view.now)
        _, count = apply_split_for(session=view.session, person=view.person, proposal_id=proposal.id, now=view.now,
                                   source=audit.Source.CONSOLE, adjusted=adjusted)
        savepoint.commit()
    except GoalRefused as err:
        savepoint.rollback()  # nothing of a refused split stays, not even its proposal
        if err.forbidden:
            raise NotFound() from None
        return _render_split(view, target, period, fdef, goal, by, sections, error=_refusal(view, err, fdef))
    return view.redirect(view.url("/console/goals", period=str(period), done="applied", count=count,
                                  name=f"{target.name} {period} {fdef.label(view.locale)}"))


__all__ = ["goal_split", "goals"]
