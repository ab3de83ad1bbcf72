"""The live report field list: the defaults merged with what admins added, renamed or aliased."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import refcache
from models import DailyReport, ReportField
from services.fields import DEFAULT_FIELDS, FieldDef, FieldType

__all__ = ["COLUMN_KEYS", "field_by_key", "get_value", "load_fields", "set_value"]

# Default fields are columns of DailyReport; every other field lives in DailyReport.extra.
COLUMN_KEYS: frozenset[str] = frozenset(f.key for f in DEFAULT_FIELDS)
_DEFAULTS = {f.key: f for f in DEFAULT_FIELDS}
# identity-stable result while the rows do not change, so the parser's label index stays cached
_cache: dict[tuple[Any, ...], tuple[FieldDef, ...]] = {}


def _merge(row: ReportField) -> FieldDef:
    base = _DEFAULTS.get(row.key)
    if base is None:
        try:
            ftype = FieldType(row.type)
        except ValueError:
            ftype = FieldType.TEXT
        return FieldDef(row.key, ftype, tuple(row.labels_zh or ()), tuple(row.labels_en or ()),
                        tuple(row.aliases or ()), builtin=False)
    # a renamed default: the admin's labels come first, the old ones stay understood
    zh = tuple(dict.fromkeys([*(row.labels_zh or ()), *base.labels_zh]))
    en = tuple(dict.fromkeys([*(row.labels_en or ()), *base.labels_en]))
    aliases = tuple(dict.fromkeys([*base.aliases, *(row.aliases or ())]))
    return FieldDef(base.key, base.type, zh, en, aliases, builtin=True)


def load_fields(*, session: Session) -> tuple[FieldDef, ...]:
    """Return the report fields: defaults (relabelled by admins) first, then admin fields by position."""
    return refcache.get(session, "report_fields", lambda: _load_fields(session))


def _load_fields(session: Session) -> tuple[FieldDef, ...]:
    rows = list(session.scalars(select(ReportField).order_by(ReportField.position, ReportField.id)))
    if not rows:
        return DEFAULT_FIELDS
    signature = tuple((r.key, r.type, tuple(r.labels_zh or ()), tuple(r.labels_en or ()),
                       tuple(r.aliases or ()), r.position) for r in rows)
    cached = _cache.get(signature)
    if cached is not None:
        return cached
    by_key = {r.key: r for r in rows}
    # the order admins gave (ReportField.position); a default field without a position keeps its place
    # before the added ones (which start at 101)
    placed = [(by_key[f.key].position if f.key in by_key and by_key[f.key].position else (i + 1) * 10, i,
               _merge(by_key[f.key]) if f.key in by_key else f) for i, f in enumerate(DEFAULT_FIELDS)]
    placed += [(r.position, len(DEFAULT_FIELDS) + n, _merge(r))
               for n, r in enumerate(r for r in rows if r.key not in _DEFAULTS)]
    result = tuple(f for _, _, f in sorted(placed, key=lambda p: (p[0], p[1])))
    if len(_cache) > 32:
        _cache.clear()
    _cache[signature] = result
    return result


def field_by_key(fields: tuple[FieldDef, ...], key: str) -> FieldDef | None:
    """Return the field with this key, or None."""
    return next((f for f in fields if f.key == key), None)


def _typed(value: Any, ftype: FieldType | None) -> Any:
    if value is None or ftype is None:
        return value
    try:
        if ftype is FieldType.MONEY:
            return Decimal(str(value))
        if ftype is FieldType.COUNT:
            return int(value)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return str(value)


def get_value(report: DailyReport, key: str | FieldDef) -> Any:
    """Return a field's value on a report (Decimal money, int count, str text, or None)."""
    if isinstance(key, FieldDef):
        fdef: FieldDef | None = key
        name = key.key
    else:
        fdef, name = None, key
    if name in COLUMN_KEYS:
        return getattr(report, name)
    raw = (report.extra or {}).get(name)
    return _typed(raw, fdef.type if fdef is not None else None)


def set_value(report: DailyReport, field: FieldDef, value: Any) -> None:
    """Set a field's value: a column for default fields, a JSON entry in `extra` for the others."""
    if field.key in COLUMN_KEYS:
        setattr(report, field.key, value)
        return
    extra = dict(report.extra or {})  # a new dict, so the JSON column is seen as changed
    if value is None:
        extra.pop(field.key, None)
    elif field.type is FieldType.MONEY:
        extra[field.key] = str(Decimal(value))
    elif field.type is FieldType.COUNT:
        extra[field.key] = int(value)
    else:
        extra[field.key] = str(value)
    report.extra = extra
