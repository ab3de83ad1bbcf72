"""Keep report_months, report_blocks and report_team_days equal to the daily reports they add up, in the same
transaction.

Every flush that inserts, changes or deletes a DailyReport (a report submitted or replaced, key actions saved,
a report moved to another team or day) changes the totals by the difference: the rows as they were in the
database before the flush are taken away, the rows as they are after it are added. Both are read back from the
database, so the totals hold what was stored (rounded as the database rounds), and the change is one upsert
that adds to what is there (`x = x + delta`): two replicas storing reports of the same team at once both count,
on every database, without locks of our own.

Statements that bypass the ORM's unit of work (Core INSERTs of many reports, as the benchmarks' fills do)
leave the totals behind: `rebuild()` recomputes them from the reports (the migration that made the tables
does the same).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, event, select, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from models import REPORT_AMOUNTS, REPORT_COUNTS, DailyReport, ReportBlock, ReportMonth, ReportTeamDay

__all__ = ["NUMBERS", "block_end", "block_start", "month_start", "rebuild"]

NUMBERS: tuple[str, ...] = REPORT_COUNTS + REPORT_AMOUNTS
_REPORTS = DailyReport.__table__
_MONTHS: Table = ReportMonth.__table__  # type: ignore[assignment]
_BLOCKS: Table = ReportBlock.__table__  # type: ignore[assignment]
_TEAM_DAYS: Table = ReportTeamDay.__table__  # type: ignore[assignment]
_ROW = (_REPORTS.c.person_id, _REPORTS.c.team_id, _REPORTS.c.day, _REPORTS.c.submitted_at,
        *(_REPORTS.c[n] for n in NUMBERS))
_OLD = "salesbot.rollups.old"
# a month's vector: reports, the numbers, then the days each number was above zero; a team-day's: the first two
_MONTH_COLUMNS = ("reports", *NUMBERS, *(f"{n}_days" for n in NUMBERS))
_DAY_COLUMNS = ("reports", *NUMBERS)


def month_start(day: date) -> date:
    return day.replace(day=1)


def block_start(day: date) -> date:
    """The first day of the day's block: the 1st, 6th, 11th, 16th, 21st or 26th."""
    return day.replace(day=min((day.day - 1) // 5, 5) * 5 + 1)


def block_end(start: date) -> date:
    """The last day of the block starting on `start`."""
    if start.day < 26:
        return start.replace(day=start.day + 4)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _contribution(row: Sequence[Any], sign: int, months: dict[tuple[int, int, date], list[Any]],
                  blocks: dict[tuple[int, int, date], list[Any]], days: dict[tuple[int, date], list[Any]]) -> None:
    person_id, team_id, day, submitted_at, *values = row
    if submitted_at is None:  # key actions only: not a report yet
        return
    numbers = [sign * (v or 0) for v in values]
    positive = [sign if v is not None and v > 0 else 0 for v in values]
    vector = [sign, *numbers, *positive]
    for totals, start in ((months, month_start(day)), (blocks, block_start(day))):
        found = totals[(person_id, team_id or 0, start)]
        for i, v in enumerate(vector):
            found[i] += v
    if team_id is not None:
        team_day = days[(team_id, day)]
        for i, v in enumerate([sign, *numbers]):
            team_day[i] += v


def _reports(objects: Iterable[object]) -> list[int]:
    return [obj.id for obj in objects if isinstance(obj, DailyReport) and obj.id is not None]


def _read(session: Session, ids: list[int]) -> list[Sequence[Any]]:
    if not ids:
        return []
    return list(session.connection().execute(select(*_ROW).where(_REPORTS.c.id.in_(ids))).all())


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: UOWTransaction, _instances: Any) -> None:
    changed = _reports([o for o in session.dirty if isinstance(o, DailyReport) and session.is_modified(o)])
    gone = _reports(session.deleted)
    if changed or gone:  # the rows as stored before this flush, to be taken away after it
        flush_context.attributes[_OLD] = (changed, _read(session, changed + gone))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    changed, old_rows = flush_context.attributes.get(_OLD, ([], []))
    new_ids = _reports(session.new) + changed  # the rows as stored now
    if not new_ids and not old_rows:
        return
    months: dict[tuple[int, int, date], list[Any]] = defaultdict(lambda: [0] * len(_MONTH_COLUMNS))
    blocks: dict[tuple[int, int, date], list[Any]] = defaultdict(lambda: [0] * len(_MONTH_COLUMNS))
    days: dict[tuple[int, date], list[Any]] = defaultdict(lambda: [0] * len(_DAY_COLUMNS))
    for row in old_rows:
        _contribution(row, -1, months, blocks, days)
    for row in _read(session, new_ids):
        _contribution(row, 1, months, blocks, days)
    conn = session.connection()
    _add(conn, _MONTHS, ("person_id", "team_id", "month"), _MONTH_COLUMNS, months)
    _add(conn, _BLOCKS, ("person_id", "team_id", "start"), _MONTH_COLUMNS, blocks)
    _add(conn, _TEAM_DAYS, ("team_id", "day"), _DAY_COLUMNS, days)


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_writes(state: ORMExecuteState) -> None:
    """An ORM bulk INSERT, UPDATE or DELETE of daily reports would pass the flush by: refuse it loudly."""
    if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is DailyReport:
        raise TypeError("bulk writes of daily reports bypass report_months and report_team_days: add DailyReport "
                        "objects to the session, or write with Core on a connection and call models.rollups.rebuild")


def _add(conn: Connection, table: Table, keys: tuple[str, ...], columns: tuple[str, ...],
         deltas: dict[Any, list[Any]]) -> None:
    """Add each key's vector to its row (created at zero when missing), in one statement."""
    params = [{**dict(zip(keys, key, strict=True)), **dict(zip(columns, vector, strict=True))}
              for key, vector in deltas.items() if any(vector)]
    if not params:
        return
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        stmt: Any = pg.on_conflict_do_update(index_elements=list(keys),
                                             set_={c: table.c[c] + pg.excluded[c] for c in columns})
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        lite = lite_insert(table)
        stmt = lite.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: table.c[c] + lite.excluded[c] for c in columns})
    else:  # MariaDB, MySQL
        from sqlalchemy.dialects.mysql import insert as my_insert

        my = my_insert(table)
        stmt = my.on_duplicate_key_update({c: table.c[c] + my.inserted[c] for c in columns})
    # amounts as exact decimals on every driver
    for p in params:
        for amount in REPORT_AMOUNTS:
            p[amount] = Decimal(p[amount])
    conn.execute(stmt, params)


