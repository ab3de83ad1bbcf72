"""Plain data for job templates: goal progress, follow-ups, metric labels."""

from __future__ import annotations

from datetime import date
from typing import Any

from models import FollowUp
from services.fields import FieldDef, FieldType


def metric_info(fields: tuple[FieldDef, ...], key: str, locale: str) -> dict[str, Any]:
    """Return a metric's label and whether it is money, for templates."""
    for f in fields:
        if f.key == key:
            return {"key": key, "label": f.label(locale), "money": f.type == FieldType.MONEY}
    return {"key": key, "label": key, "money": False}


def progress_item(progress: Any, fields: tuple[FieldDef, ...], locale: str) -> dict[str, Any]:
    """Return one goal's progress as plain data."""
    info = metric_info(fields, progress.metric, locale)
    return {
        "metric": info["label"],
        "money": info["money"],
        "target": progress.target,
        "floor": progress.floor,
        "stretch": progress.stretch,
        "actual": progress.actual,
        "pct_target": progress.pct_target,
        "pct_floor": progress.pct_floor,
        "pct_stretch": progress.pct_stretch,
        "remaining_workdays": progress.remaining_workdays,
        "run_rate": progress.run_rate,
        "period": progress.period,
        "period_kind": progress.period_kind,
    }


def followup_data(followup: FollowUp, today: date, calendar: Any) -> dict[str, Any]:
    """Return one follow-up as plain data: customer, due day, workdays overdue."""
    customer = followup.customer
    owner = followup.owner
    return {
        "id": followup.id,
        "customer": customer.name if customer is not None else "?",
        "tier": customer.tier if customer is not None else "",
        "kind": followup.kind,
        "due": followup.due,
        "overdue_days": calendar.workdays_since(followup.due, today) if followup.due < today else 0,
        "owner": owner.name if owner is not None else "-",
    }
