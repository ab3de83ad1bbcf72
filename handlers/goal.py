"""/goal: show progress, set goals (managers for their regions, admins for all), split and apply."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.core.context import Context
from bot.core.errors import Forbidden, UserFacingError
from bot.core.router import Router
from bot.core.types import Button, Outbound, ToPerson
from handlers.parsing import ChineseNumeralError, label_index, parse_count, parse_money, split_command
from handlers.report import metric_info, progress_items
from models import Goal, GoalProposal, GoalScope, ManagedRegion, Region, Role
from services import audit
from services.calendar import load_calendar
from services.fields import FieldDef, FieldType, normalize_label
from services.goals import (
    GoalTarget,
    Period,
    apply_proposal,
    can_set_goal,
    find_goal,
    parse_period,
    propose_split,
    region_progress,
    resolve_target,
    set_goal,
    team_progress,
)
from services.report_fields import load_fields

_SCOPES = {
    "user": GoalScope.USER, "person": GoalScope.USER, "rep": GoalScope.USER, "个人": GoalScope.USER,
    "人员": GoalScope.USER, "用户": GoalScope.USER, "销售": GoalScope.USER,
    "team": GoalScope.TEAM, "团队": GoalScope.TEAM, "小组": GoalScope.TEAM, "组": GoalScope.TEAM,
    "region": GoalScope.REGION, "区域": GoalScope.REGION, "大区": GoalScope.REGION, "地区": GoalScope.REGION,
}  # fmt: skip
_SET_WORDS = {"set", "设定", "设置", "设"}
_SPLIT_WORDS = {"split", "分解", "拆分"}
_OPTIONS = {
    "floor": "floor", "保底": "floor", "min": "floor",
    "stretch": "stretch", "冲刺": "stretch", "挑战": "stretch",
    "by": "by", "按": "by", "方式": "by",
}  # fmt: skip
_BY = {"history": "history", "历史": "history", "hist": "history", "even": "even", "平均": "even",
       "均分": "even", "evenly": "even"}


def _fail(code: str, **variables: Any) -> UserFacingError:
    variables.setdefault("value", "")
    return UserFacingError("goal_error", code=code, **variables)


def _metric(fields: tuple[FieldDef, ...], text: str) -> FieldDef:
    """Find a report field by key or any label; text fields cannot have goals."""
    fdef = label_index(fields).by_label.get(normalize_label(text))
    if fdef is None:
        raise _fail("unknown_metric", value=text, choices=", ".join(f.key for f in fields
                                                                   if f.type is not FieldType.TEXT))
    if fdef.type is FieldType.TEXT:
        raise _fail("text_metric", value=text, choices=", ".join(f.key for f in fields
                                                                 if f.type is not FieldType.TEXT))
    return fdef


def _amount(fdef: FieldDef, text: str, what: str) -> Decimal:
    try:
        if fdef.type is FieldType.COUNT:
            try:
                return Decimal(parse_count(text))
            except ChineseNumeralError:
                raise
            except ValueError:
                value = parse_money(text)
                if value != value.to_integral_value():
                    raise ValueError(text) from None
                return value
        value = parse_money(text)
    except ValueError:
        raise _fail("bad_amount", value=text, what=what, type=str(fdef.type)) from None
    if value <= 0 and what == "target":
        raise _fail("bad_amount", value=text, what=what, type=str(fdef.type))
    return value


def _split_options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    for token in args:
        for sep in ("=", "＝", ":", "："):
            if sep in token:
                key, _, value = token.partition(sep)
                name = _OPTIONS.get(normalize_label(key))
                if name is None:
                    raise _fail("bad_option", value=token)
                options[name] = value.strip()
                break
        else:
            positional.append(token)
    return positional, options


def _target(ctx: Context, scope_text: str, code: str) -> GoalTarget:
    scope = _SCOPES.get(normalize_label(scope_text))
    if scope is None:
        raise _fail("bad_scope", value=scope_text)
    target = resolve_target(session=ctx.session, scope=scope, code=code)
    if target is None:
        raise _fail("unknown_code", value=code, scope=str(scope))
    assert ctx.person is not None
    if not can_set_goal(session=ctx.session, person=ctx.person, target=target):
        raise Forbidden("not_manager_of", target=f"{target.name} ({target.code})")
    return target


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except ValueError:
        raise _fail("bad_period", value=text) from None


def _args(ctx: Context) -> list[str]:
    assert ctx.inbound is not None
    parsed = split_command(ctx.inbound.text)
    return parsed[1] if parsed is not None else ctx.rest.split()


def set_goal_command(ctx: Context, args: list[str]) -> list[Outbound]:
    """`/goal set SCOPE CODE PERIOD METRIC TARGET [floor=F] [stretch=S]`."""
    positional, options = _split_options(args)
    if len(positional) != 5 or "by" in options:
        raise _fail("usage_set", value=" ".join(args))
    scope_text, code, period_text, metric_text, target_text = positional
    target = _target(ctx, scope_text, code)
    period = _period(period_text)
    fields = load_fields(session=ctx.session)
    fdef = _metric(fields, metric_text)
    amount = _amount(fdef, target_text, "target")
    floor = _amount(fdef, options["floor"], "floor") if options.get("floor") else None
    stretch = _amount(fdef, options["stretch"], "stretch") if options.get("stretch") else None
    if floor is not None and floor > amount:
        raise _fail("floor_above_target", value=options["floor"])
    if stretch is not None and stretch < amount:
        raise _fail("stretch_below_target", value=options["stretch"])
    old = find_goal(session=ctx.session, scope=target.scope, code=target.code, period=period, metric=fdef.key)
    before = _state(old)
    goal, created = set_goal(session=ctx.session, scope=target.scope, code=target.code, period=period,
                             metric=fdef.key, target=amount, floor=floor, stretch=stretch, now=ctx.now())
    audit.record_chat(ctx, audit.Action.GOAL_SET, target=f"{target.scope} {target.code} {period} {fdef.key}",
                      before=before, after=_state(goal))
    return [ctx.reply("goal_set", name=target.name, scope=str(target.scope), code=target.code,
                      period=str(period), metric=fdef.key, label=fdef.label(ctx.locale), type=str(fdef.type),
                      target=amount, floor=floor, stretch=stretch, created=created)]


def _state(goal: Goal | None) -> dict[str, Any] | None:
    """A goal's amounts for the audit log (None: there was no goal)."""
    if goal is None:
        return None
    return {"target": goal.target, "floor": goal.floor, "stretch": goal.stretch}


