"""Every template, in zh-CN and en, as each platform receives it, against the committed transcripts."""

from __future__ import annotations

import pytest

from bot.core.rendering import default_names
from tests.transcripts import scenarios  # noqa: F401 - registers the scenarios
from tests.transcripts.check import diff, generate, stale_files
from tests.transcripts.harness import LOCALES, SCENARIOS

TEMPLATES = default_names()
HOW = "If the change is meant, run `python -m tests.transcripts --update` and commit the files it writes."


@pytest.fixture(scope="module")
def transcripts() -> dict[tuple[str, str], tuple[str, set[str]]]:
    return generate()


def test_every_template_has_a_scenario() -> None:
    shown = {t for sc in SCENARIOS for t in sc.templates}
    assert sorted(set(TEMPLATES) - shown) == [], "templates no scenario shows (add one in scenarios.py)"
    assert sorted(shown - set(TEMPLATES)) == [], "scenarios for templates that do not exist"
    assert stale_files() == [], "transcript files of templates that no longer exist"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_transcript(transcripts: dict[tuple[str, str], tuple[str, set[str]]], template: str, locale: str) -> None:
    text, rendered = transcripts[(template, locale)]
    assert template in rendered, f"the scenarios of {template} never rendered it"
    d = diff(template, locale, text)
    if d is not None:
        pytest.fail(f"the {template} transcript ({locale}) changed:\n{d}\n{HOW}", pytrace=False)
