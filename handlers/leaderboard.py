"""/leaderboard: my team ranked by a metric today, this week or this month, with who has not reported."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Context
from bot.core.errors import UserFacingError
from bot.core.router import Router
from bot.core.types import Outbound
from handlers.parsing import ArgError, label_index, parse_leaderboard_args, split_command
from services.fields import FieldDef, FieldType, normalize_label
from services.goals import team_total
from services.leaderboard import team_ranking
from services.report_fields import field_by_key, load_fields


def _choices(fields: tuple[FieldDef, ...]) -> str:
    return ", ".join(f.key for f in fields if f.type is not FieldType.TEXT)


def show_leaderboard(ctx: Context) -> list[Outbound]:
    """Rank my team by a metric (a field key or label; default the team's main metric)."""
    assert ctx.person is not None and ctx.inbound is not None
    team = ctx.team
    if team is None:
        raise UserFacingError("leaderboard_error", code="no_team", value="")
    parsed = split_command(ctx.inbound.text)
    args = parsed[1] if parsed is not None else ctx.rest.split()
    try:
        period, metric_text = parse_leaderboard_args(args)
    except ArgError as err:
        raise UserFacingError("leaderboard_error", code="usage", value=err.value or "") from None
    fields = load_fields(session=ctx.session)
    if metric_text is None:
        fdef = field_by_key(fields, team.main_metric) or field_by_key(fields, "signed_amount")
    else:
        fdef = label_index(fields).by_label.get(normalize_label(metric_text))
    if fdef is None:
        raise UserFacingError("leaderboard_error", code="unknown_metric", value=metric_text or team.main_metric,
                              choices=_choices(fields))
    if fdef.type is FieldType.TEXT:
        raise UserFacingError("leaderboard_error", code="text_metric", value=metric_text or fdef.key,
                              choices=_choices(fields))
    today = ctx.today()
    start = {"today": today, "week": today - timedelta(days=today.weekday()),
             "month": today.replace(day=1)}[period]
    standings = team_ranking(session=ctx.session, team=team, metric=fdef.key, start=start, end=today)
    total = team_total(session=ctx.session, team=team, metric=fdef.key, start=start, end=today)
    return [ctx.reply(
        "leaderboard", team=team.name, period=period, start=start.isoformat(), end=today.isoformat(),
        metric=fdef.key, label=fdef.label(ctx.locale), type=str(fdef.type), total=total,
        standings=[s.as_dict() for s in standings], missing=[s.name for s in standings if not s.reported],
    )]


def register(router: Router) -> None:
    router.command("leaderboard", ["leaderboard", "rank", "ranking", "排行", "排行榜"], show_leaderboard)
