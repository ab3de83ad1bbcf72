"""Report fields and customer stages: pure domain definitions, no database."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "DEFAULT_FIELDS",
    "STAGE_LABELS",
    "FieldDef",
    "FieldType",
    "Stage",
    "normalize_label",
    "parse_stage",
    "stage_label",
]


class FieldType(StrEnum):
    COUNT = "count"
    MONEY = "money"
    TEXT = "text"


@lru_cache(maxsize=4096)
def normalize_label(text: str) -> str:
    """Return text NFKC-normalised, casefolded, stripped, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _is_zh(locale: str) -> bool:
    return locale.casefold().startswith("zh")


@dataclass(frozen=True)
class FieldDef:
    key: str
    type: FieldType
    labels_zh: tuple[str, ...]
    labels_en: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    builtin: bool = True

    def all_labels(self) -> tuple[str, ...]:
        """Return every label a user may type for this field, zh first, then en, then aliases."""
        return self.labels_zh + self.labels_en + self.aliases

    def label(self, locale: str) -> str:
        """Return the display label for a locale (`zh-CN` or `en`), falling back to the key."""
        first, second = (
            (self.labels_zh, self.labels_en) if _is_zh(locale) else (self.labels_en, self.labels_zh)
        )
        if first:
            return first[0]
        if second:
            return second[0]
        return self.key


DEFAULT_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("visits", FieldType.COUNT, ("拜访", "拜访量"), ("visits",)),
    FieldDef("new_leads", FieldType.COUNT, ("新线索", "线索"), ("new leads", "leads")),
    FieldDef("new_customers", FieldType.COUNT, ("新客户",), ("new customers",)),
    FieldDef("opportunities", FieldType.COUNT, ("商机", "推进商机"), ("opportunities", "opps")),
    FieldDef("signed_amount", FieldType.MONEY, ("签约", "签约金额", "成交金额"), ("signed", "revenue")),
    FieldDef("collected_amount", FieldType.MONEY, ("回款", "回款金额"), ("collected",)),
    FieldDef("plan", FieldType.TEXT, ("明日计划", "计划"), ("plan", "tomorrow")),
    FieldDef("blockers", FieldType.TEXT, ("问题", "困难", "需要支持"), ("blockers", "issues")),
)


class Stage(StrEnum):
    """Customer stages in funnel order."""

    LEAD = "lead"
    NEEDS = "needs"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    SIGNED = "signed"
    AFTER_SALE = "after_sale"
    LOST = "lost"


STAGE_LABELS: dict[Stage, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Stage.LEAD: (("线索",), ("lead",)),
    Stage.NEEDS: (("需求挖掘", "需求确认"), ("needs", "discovery")),
    Stage.PROPOSAL: (("方案设计", "方案演示"), ("proposal", "demo")),
    Stage.NEGOTIATION: (("商务谈判",), ("negotiation",)),
    Stage.SIGNED: (("签约交付", "签约", "成交"), ("signed", "won")),
    Stage.AFTER_SALE: (("售后维护",), ("after-sale",)),
    Stage.LOST: (("丢单", "流失"), ("lost",)),
}


def _stage_index() -> dict[str, Stage]:
    index: dict[str, Stage] = {}
    for stage in Stage:
        zh, en = STAGE_LABELS[stage]
        for name in (stage.value, *zh, *en):
            norm = normalize_label(name)
            index.setdefault(norm, stage)
            # after_sale / after-sale / after sale are the same word to a user
            for variant in (norm.replace("_", "-"), norm.replace("-", "_"), norm.replace("-", " ")):
                index.setdefault(variant, stage)
    return index


_STAGE_INDEX: dict[str, Stage] = _stage_index()


def parse_stage(text: str) -> Stage | None:
    """Return the stage named by its key or any zh/en label, in any case and width."""
    norm = normalize_label(text)
    stage = _STAGE_INDEX.get(norm)
    if stage is None:
        stage = _STAGE_INDEX.get(norm.replace("_", "-").replace(" ", "-"))
    return stage


def stage_label(stage: Stage, locale: str) -> str:
    """Return the display label of a stage for a locale."""
    zh, en = STAGE_LABELS[stage]
    labels = zh if _is_zh(locale) else en
    return labels[0] if labels else stage.value