def _split_vars(ctx: Context, payload: dict[str, Any], fields: tuple[FieldDef, ...]) -> dict[str, Any]:
    label, ftype = metric_info(fields, payload["metric"], ctx.locale)
    return {"name": payload["name"], "scope": payload["scope"], "code": payload["code"],
            "period": payload["period"], "metric": payload["metric"], "label": label, "type": ftype,
            "by": payload["by"], "target": payload["target"], "sections": payload["sections"]}


def split_goal_command(ctx: Context, args: list[str]) -> list[Outbound]:
    """`/goal split SCOPE CODE PERIOD METRIC [by=history|even]`: propose, store, offer goal_apply."""
    assert ctx.person is not None
    positional, options = _split_options(args)
    if len(positional) != 4 or "floor" in options or "stretch" in options:
        raise _fail("usage_split", value=" ".join(args))
    scope_text, code, period_text, metric_text = positional
    by = _BY.get(normalize_label(options.get("by", "history")))
    if by is None:
        raise _fail("bad_by", value=options["by"])
    target = _target(ctx, scope_text, code)
    period = _period(period_text)
    fields = load_fields(session=ctx.session)
    fdef = _metric(fields, metric_text)
    goal = find_goal(session=ctx.session, scope=target.scope, code=target.code, period=period, metric=fdef.key)
    if goal is None:
        raise _fail("no_goal", value=f"{target.code} {period} {fdef.key}")
    proposal, sections = propose_split(session=ctx.session, asker=ctx.person, goal=goal, target=target, by=by,
                                       now=ctx.now())
    if not sections:
        raise _fail("nothing_to_split", value=f"{target.code} {period}")
    variables = _split_vars(ctx, proposal.payload, fields)
    button = Button(ctx.render("goal_split", part="button", **variables), "goal_apply", str(proposal.id),
                    style="primary")
    return [ctx.reply("goal_split", part="text", buttons=(button,), key=f"goal_split:{proposal.id}",
                      **variables)]


