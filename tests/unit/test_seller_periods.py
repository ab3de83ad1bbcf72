"""The goal periods that make a manager or admin a seller (services.sellers)."""

from __future__ import annotations

from datetime import date

from services.goals import parse_period
from services.sellers import seller_periods


def test_a_day_counts_its_month_quarter_year_and_every_week_touching_the_month() -> None:
    periods = seller_periods(date(2026, 11, 23), date(2026, 11, 23))
    assert periods == ["2026-11", "2026-Q4", "2026", "2026-W44", "2026-W45", "2026-W46", "2026-W47",
                       "2026-W48", "2026-W49"]
    assert all(str(parse_period(p)) == p for p in periods)  # spelled as goals store them


def test_a_span_counts_every_month_it_touches_and_iso_years_of_edge_weeks() -> None:
    periods = seller_periods(date(2026, 12, 28), date(2027, 1, 3))
    assert {"2026-12", "2026-Q4", "2026", "2027-01", "2027-Q1", "2027"} <= set(periods)
    assert "2026-W53" in periods and "2027-W01" in periods and "2026-W49" in periods
    assert len(periods) == len(set(periods))
