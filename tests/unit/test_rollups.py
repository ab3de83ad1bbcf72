"""report_months and report_team_days (models/rollups.py) against the daily reports they add up, on the real
database: after every kind of write, after a rollback, with two writers at once, after a rebuild; and the
spans read from them (services/report_totals.py) against plain sums of the reports."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import case, func, select, true

from bot.core.db import Database
from models import DailyReport, Person, ReportBlock, ReportMonth, ReportTeamDay, Team
from models.rollups import NUMBERS, rebuild
from services.report_totals import span_parts, window
from services.reports import save_key_actions, submit_report
from tests.support.org import build_org

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass
class Parsed:
    day: date
    values: dict[str, Any] = field(default_factory=dict)


Totals = tuple[dict[Any, tuple[Any, ...]], ...]


def _block(day: date) -> date:
    """The block's first day, written out here: 1, 6, 11, 16, 21, and 26 up to the month's end."""
    return day.replace(day=next(first for first in (26, 21, 16, 11, 6, 1) if day.day >= first))


def _expected(db: Database) -> Totals:
    """The totals summed here, in Python, from every submitted report: months, blocks, team-days."""
    months: dict[Any, list[Any]] = defaultdict(lambda: [0] * (1 + 2 * len(NUMBERS)))
    blocks: dict[Any, list[Any]] = defaultdict(lambda: [0] * (1 + 2 * len(NUMBERS)))
    days: dict[Any, list[Any]] = defaultdict(lambda: [0] * (1 + len(NUMBERS)))
    with db.unit_of_work() as s:
        for r in s.scalars(select(DailyReport).where(DailyReport.submitted_at.is_not(None))):
            values = [getattr(r, n) for n in NUMBERS]
            vector = [1, *(v or 0 for v in values), *(1 if v and v > 0 else 0 for v in values)]
            for found in (months[(r.person_id, r.team_id or 0, r.day.replace(day=1))],
                          blocks[(r.person_id, r.team_id or 0, _block(r.day))]):
                for i, v in enumerate(vector):
                    found[i] += v
            if r.team_id is not None:
                d = days[(r.team_id, r.day)]
                for i, v in enumerate([1, *(v or 0 for v in values)]):
                    d[i] += v
    return tuple({k: tuple(Decimal(x) for x in v) for k, v in found.items()} for found in (months, blocks, days))


def _stored(db: Database) -> Totals:
    """The totals as kept, leaving out rows that went back to nothing (a report moved away)."""
    month_cols = ["reports", *NUMBERS, *(f"{n}_days" for n in NUMBERS)]
    with db.unit_of_work() as s:
        months = {(m.person_id, m.team_id, m.month): tuple(Decimal(getattr(m, c)) for c in month_cols)
                  for m in s.scalars(select(ReportMonth))}
        blocks = {(b.person_id, b.team_id, b.start): tuple(Decimal(getattr(b, c)) for c in month_cols)
                  for b in s.scalars(select(ReportBlock))}
        days = {(d.team_id, d.day): tuple(Decimal(getattr(d, c)) for c in ["reports", *NUMBERS])
                for d in s.scalars(select(ReportTeamDay))}
    return tuple({k: v for k, v in found.items() if any(v)} for found in (months, blocks, days))


def _check(db: Database) -> None:
    assert _stored(db) == _expected(db)


def _person(s: Any, code: str) -> Person:
    return s.scalars(select(Person).where(Person.code == code)).one()


def test_totals_follow_every_kind_of_write(db: Database) -> None:
    build_org(db)
    oct14, oct15, nov2 = date(2026, 10, 14), date(2026, 10, 15), date(2026, 11, 2)
    with db.unit_of_work() as s:
        submit_report(session=s, person=_person(s, "zhang"), raw_text="r",
                      parsed=Parsed(oct14, {"visits": 3, "signed_amount": Decimal("1000.50")}), now=NOW)
        submit_report(session=s, person=_person(s, "li"), raw_text="r",
                      parsed=Parsed(oct14, {"visits": 0, "signed_amount": Decimal(0)}), now=NOW)
    _check(db)
    with db.unit_of_work() as s:
        months = {m.person_id: m for m in s.scalars(select(ReportMonth))}
        zhang = _person(s, "zhang")
        assert months[zhang.id].signed_amount == Decimal("1000.50") and months[zhang.id].signed_amount_days == 1
        assert months[_person(s, "li").id].signed_amount_days == 0 and months[_person(s, "li").id].reports == 1
    with db.unit_of_work() as s:  # replaced: the old figures go, the new ones come
        _, replaced = submit_report(session=s, person=_person(s, "zhang"), raw_text="r2",
                                    parsed=Parsed(oct14, {"visits": 5, "signed_amount": Decimal("2000")}), now=NOW)
        assert replaced
    _check(db)
    with db.unit_of_work() as s:  # key actions alone are no report: nothing counts
        save_key_actions(session=s, person=_person(s, "wang"), day=oct15, actions=["a", "b", "c"], now=NOW)
    _check(db)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ReportMonth).where(
            ReportMonth.person_id == _person(s, "wang").id)) == 0
        submit_report(session=s, person=_person(s, "wang"), raw_text="r",
                      parsed=Parsed(oct15, {"collected_amount": Decimal("99.99"), "new_leads": 2}), now=NOW)
    _check(db)
    with db.unit_of_work() as s:  # zhang moves to Guangzhou and corrects the 14th: it is filed there now
        zhang = _person(s, "zhang")
        zhang.team_id = s.scalars(select(Team.id).where(Team.code == "gz1")).one()
        s.flush()
        submit_report(session=s, person=zhang, raw_text="r3",
                      parsed=Parsed(oct14, {"visits": 1, "signed_amount": Decimal("300")}), now=NOW)
    _check(db)
    with db.unit_of_work() as s:  # a report moved to another month, by the ORM
        report = s.scalars(select(DailyReport).where(DailyReport.day == oct15)).one()
        report.day = nov2
    _check(db)
    with db.unit_of_work() as s:  # the admin, who belongs to no team, reports (team 0 in the months)
        submit_report(session=s, person=_person(s, "admin"), raw_text="r",
                      parsed=Parsed(nov2, {"signed_amount": Decimal("7")}), now=NOW)
    _check(db)
    with db.unit_of_work() as s:
        assert s.scalars(select(ReportMonth.team_id).where(ReportMonth.person_id == _person(s, "admin").id)).all() \
            == [0]
    with db.unit_of_work() as s:  # deleted
        s.delete(s.scalars(select(DailyReport).where(DailyReport.person_id == _person(s, "li").id)).one())
    _check(db)
    before = _stored(db)
    with pytest.raises(RuntimeError), db.unit_of_work() as s:  # rolled back: the totals too
        submit_report(session=s, person=_person(s, "li"), raw_text="r",
                      parsed=Parsed(nov2, {"signed_amount": Decimal("5000")}), now=NOW)
        s.flush()
        raise RuntimeError("the reply could not be queued")
    assert _stored(db) == before
    _check(db)
    with db.unit_of_work() as s:  # several reports in one flush, one of them twice changed
        for code in ("li", "bob", "mgr_east"):
            submit_report(session=s, person=_person(s, code), raw_text="r",
                          parsed=Parsed(nov2 + timedelta(days=1), {"signed_amount": Decimal("10.10")}), now=NOW)
        submit_report(session=s, person=_person(s, "bob"), raw_text="r",
                      parsed=Parsed(nov2 + timedelta(days=1), {"signed_amount": Decimal("20.20")}), now=NOW)
    _check(db)
    expected = _expected(db)
    with db.engine.begin() as conn:
        rebuild(conn)
    assert _stored(db) == expected


def test_two_writers_of_one_team_and_day_both_count(db: Database) -> None:
    """zhang and li (one team) report the same evening through two replicas: the second waits for the first's
    row of the team's day and adds to it, on every database."""
    build_org(db)
    day = date(2026, 11, 20)
    first = db.sessions()
    try:
        submit_report(session=first, person=_person(first, "zhang"), raw_text="r",
                      parsed=Parsed(day, {"signed_amount": Decimal("100")}), now=NOW)
        first.flush()  # holds the team's day row (PostgreSQL, MariaDB) or the write lock (SQLite)

        def second() -> None:
            with db.unit_of_work() as s:
                submit_report(session=s, person=_person(s, "li"), raw_text="r",
                              parsed=Parsed(day, {"signed_amount": Decimal("250")}), now=NOW)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the first
        first.commit()
    finally:
        first.close()
    thread.join(30)
    assert not thread.is_alive()
    with db.unit_of_work() as s:
        team_day = s.scalars(select(ReportTeamDay).where(ReportTeamDay.day == day)).one()
        assert (team_day.reports, team_day.signed_amount) == (2, Decimal("350"))
    _check(db)


