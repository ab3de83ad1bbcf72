"""Follow-up nudges: one DM per rep with overdue follow-ups; escalations and stalled risks to managers."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.core.types import Button
from jobs.base import JobContext, JobResult
from jobs.common import followup_data
from models import Customer, Person, Team
from services.customers import managers_of_region
from services.fields import Stage, stage_label
from services.followups import due_for, refresh, stalled, to_escalate

# WeCom cards take at most 6 buttons: done + snooze for the first three items; the text lists all.
MAX_BUTTON_ITEMS = 3


def run(ctx: JobContext, *, team: Team, day: date) -> JobResult:
    """Nudge the sellers of `team` about overdue follow-ups and tell managers what is late or stalled."""
    s, settings, calendar = ctx.session, ctx.settings, ctx.calendar
    refresh(session=s, settings=settings, calendar=calendar, today=day, now=ctx.now)
    reps = ctx.sellers(team, day)
    result = JobResult(processed=len(reps))
    for rep in reps:
        items = [f for f in due_for(session=s, person_id=rep.id, today=day)
                 if f.due < day and f.nudged_on != day]
        if not items:
            result.skipped += 1
            continue
        data = [followup_data(f, day, calendar) for f in items]
        buttons: list[Button] = []
        for item in data[:MAX_BUTTON_ITEMS]:
            buttons.append(Button(f"✅ {item['customer']}", "nudge_done", str(item["id"]), "primary"))
            buttons.append(Button(f"⏰ {item['customer']}", "nudge_snooze", str(item["id"])))
        ctx.send(ctx.ctx.message_to(rep, "nudge", key=ctx.key(team, day, rep.code), buttons=tuple(buttons),
                                    name=rep.name, day=day, items=data,
                                    more=max(0, len(data) - MAX_BUTTON_ITEMS)))
        for f in items:
            f.nudged_on = day
        result.enqueued += 1
    member_ids = {p.id for p in ctx.members(team)}
    result.enqueued += _escalate(ctx, team, day, member_ids)
    result.enqueued += _stalled(ctx, team, day, member_ids)
    s.flush()
    return result


def _escalate(ctx: JobContext, team: Team, day: date, member_ids: set[int]) -> int:
    late = [f for f in to_escalate(session=ctx.session, settings=ctx.settings, calendar=ctx.calendar, today=day)
            if f.owner_id in member_ids and f.escalated_on != day]
    by_manager: dict[int, tuple[Person, list[dict[str, Any]]]] = {}
    for f in late:
        item = followup_data(f, day, ctx.calendar)
        for manager in managers_of_region(session=ctx.session, region_id=f.customer.region_id):
            by_manager.setdefault(manager.id, (manager, []))[1].append(item)
        f.escalated = True
        f.escalated_on = day
    for manager, items in by_manager.values():
        ctx.send(ctx.ctx.message_to(manager, "escalation", key=ctx.key(team, day, f"escalation:{manager.code}"),
                                    name=manager.name, team=team.name, day=day, items=items,
                                    threshold=ctx.settings.rules.escalate_after_days))
    return len(by_manager)


def _stalled(ctx: JobContext, team: Team, day: date, member_ids: set[int]) -> int:
    risky = [c for c in stalled(session=ctx.session, settings=ctx.settings, today=day) if c.owner_id in member_ids]
    by_manager: dict[int, tuple[Person, list[Customer]]] = {}
    for c in risky:
        for manager in managers_of_region(session=ctx.session, region_id=c.region_id):
            by_manager.setdefault(manager.id, (manager, []))[1].append(c)
    for manager, customers in by_manager.values():
        locale = ctx.ctx.locale_of(manager)
        items = [stalled_item(c, day, locale) for c in customers]
        ctx.send(ctx.ctx.message_to(manager, "stalled_risk", key=ctx.key(team, day, f"stalled:{manager.code}"),
                                    name=manager.name, team=team.name, day=day, items=items,
                                    threshold=ctx.settings.rules.stalled_days))
    return len(by_manager)


def stalled_item(customer: Customer, day: date, locale: str) -> dict[str, Any]:
    """Return a stalled opportunity as plain data."""
    try:
        stage = stage_label(Stage(customer.stage), locale)
    except ValueError:
        stage = customer.stage
    since = customer.stage_changed_at.date() if customer.stage_changed_at else None
    return {
        "customer": customer.name,
        "owner": customer.owner.name if customer.owner is not None else "-",
        "stage": stage,
        "since": since,
        "days": (day - since).days if since else None,
    }


__all__ = ["run", "stalled_item"]
