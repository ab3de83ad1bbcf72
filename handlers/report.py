"""Daily reports: typed messages, /report (a Slack modal or the blank template), the modal's submission."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Form, FormField, HandlerResult, Inbound, InboundKind, Outbound, ToTarget
from handlers.parsing import (
    ChineseNumeralError,
    ParsedReport,
    Problem,
    ProblemCode,
    ReportParseError,
    is_report,
    parse_count,
    parse_money,
    parse_report,
)
from models import DailyReport, UnreadReport
from services.calendar import load_calendar
from services.fields import FieldDef, FieldType
from services.goals import person_progress
from services.report_fields import field_by_key, get_value, load_fields
from services.reports import report_template, submit_report

FORM_ID = "report_form"


def _is_zh(locale: str) -> bool:
    return locale.casefold().startswith("zh")


def metric_info(fields: tuple[FieldDef, ...], key: str, locale: str) -> tuple[str, str]:
    """Return (label, type) of a metric for templates; unknown keys show as themselves."""
    fdef = field_by_key(fields, key)
    return (fdef.label(locale), str(fdef.type)) if fdef is not None else (key, str(FieldType.COUNT))


def progress_items(ctx: Context, fields: tuple[FieldDef, ...], day: date) -> list[dict[str, Any]]:
    """Return the person's month progress as plain data with metric labels."""
    assert ctx.person is not None
    calendar = load_calendar(ctx.session, ctx.settings.org.holidays)
    items = []
    for p in person_progress(session=ctx.session, person=ctx.person, day=day, calendar=calendar):
        label, ftype = metric_info(fields, p.metric, ctx.locale)
        items.append({**p.as_dict(), "label": label, "type": ftype})
    return items


def example_report(fields: tuple[FieldDef, ...], locale: str, day: date) -> str:
    """Return a filled-in example report for error replies."""
    zh = _is_zh(locale)
    samples = {FieldType.COUNT: "3", FieldType.MONEY: "12.5万" if zh else "125,000",
               FieldType.TEXT: "拜访远航集团" if zh else "visit the key account"}
    lines = [f"{'日报' if zh else 'Daily report'} {day.isoformat()}"]
    for fdef in fields[:3] + tuple(f for f in fields[3:] if f.type is FieldType.MONEY)[:1]:
        lines.append(f"{fdef.label(locale)}{'：' if zh else ': '}{samples[fdef.type]}")
    return "\n".join(lines)


def _problem_dict(p: Problem, fields: tuple[FieldDef, ...], locale: str) -> dict[str, Any]:
    data = asdict(p)
    data["code"] = str(p.code)
    fdef = field_by_key(fields, p.field) if p.field else None
    data["field_label"] = fdef.label(locale) if fdef is not None else None
    return data


def report_reply(ctx: Context, row: DailyReport, fields: tuple[FieldDef, ...], *, replaced: bool) -> Outbound:
    """The answer to a stored report: what was understood, the month against goal, key actions."""
    assert ctx.person is not None
    locale = ctx.locale
    understood = [{"key": f.key, "label": f.label(locale), "type": str(f.type), "value": get_value(row, f)}
                  for f in fields]
    today = ctx.today()
    return ctx.reply(
        "report_reply", name=ctx.person.name, day=row.day.isoformat(), is_today=row.day == today,
        replaced=replaced, fields=understood, progress=progress_items(ctx, fields, today),
        key_actions=list(row.key_actions or []),
    )


def _store_unread(ctx: Context, problems: list[dict[str, Any]]) -> None:
    assert ctx.person is not None and ctx.inbound is not None
    ctx.session.add(UnreadReport(person_id=ctx.person.id, raw_text=ctx.inbound.text, problems=problems,
                                 received_at=ctx.now()))
    ctx.session.flush()


def receive_report(ctx: Context) -> list[Outbound]:
    """Read a typed daily report; store it, or keep the raw text and say what is wrong."""
    assert ctx.person is not None and ctx.inbound is not None
    fields = load_fields(session=ctx.session)
    today = ctx.today()
    try:
        parsed = parse_report(ctx.inbound.text, fields=fields, today=today,
                              max_age_days=ctx.settings.reports.max_age_days)
    except ReportParseError as err:
        problems = [_problem_dict(p, fields, ctx.locale) for p in err.problems]
        _store_unread(ctx, problems)
        return [ctx.reply("report_error", problems=problems, example=example_report(fields, ctx.locale, today),
                          max_age_days=ctx.settings.reports.max_age_days, inline=False)]
    row, replaced = submit_report(session=ctx.session, person=ctx.person, parsed=parsed,
                                  raw_text=ctx.inbound.text, now=ctx.now(), fields=fields)
    return [report_reply(ctx, row, fields, replaced=replaced)]