D = date


def test_nothing_after_the_last_report_is_read() -> None:
    """Seen on the evening of the 23rd, with no report after it: this month is its total, and the look-back
    August's last block and three whole months."""
    latest = D(2026, 11, 23)
    parts = span_parts(D(2026, 11, 1), latest, latest)
    assert (parts.months, parts.blocks, parts.days) == ((D(2026, 11, 1),), (), ())
    parts = span_parts(D(2026, 8, 26), latest, latest)
    assert (parts.months, parts.blocks, parts.days) == ((D(2026, 9, 1), D(2026, 10, 1), D(2026, 11, 1)),
                                                        ((D(2026, 8, 26), 1),), ())
    # a report two days on (a late correction of a future day, say): those two days are taken away
    parts = span_parts(D(2026, 11, 1), latest, D(2026, 11, 25))
    assert parts.days == (((D(2026, 11, 24), D(2026, 11, 25)), -1),) and parts.months == (D(2026, 11, 1),)


@pytest.mark.parametrize(("start", "end", "months", "blocks", "days"), [
    (D(2026, 11, 1), D(2026, 11, 30), [D(2026, 11, 1)], [], []),
    # this month up to the 23rd: November less its block 26-30 and the 24th and 25th
    (D(2026, 11, 1), D(2026, 11, 23), [D(2026, 11, 1)], [(D(2026, 11, 26), -1)],
     [((D(2026, 11, 24), D(2026, 11, 25)), -1)]),
    # the 90-day look-back from then: August's last block, September, October, November as above
    (D(2026, 8, 26), D(2026, 11, 23), [D(2026, 9, 1), D(2026, 10, 1), D(2026, 11, 1)],
     [(D(2026, 8, 26), 1), (D(2026, 11, 26), -1)], [((D(2026, 11, 24), D(2026, 11, 25)), -1)]),
    # inside a month: whole blocks, a block less a day, days
    (D(2026, 11, 7), D(2026, 11, 18), [], [(D(2026, 11, 6), 1), (D(2026, 11, 11), 1)],
     [((D(2026, 11, 6), D(2026, 11, 6)), -1), ((D(2026, 11, 16), D(2026, 11, 18)), 1)]),
    (D(2026, 11, 10), D(2026, 11, 12), [], [], [((D(2026, 11, 10), D(2026, 11, 10)), 1),
                                              ((D(2026, 11, 11), D(2026, 11, 12)), 1)]),
    (D(2024, 2, 1), D(2024, 2, 29), [D(2024, 2, 1)], [], []),
    (D(2024, 2, 26), D(2024, 2, 29), [], [(D(2024, 2, 26), 1)], []),  # a leap February's last block
])
def test_a_span_in_months_blocks_and_days(start: date, end: date, months: list[date], blocks: list[Any],
                                          days: list[Any]) -> None:
    parts = span_parts(start, end)
    assert (list(parts.months), list(parts.blocks), list(parts.days)) == (months, blocks, days)


