"""Helpers for job tests: an App on the console port, run a job at a given time, read the outbox."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.platforms.console import ConsolePort
from bot.wiring import App
from jobs.runner import Summary, run_job
from models import DailyReport, OutboxMessage

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def make_app(settings: Settings, db: Database, at: datetime | None = None) -> tuple[App, io.StringIO]:
    out = io.StringIO()
    app = App(settings, db=db, ports={"console": ConsolePort(out)}, migrate=False,
              clock=FixedClock(at or datetime(2026, 11, 23, 2, 0, tzinfo=UTC)))
    return app, out


def run(app: App, name: str, at: str, teams: list[str] | None = None, *, deliver: bool = True) -> Summary:
    return run_job(db=app.db, settings=app.settings, clock=app.clock, name=name, team_codes=teams,
                   at=datetime.fromisoformat(at), outbox=app.outbox if deliver else None)


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.key)))


def add_report(db: Database, person_id: int, team_id: int, day: str, **values: object) -> None:
    d = datetime.fromisoformat(day).date()
    with db.unit_of_work() as s:
        s.add(DailyReport(person_id=person_id, team_id=team_id, day=d, extra={},
                          submitted_at=datetime(d.year, d.month, d.day, 10, tzinfo=UTC),
                          **{k: (Decimal(str(v)) if k.endswith("amount") else v) for k, v in values.items()}))
