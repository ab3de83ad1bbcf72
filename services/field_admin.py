"""Admins add, alias and rename report fields: stored as ReportField rows, no migration."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import ReportField
from services.fields import DEFAULT_FIELDS, FieldDef, FieldType, normalize_label
from services.report_fields import field_by_key, load_fields

__all__ = [
    "FieldAdminError",
    "add_alias",
    "add_field",
    "field_item",
    "move_field",
    "parse_labels",
    "parse_type",
    "rename_field",
]

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
MAX_LABEL = 40
# Export columns of a report row besides the fields: a field may not take their names.
RESERVED_KEYS = frozenset({"user_code", "date", "key_actions", "raw_text", "updated_at", "submitted_at",
                           "day", "person", "team", "extra", "id", "name"})
RESERVED_LABELS = frozenset({"日报", "daily report", "今日三件事", "三件事", "today"})
TYPE_WORDS = {
    "count": FieldType.COUNT, "number": FieldType.COUNT, "int": FieldType.COUNT, "数量": FieldType.COUNT,
    "计数": FieldType.COUNT, "数字": FieldType.COUNT,
    "money": FieldType.MONEY, "amount": FieldType.MONEY, "金额": FieldType.MONEY, "钱": FieldType.MONEY,
    "text": FieldType.TEXT, "文本": FieldType.TEXT, "文字": FieldType.TEXT,
}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PREFIX = re.compile(r"^(zh|cn|zh-cn|中文|en|英文)\s*[:：=]\s*(.*)$", re.IGNORECASE | re.DOTALL)


class FieldAdminError(Exception):
    """A field change that cannot be made; `code` names the rule for the `field_refused` template."""

    def __init__(self, code: str, value: str = "", other: str = "") -> None:
        super().__init__(f"{code}: {value} {other}".strip())
        self.code = code
        self.value = value
        self.other = other


def parse_type(word: str) -> FieldType | None:
    """Return the field type named by `count`/`money`/`text` (or 数量/金额/文本), else None."""
    return TYPE_WORDS.get(word.strip().casefold())


def parse_labels(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Split `zh:电话 en:calls 拜访电话 "phone calls"` into zh and en labels (plain ones by script)."""
    zh: list[str] = []
    en: list[str] = []
    for token in tokens:
        match = _PREFIX.match(token.strip())
        if match:
            side = zh if match.group(1).casefold() in ("zh", "cn", "zh-cn", "中文") else en
            label = match.group(2)
        else:
            label = token
            side = zh if _CJK.search(token) else en
        label = " ".join(label.split())
        _check_label(label)
        if label not in side:
            side.append(label)
    return zh, en


def _check_label(label: str) -> None:
    if not label:
        raise FieldAdminError("empty_label")
    if len(label) > MAX_LABEL:
        raise FieldAdminError("label_too_long", label[:MAX_LABEL] + "…", str(MAX_LABEL))
    if any(ch in label for ch in ":：\n\r`") or label.startswith("/"):
        raise FieldAdminError("bad_label", label)
    norm = normalize_label(label)
    if norm in RESERVED_LABELS or any(norm.startswith(w) for w in ("日报", "daily report")):
        raise FieldAdminError("reserved_label", label)
    if norm.replace(".", "").replace(",", "").isdigit():
        raise FieldAdminError("bad_label", label)


def _owner_of(fields: tuple[FieldDef, ...], label: str) -> FieldDef | None:
    norm = normalize_label(label)
    for f in fields:
        if norm == normalize_label(f.key) or norm in {normalize_label(x) for x in f.all_labels()}:
            return f
    return None


def _row_for(session: Session, field: FieldDef) -> ReportField:
    row = session.scalar(select(ReportField).where(ReportField.key == field.key))
    if row is None:
        # a default field gets a row that only carries what the admin changed
        row = ReportField(key=field.key, type=str(field.type), labels_zh=[], labels_en=[], aliases=[],
                          position=0)
        session.add(row)
    return row