def test_spans_read_from_the_totals_equal_the_reports_summed(db: Database) -> None:
    """Reports over four months (some teamless, some moved, some drafts, some empty), every span between a set
    of awkward days: window() gives what plain sums of the reports give, person by person and team by team."""
    build_org(db)
    start = date(2026, 8, 1)
    with db.unit_of_work() as s:
        people = {p.code: p for p in s.scalars(select(Person))}
        teams = [t.id for t in s.scalars(select(Team))]
        for i in range(122):
            day = start + timedelta(days=i)
            for j, code in enumerate(sorted(people)):
                if (i * 7 + j * 3) % 5 == 0:
                    continue  # no report that day
                person = people[code]
                team = None if code == "admin" else teams[(i // 30 + j) % len(teams)] if j % 3 == 0 else \
                    person.team_id
                s.add(DailyReport(
                    person_id=person.id, team_id=team, day=day, extra={},
                    visits=(i + j) % 4 or None, new_leads=(i * j) % 3,
                    signed_amount=Decimal((i * 37 + j * 101) % 500) * Decimal("10.01") if (i + j) % 3 else None,
                    collected_amount=Decimal(i % 7) + Decimal("0.05"),
                    submitted_at=None if (i + j) % 11 == 0 else NOW))
    _check(db)
    edges = [date(2026, 8, 1), date(2026, 8, 7), date(2026, 8, 17), date(2026, 8, 26), date(2026, 8, 31),
             date(2026, 9, 1), date(2026, 9, 20), date(2026, 9, 29), date(2026, 10, 15), date(2026, 11, 23),
             date(2026, 11, 30)]
    spans = [(a, b) for a in edges for b in edges if a <= b]

    def raw(conn: Any, metric: str, a: date, b: date, by_team: bool) -> dict[Any, tuple[Any, ...]]:
        col = DailyReport.__table__.c[metric]
        r = DailyReport.__table__
        keys = [r.c.person_id, func.coalesce(r.c.team_id, 0)] if by_team else [r.c.person_id]
        rows = conn.execute(select(*keys, func.sum(func.coalesce(col, 0)), func.sum(case((col > 0, 1), else_=0)),
                                   func.count())
                            .where(r.c.day >= a, r.c.day <= b, r.c.submitted_at.is_not(None)).group_by(*keys))
        return {tuple(row[:-3]): (Decimal(row[-3]), int(row[-2]), int(row[-1])) for row in rows}

    with db.engine.connect() as conn:
        last_day = conn.scalar(select(func.max(DailyReport.day)))
        assert last_day == date(2026, 11, 30)
        some = teams[:2]
        for metric in ("signed_amount", "visits", "collected_amount"):
            for a, b in spans:
                for by_team, latest in ((True, None), (False, None), (True, last_day)):
                    w = window(metric, a, b, lambda p, t: true(), by_team=by_team, latest=latest)
                    got = {tuple(row[:-3]): (Decimal(row[-3]), int(row[-2]), int(row[-1]))
                           for row in conn.execute(select(w))}
                    assert got == raw(conn, metric, a, b, by_team), (metric, a, b, by_team, latest)
            # with a scope on person and team, as the forecast's (a region's teams, or its sellers)
            w = window(metric, edges[1], edges[6], lambda p, t: t.in_(some))
            got = {tuple(row[:2]): Decimal(row[2]) for row in conn.execute(select(w))}
            want = {k: v[0] for k, v in raw(conn, metric, edges[1], edges[6], True).items() if k[1] in some}
            assert got == want


def test_a_bulk_write_of_reports_through_the_orm_is_refused(db: Database) -> None:
    """It would pass the flush by and leave the totals behind: refused before anything is written."""
    from sqlalchemy import insert, update

    build_org(db)
    with db.unit_of_work() as s:
        zhang = _person(s, "zhang")
        with pytest.raises(TypeError, match="rebuild"):
            s.execute(insert(DailyReport), [{"person_id": zhang.id, "team_id": zhang.team_id, "day": NOW.date(),
                                             "extra": {}, "submitted_at": NOW, "signed_amount": Decimal(1)}])
        with pytest.raises(TypeError, match="bypass"):
            s.execute(update(DailyReport).values(signed_amount=Decimal(2)))
        assert s.scalar(select(func.count()).select_from(DailyReport)) == 0
    _check(db)