# The first day of a report's month and of its block, in each database's words (the migration has the same).
MONTH_SQL = {"postgresql": "CAST(date_trunc('month', day) AS date)", "sqlite": "date(day, 'start of month')",
             "mysql": "SUBDATE(day, DAYOFMONTH(day) - 1)"}
BLOCK_SQL = {
    "postgresql": "(CAST(date_trunc('month', day) AS date) + LEAST((EXTRACT(DAY FROM day)::int - 1) / 5, 5) * 5)",
    "sqlite": "date(day, 'start of month', '+' || (min((CAST(strftime('%d', day) AS INTEGER) - 1) / 5, 5) * 5) "
              "|| ' days')",
    "mysql": "ADDDATE(SUBDATE(day, DAYOFMONTH(day) - 1), LEAST(FLOOR((DAYOFMONTH(day) - 1) / 5), 5) * 5)",
}


def rebuild(conn: Connection) -> tuple[int, int, int]:
    """Recompute the three tables from the daily reports (after writes that bypassed the ORM), in the order of
    time as later rows arrive; returns their rows (months, blocks, team-days)."""
    name = "mysql" if conn.dialect.name in ("mysql", "mariadb") else conn.dialect.name
    sums = ", ".join(f"SUM(COALESCE({n}, 0))" for n in NUMBERS)
    positive = ", ".join(f"SUM(CASE WHEN {n} > 0 THEN 1 ELSE 0 END)" for n in NUMBERS)
    columns = ", ".join(_MONTH_COLUMNS)
    for table, key, start in (("report_months", "month", MONTH_SQL[name]), ("report_blocks", "start", BLOCK_SQL[name])):
        conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constants only
        conn.execute(text(
            f"INSERT INTO {table} ({key}, person_id, team_id, {columns}) "  # noqa: S608 - constants only
            f"SELECT {start}, person_id, COALESCE(team_id, 0), COUNT(*), {sums}, {positive} FROM daily_reports "
            f"WHERE submitted_at IS NOT NULL GROUP BY {start}, person_id, COALESCE(team_id, 0) ORDER BY {start}"))
    conn.execute(text("DELETE FROM report_team_days"))
    conn.execute(text(
        f"INSERT INTO report_team_days (day, team_id, {', '.join(_DAY_COLUMNS)}) "  # noqa: S608 - constants only
        f"SELECT day, team_id, COUNT(*), {sums} FROM daily_reports "
        f"WHERE submitted_at IS NOT NULL AND team_id IS NOT NULL GROUP BY day, team_id ORDER BY day"))
    count = "SELECT COUNT(*) FROM {}"
    return (conn.scalar(text(count.format("report_months"))) or 0,
            conn.scalar(text(count.format("report_blocks"))) or 0,
            conn.scalar(text(count.format("report_team_days"))) or 0)
