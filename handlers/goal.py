"""/goal: show progress, set goals (managers for their regions, admins for all), split and apply."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.core.amounts import parse_amount
from bot.core.context import Context
from bot.core.errors import Forbidden, UserFacingError
from bot.core.router import Router
from bot.core.types import Button, Outbound, ToPerson
from handlers.parsing import split_command
from handlers.report import metric_info, progress_items
from models import ManagedRegion, Region, Role
from services import audit
from services.calendar import load_calendar
from services.fields import FieldDef, FieldType, normalize_label
from services.goals import (
    GoalRefused,
    apply_split_for,
    goal_metric,
    goal_period,
    goal_target,
    propose_split_for,
    region_progress,
    set_goal_for,
    team_progress,
)
from services.report_fields import load_fields

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


def _amount(fdef: FieldDef, text: str, what: str) -> Decimal:
    """Read an amount as typed in chat (`50万`, `500k`, `1,200`); the rules for it are the service's."""
    try:
        return parse_amount(text, count=fdef.type is FieldType.COUNT)
    except ValueError:
        raise _fail("bad_amount", value=text, what=what, type=str(fdef.type)) from None


@contextmanager
def _refusals(typed: dict[str, str | None] | None = None) -> Iterator[None]:
    """Turn the goal service's refusals into replies, naming the value as it was typed."""
    try:
        yield
    except GoalRefused as err:
        if err.forbidden:
            raise Forbidden(err.code, **err.details) from None
        raise _fail(err.code, value=(typed or {}).get(err.field) or err.value, **err.details) from None


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


def _args(ctx: Context) -> list[str]:
    assert ctx.inbound is not None
    parsed = split_command(ctx.inbound.text)
    return parsed[1] if parsed is not None else ctx.rest.split()


def set_goal_command(ctx: Context, args: list[str]) -> list[Outbound]:
    """`/goal set SCOPE CODE PERIOD METRIC TARGET [floor=F] [stretch=S]`: the rules are services.goals'."""
    assert ctx.person is not None and ctx.inbound is not None
    positional, options = _split_options(args)
    if len(positional) != 5 or "by" in options:
        raise _fail("usage_set", value=" ".join(args))
    scope_text, code, period_text, metric_text, target_text = positional
    typed = {"target": target_text, "floor": options.get("floor") or None, "stretch": options.get("stretch") or None}
    with _refusals(typed):
        goal_target(session=ctx.session, person=ctx.person, scope=scope_text, code=code)
        goal_period(period_text)
        fdef = goal_metric(session=ctx.session, metric=metric_text)
        amounts = {what: _amount(fdef, text, what) for what, text in typed.items() if text}
        done = set_goal_for(session=ctx.session, person=ctx.person, scope=scope_text, code=code, period=period_text,
                            metric=metric_text, **amounts, now=ctx.now(), source=audit.source_of(ctx.inbound.platform))
    goal = done.goal
    return [ctx.reply("goal_set", name=done.target.name, scope=str(done.target.scope), code=done.target.code,
                      period=str(done.period), metric=fdef.key, label=fdef.label(ctx.locale), type=str(fdef.type),
                      target=goal.target, floor=goal.floor, stretch=goal.stretch, created=done.created)]


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
    with _refusals():
        proposal, _ = propose_split_for(session=ctx.session, person=ctx.person, scope=scope_text, code=code,
                                        period=period_text, metric=metric_text, by=by, now=ctx.now())
    variables = _split_vars(ctx, proposal.payload, load_fields(session=ctx.session))
    button = Button(ctx.render("goal_split", part="button", **variables), "goal_apply", str(proposal.id),
                    style="primary")
    return [ctx.reply("goal_split", part="text", buttons=(button,), key=f"goal_split:{proposal.id}",
                      **variables)]


def apply_split(ctx: Context) -> list[Outbound]:
    """The goal_apply button: only the asker, only while still allowed; writes the child goals."""
    assert ctx.person is not None and ctx.inbound is not None
    with _refusals():
        proposal, count = apply_split_for(session=ctx.session, person=ctx.person, proposal_id=ctx.rest, now=ctx.now(),
                                          source=audit.source_of(ctx.inbound.platform))
    text = ctx.render("goal_applied", count=count, applied_by=ctx.person.name,
                      at=ctx.now().astimezone(ctx.zone()).strftime("%Y-%m-%d %H:%M"),
                      **_split_vars(ctx, proposal.payload, load_fields(session=ctx.session)))
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