def _find(session: Session, key: str) -> tuple[tuple[FieldDef, ...], FieldDef]:
    fields = load_fields(session=session)
    field = field_by_key(fields, key.strip().lower())
    if field is None:
        raise FieldAdminError("unknown_key", key)
    return fields, field


def add_field(*, session: Session, key: str, type_word: str, labels_zh: list[str], labels_en: list[str]) -> FieldDef:
    """Create a new report field (its values live in DailyReport.extra)."""
    key = key.strip()
    if not KEY_PATTERN.match(key):
        raise FieldAdminError("bad_key", key)
    if key in RESERVED_KEYS:
        raise FieldAdminError("reserved_key", key)
    ftype = parse_type(type_word)
    if ftype is None:
        raise FieldAdminError("bad_type", type_word)
    if not labels_zh and not labels_en:
        raise FieldAdminError("no_labels", key)
    fields = load_fields(session=session)
    if field_by_key(fields, key) is not None or session.scalar(
            select(ReportField.id).where(ReportField.key == key)) is not None:
        raise FieldAdminError("key_taken", key)
    owner = _owner_of(fields, key)
    if owner is not None:
        raise FieldAdminError("label_taken", key, owner.key)
    for label in (*labels_zh, *labels_en):
        _check_label(label)
        owner = _owner_of(fields, label)
        if owner is not None:
            raise FieldAdminError("label_taken", label, owner.key)
    last = session.scalar(select(func.max(ReportField.position))) or 0
    session.add(ReportField(key=key, type=str(ftype), labels_zh=list(labels_zh), labels_en=list(labels_en),
                            aliases=[], position=max(last, 100) + 1))
    session.flush()
    return _find(session, key)[1]


def add_alias(*, session: Session, key: str, label: str) -> FieldDef:
    """Let a field also be written under another label."""
    label = " ".join(label.split())
    _check_label(label)
    fields, field = _find(session, key)
    owner = _owner_of(fields, label)
    if owner is not None:
        raise FieldAdminError("already_label" if owner.key == field.key else "label_taken", label, owner.key)
    row = _row_for(session, field)
    row.aliases = [*(row.aliases or []), label]
    session.flush()
    return _find(session, field.key)[1]


def rename_field(*, session: Session, key: str, label: str, locale: str) -> FieldDef:
    """Make `label` the field's shown label in a locale; the old labels stay understood."""
    label = " ".join(label.split())
    _check_label(label)
    fields, field = _find(session, key)
    owner = _owner_of(fields, label)
    if owner is not None and owner.key != field.key:
        raise FieldAdminError("label_taken", label, owner.key)
    row = _row_for(session, field)
    zh_side = locale.casefold().startswith("zh")
    builtin = field.key in {f.key for f in DEFAULT_FIELDS}
    current = list((row.labels_zh if zh_side else row.labels_en) or [])
    if not builtin:
        # a custom field's row holds all its labels: keep the old ones after the new one
        current = list(field.labels_zh if zh_side else field.labels_en)
    norm = normalize_label(label)
    updated = [label, *(x for x in current if normalize_label(x) != norm)]
    if zh_side:
        row.labels_zh = updated
    else:
        row.labels_en = updated
    if owner is not None:  # it was an alias: now it is the label
        row.aliases = [x for x in (row.aliases or []) if normalize_label(x) != norm]
    session.flush()
    return _find(session, field.key)[1]


def move_field(*, session: Session, key: str, to: int) -> FieldDef:
    """Put a field at place `to` (1 = first) of the report: its form, template, parser order and export."""
    fields, field = _find(session, key)
    order = [f for f in fields if f.key != field.key]
    to = max(1, min(to, len(fields)))
    order.insert(to - 1, field)
    for place, f in enumerate(order, 1):
        row = _row_for(session, f)
        row.position = place * 10
    session.flush()
    return _find(session, field.key)[1]


def field_item(field: FieldDef, locale: str) -> dict[str, object]:
    """Plain data about a field for templates."""
    return {"key": field.key, "type": str(field.type), "label": field.label(locale),
            "labels_zh": list(field.labels_zh), "labels_en": list(field.labels_en),
            "aliases": list(field.aliases), "builtin": field.builtin}