def open_report(ctx: Context) -> list[Outbound]:
    """/report: a modal on Slack, the blank report text elsewhere."""
    assert ctx.person is not None and ctx.inbound is not None
    fields = load_fields(session=ctx.session)
    locale = ctx.locale
    today = ctx.today()
    blank = report_template(fields=fields, locale=locale)
    inbound = ctx.inbound
    if inbound.platform == "slack" and inbound.trigger_id:
        form_fields = tuple(
            FormField(key=f.key, label=f.label(locale), multiline=f.type is FieldType.TEXT, optional=True,
                      hint=ctx.render("report_form", part="hint", type=str(f.type), template=blank,
                                      day=today.isoformat()))
            for f in fields
        )
        form = Form(
            form_id=FORM_ID,
            title=ctx.render("report_form", part="title", type="", template=blank, day=today.isoformat()),
            submit=ctx.render("report_form", part="submit", type="", template=blank, day=today.isoformat()),
            fields=form_fields, meta=today.isoformat(),
        )
        return [Outbound(to=ToTarget("slack", "trigger", inbound.trigger_id), form=form)]
    return [ctx.reply("report_form", part="text", type="", template=blank, day=today.isoformat())]


def _form_day(ctx: Context, meta: str) -> tuple[date, Problem | None]:
    today = ctx.today()
    try:
        day = date.fromisoformat(meta.strip()) if meta.strip() else today
    except ValueError:
        return today, None
    if day > today:
        return day, Problem(ProblemCode.FUTURE_DATE, None, value=meta, example=today.isoformat())
    if today - day > timedelta(days=ctx.settings.reports.max_age_days):
        return day, Problem(ProblemCode.TOO_OLD, None, value=meta, example=today.isoformat())
    return day, None


def _form_value(fdef: FieldDef, text: str, locale: str) -> tuple[Any, Problem | None]:
    value = text.strip()
    if not value:
        return None, None
    if fdef.type is FieldType.TEXT:
        return value, None
    label = fdef.label(locale)
    if fdef.type is FieldType.MONEY:
        try:
            return parse_money(value), None
        except ValueError:
            example = "12.5万" if _is_zh(locale) else "125,000"
            return None, Problem(ProblemCode.BAD_MONEY, None, fdef.key, label, value, example)
    try:
        return parse_count(value), None
    except ChineseNumeralError as exc:
        hint = None if exc.value is None else str(exc.value)
        return None, Problem(ProblemCode.CHINESE_NUMERAL, None, fdef.key, label, value, "3", hint)
    except ValueError:
        return None, Problem(ProblemCode.BAD_COUNT, None, fdef.key, label, value, "3")


def submit_form(ctx: Context) -> HandlerResult:
    """The report modal was submitted: check each value, then store it like a typed report."""
    assert ctx.person is not None and ctx.inbound is not None
    fields = load_fields(session=ctx.session)
    locale = ctx.locale
    inbound = ctx.inbound
    day, day_problem = _form_day(ctx, inbound.form_meta)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fdef in fields:
        value, problem = _form_value(fdef, inbound.form_values.get(fdef.key) or "", locale)
        if problem is not None:
            errors[fdef.key] = _inline_error(ctx, problem, fields)
        values[fdef.key] = value
    if day_problem is not None and fields:
        errors.setdefault(fields[0].key, _inline_error(ctx, day_problem, fields))
    if errors:
        return HandlerResult(form_errors=errors)
    zh = _is_zh(locale)
    raw = [f"{'日报' if zh else 'Daily report'} {day.isoformat()}"]
    for fdef in fields:
        text = (inbound.form_values.get(fdef.key) or "").strip()
        if text:
            raw.append(f"{fdef.label(locale)}{'：' if zh else ': '}{text}")
    parsed = ParsedReport(day, values)
    row, replaced = submit_report(session=ctx.session, person=ctx.person, parsed=parsed, raw_text="\n".join(raw),
                                  now=ctx.now(), fields=fields)
    return HandlerResult([report_reply(ctx, row, fields, replaced=replaced)])


def _inline_error(ctx: Context, problem: Problem, fields: tuple[FieldDef, ...]) -> str:
    return ctx.render("report_error", problems=[_problem_dict(problem, fields, ctx.locale)], example="",
                      max_age_days=ctx.settings.reports.max_age_days, inline=True)


def _report_message(inbound: Inbound) -> bool:
    return inbound.kind == InboundKind.MESSAGE and is_report(inbound.text)


def register(router: Router) -> None:
    router.command("report", ["report", "日报"], open_report)
    router.form(FORM_ID, submit_form)
    router.message("report", _report_message, receive_report)

