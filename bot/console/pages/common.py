"""Shared by the console's pages: role sets, the seller rule, rows of goal progress."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from models import Person, Role
from services.goals import Period, PeriodKind, Progress
from services.sellers import seller_condition as sellers_between
from services.sellers import seller_periods

MANAGERS = (Role.MANAGER.value, Role.ADMIN.value)
ZERO = Decimal(0)


def among(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL, for a region's thousand teams, one array parameter (`= ANY(:ids)`)
    rather than a thousand bound values for SQLAlchemy to render and the driver to parse on every page."""
    if len(ids) > 100 and session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


def seller_condition(start: date, end: date | None = None) -> ColumnElement[bool]:
    """Who is ranked and listed as not reported from start to end: active sellers, the chat's rule
    (services/sellers.py, contract section 8: reps, and managers/admins with a personal goal then)."""
    return and_(Person.active.is_(True), sellers_between(seller_periods(start, end or start)))


def progress_row(progress: Progress | None, time_pct: Decimal | None) -> dict[str, Any]:
    """The goal columns of a tree or person row from a Progress (blank without a goal)."""
    if progress is None:
        return {"floor": None, "target": None, "stretch": None, "pct": None, "run_rate": None,
                "remaining": None, "progress": None}
    return {"floor": progress.floor, "target": progress.target, "stretch": progress.stretch,
            "pct": progress.pct_target, "run_rate": progress.run_rate, "remaining": progress.remaining_workdays,
            "progress": {"pct": progress.pct_target, "time": time_pct}}


def forecast_label(t: Any, period: Period) -> str:
    """The forecast's heading: month-end, quarter-end, year-end or end-of-week, as the period shown is."""
    return t("col.forecast" if period.kind is PeriodKind.MONTH else f"col.forecast.{period.kind}")


def pace_word(pct: Decimal | None, time_pct: Decimal | None) -> str:
    """ahead / behind / none: 达成率 against 时间进度 (said in words as well as colour)."""
    if pct is None or time_pct is None:
        return "none"
    return "ahead" if pct >= time_pct else "behind"


def evening_deadline(team: Any, day: Any, settings: Any) -> Any:
    """The moment a day's report counts as late: the team's evening post (schedule.evening), team-local."""
    from datetime import datetime, time

    from bot.core.context import team_zone

    hhmm = (team.schedule_evening if team is not None and team.schedule_evening else None) or settings.schedule.evening
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=team_zone(team, settings))


def report_state(submitted_at: Any, team: Any, day: Any, settings: Any) -> str:
    """on_time, late (after the evening post) or missing."""
    if submitted_at is None:
        return "missing"
    return "late" if submitted_at > evening_deadline(team, day, settings) else "on_time"
