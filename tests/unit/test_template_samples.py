"""Every shipped template exists in both locales, has a sample, and renders against it."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from bot.core.rendering import LOCALES, default_source, render_source
from services.templates import TemplateRejected, load_sample, sample_context, template_names, validate

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _names(locale: str) -> set[str]:
    return {p.name.removesuffix(".j2") for p in files("templates").joinpath(locale).iterdir()
            if p.name.endswith(".j2")}


def test_both_locales_have_the_same_templates() -> None:
    assert _names("en") - _names("zh-CN") == set(), "missing in zh-CN"
    assert _names("zh-CN") - _names("en") == set(), "missing in en"


@pytest.mark.parametrize("name", template_names())
def test_template_has_a_sample(name: str) -> None:
    assert load_sample(name) is not None, f"templates/samples/{name}.json is missing"


@pytest.mark.parametrize("name", template_names())
@pytest.mark.parametrize("locale", LOCALES)
def test_template_renders_against_its_sample(name: str, locale: str) -> None:
    source = default_source(name, locale)
    context = sample_context(name, locale)
    if source is None or context is None:
        pytest.fail(f"{name} ({locale}) has no text or no sample")
    text = render_source(source, context)
    assert text.strip(), f"{name} ({locale}) renders to nothing"


@pytest.mark.parametrize("name", template_names())
@pytest.mark.parametrize("locale", LOCALES)
def test_default_passes_the_admin_check(name: str, locale: str) -> None:
    """An admin can save the shipped text back unchanged: the check refuses nothing we ship."""
    source = default_source(name, locale)
    if source is None or load_sample(name) is None:
        pytest.skip("covered by the tests above")
    try:
        validate(name, source, (locale,))
    except TemplateRejected as err:
        pytest.fail(f"{name} ({locale}) refused: {err}")


@pytest.mark.parametrize("name", template_names())
def test_english_text_has_no_chinese(name: str) -> None:
    source = default_source(name, "en") or ""
    literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", source, flags=re.S)
    assert not CJK.search(literal), f"en/{name}.j2 contains Chinese: {CJK.findall(literal)[:5]}"
