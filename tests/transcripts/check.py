"""Play the scenarios and compare with (or rewrite) the committed transcript files."""

from __future__ import annotations

import difflib
from pathlib import Path

from tests.transcripts.harness import HERE, LOCALES, demo_workspace, play_all, transcript_path


def generate(*, templates: set[str] | None = None,
             locales: list[str] | None = None) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """Return {(template, locale): (transcript text, templates rendered by its scenarios)}."""
    out: dict[tuple[str, str], tuple[str, set[str]]] = {}
    with demo_workspace() as demo:
        for locale in locales or LOCALES:
            for template, result in play_all(demo, locale, templates).items():
                out[(template, locale)] = result
    return out


def diff(template: str, locale: str, text: str) -> str | None:
    """Return a unified diff of the committed file against `text`, or None when they agree."""
    path = transcript_path(template, locale)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old == text:
        return None
    rel = path.relative_to(HERE.parent.parent)
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile=f"{rel} (committed)", tofile=f"{rel} (now)"))


def compare(*, templates: set[str] | None = None, locales: list[str] | None = None) -> dict[tuple[str, str], str]:
    diffs = {}
    for (template, locale), (text, _) in generate(templates=templates, locales=locales).items():
        d = diff(template, locale, text)
        if d is not None:
            diffs[(template, locale)] = d
    return diffs


def write_all(*, templates: set[str] | None = None, locales: list[str] | None = None) -> list[Path]:
    changed = []
    for (template, locale), (text, _) in generate(templates=templates, locales=locales).items():
        path = transcript_path(template, locale)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale_files() -> list[Path]:
    """Transcript files of templates that no scenario shows any more."""
    from tests.transcripts.harness import SCENARIOS

    shown = {t for sc in SCENARIOS for t in sc.templates}
    return sorted(p for locale in LOCALES for p in (HERE / locale).glob("*.txt") if p.stem not in shown)