def apply_split(ctx: Context) -> list[Outbound]:
    """The goal_apply button: only the asker, only while still allowed; writes the child goals."""
    assert ctx.person is not None and ctx.inbound is not None
    try:
        proposal_id = int(ctx.rest)
    except ValueError:
        raise _fail("no_proposal", value=ctx.rest) from None
    if not 0 < proposal_id < 2**31:  # a forged button value must not reach the database as an overflow
        raise _fail("no_proposal", value=ctx.rest[:20])
    proposal = ctx.session.get(GoalProposal, proposal_id)
    if proposal is None:
        raise _fail("no_proposal", value=ctx.rest)
    if proposal.asker_id != ctx.person.id:
        raise Forbidden("not_asker")
    if proposal.applied_at is not None:
        raise _fail("already_applied", value=str(proposal.id))
    payload = proposal.payload
    target = resolve_target(session=ctx.session, scope=GoalScope(payload["scope"]), code=payload["code"])
    if target is None or not can_set_goal(session=ctx.session, person=ctx.person, target=target):
        raise Forbidden("not_manager_of", target=f"{payload['name']} ({payload['code']})")
    children = [(GoalScope(row["scope"]), row["code"], row["period"])
                for section in payload.get("sections", []) for row in section["rows"]]
    before = {f"{scope} {code} {period}": _state(find_goal(session=ctx.session, scope=scope, code=code,
                                                            period=period, metric=payload["metric"]))
              for scope, code, period in children}
    count = apply_proposal(session=ctx.session, proposal=proposal, now=ctx.now())
    after = {f"{scope} {code} {period}": _state(find_goal(session=ctx.session, scope=scope, code=code,
                                                           period=period, metric=payload["metric"]))
             for scope, code, period in children}
    audit.record_chat(ctx, audit.Action.GOAL_SPLIT_APPLY,
                      target=f"{payload['scope']} {payload['code']} {payload['period']} {payload['metric']}",
                      before={"proposal": proposal.id, "by": payload["by"], "goals": before},
                      after={"proposal": proposal.id, "by": payload["by"], "goals": after})
    fields = load_fields(session=ctx.session)
    text = ctx.render("goal_applied", count=count, applied_by=ctx.person.name,
                      at=ctx.now().astimezone(ctx.zone()).strftime("%Y-%m-%d %H:%M"),
                      **_split_vars(ctx, payload, fields))
    return [Outbound(to=ToPerson(ctx.person.id, ctx.inbound.platform), text=text,
                     key=f"goal_applied:{proposal.id}", update_of=f"goal_split:{proposal.id}")]


def _labelled(ctx: Context, fields: tuple[FieldDef, ...], items: list[Any]) -> list[dict[str, Any]]:
    out = []
    for p in items:
        label, ftype = metric_info(fields, p.metric, ctx.locale)
        out.append({**p.as_dict(), "label": label, "type": ftype})
    return out


def show_goals(ctx: Context) -> list[Outbound]:
    """My month's goals; a manager also sees the team and the regions managed."""
    assert ctx.person is not None
    fields = load_fields(session=ctx.session)
    today = ctx.today()
    calendar = load_calendar(ctx.session, ctx.settings.org.holidays)
    sections = [{"kind": "mine", "name": ctx.person.name, "progress": progress_items(ctx, fields, today)}]
    if ctx.person.role in (Role.MANAGER, Role.ADMIN):
        team = ctx.team
        if team is not None:
            sections.append({"kind": "team", "name": team.name, "progress": _labelled(
                ctx, fields, team_progress(session=ctx.session, team=team, day=today, calendar=calendar))})
        if ctx.person.role == Role.ADMIN:
            regions = list(ctx.session.scalars(select(Region).where(Region.parent_id.is_(None))
                                               .order_by(Region.code)))
        else:
            regions = list(ctx.session.scalars(select(Region).join(ManagedRegion, ManagedRegion.region_id == Region.id)
                                               .where(ManagedRegion.person_id == ctx.person.id)
                                               .order_by(Region.code)))
        for region in regions:
            sections.append({"kind": "region", "name": region.name, "progress": _labelled(
                ctx, fields, region_progress(session=ctx.session, region=region, day=today, calendar=calendar))})
    return [ctx.reply("goal_show", name=ctx.person.name, month=f"{today:%Y-%m}", sections=sections)]


def goal_command(ctx: Context) -> list[Outbound]:
    """Route `/goal`, `/goal set ...`, `/goal split ...`."""
    args = _args(ctx)
    if not args:
        return show_goals(ctx)
    word = normalize_label(args[0])
    if word in _SET_WORDS:
        return set_goal_command(ctx, args[1:])
    if word in _SPLIT_WORDS:
        return split_goal_command(ctx, args[1:])
    raise _fail("usage", value=args[0])


def register(router: Router) -> None:
    router.command("goal", ["goal", "goals", "目标"], goal_command)
    router.action("goal_apply", apply_split)
