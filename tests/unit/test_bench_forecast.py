"""bench/forecast.py keeps working: a tiny synthetic history, backtested through the real service."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bench.forecast import backtest, implied_win_chances, replay, synthetic
from bot.core.db import Database
from bot.core.settings import Settings
from models import Customer
from services.calendar import WorkCalendar


def test_a_small_backtest(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bench.db'}")
    db.ensure_schema()
    calendar = WorkCalendar("CN")
    history = synthetic(db, teams=2, reps=3, months=1, seed=3, calendar=calendar, first=date(2025, 1, 1))
    assert [str(m) for m in history.months] == ["2025-04"]
    # the replay shows a customer as it stood that day: none is owned before it arrived
    replay(db, history, date(2025, 1, 2), set())
    with db.unit_of_work() as s:
        owned = s.query(Customer).filter(Customer.owner_id.is_not(None)).count()
        arrived = {cid for d, rows in history.timeline.items() if d <= date(2025, 1, 2) for cid, *_ in rows}
        assert owned == len(arrived) > 0
    errors, calls, _ = backtest(history, calendar=calendar, settings=Settings())
    assert calls == len(calendar.workdays(date(2025, 4, 1), date(2025, 4, 30)))
    last = max(i for (_, _, i) in errors.by)
    # on the month's last workday evening the forecast is the actual, bar reports not sent that day
    assert errors.mape("organisation", "with pipeline", last) == pytest.approx(0, abs=10)
    first_day = errors.mape("teams", "with pipeline", 1)
    assert first_day is not None and first_day > 0
    chances = implied_win_chances()
    assert list(chances) == ["lead", "needs", "proposal", "negotiation"]
    assert 0 < chances["lead"] < chances["needs"] < chances["proposal"] < chances["negotiation"] < 1
    db.dispose()
