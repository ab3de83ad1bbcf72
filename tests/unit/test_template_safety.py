"""Template safety: every SSTI payload is refused, with a reason and a line; good edits pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.core.rendering import Renderer, default_source, render_source
from services.templates import Reason, TemplateRejected, parse_locales, validate, variables_of

CORPUS = Path(__file__).resolve().parent.parent / "data" / "ssti_payloads.txt"


def payloads() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\n", "\n") for line in lines if line.strip() and not line.startswith("#")]


def test_corpus_is_large_enough() -> None:
    assert len(payloads()) >= 40


@pytest.mark.parametrize("payload", payloads())
def test_every_payload_is_refused(payload: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateRejected) as info:
        validate("help", payload, ("zh-CN", "en"))
    assert info.value.reason in set(Reason)
    assert time.monotonic() - started < 5
    # the shipped text keeps working
    assert "使用说明" in Renderer().render("help", "zh-CN", name="张伟", is_admin=False, is_manager=False)


@pytest.mark.parametrize("payload", payloads())
def test_admin_version_that_slipped_in_falls_back_to_default(payload: str) -> None:
    """Even a stored bad version (say, written straight to the database) cannot break a reply."""
    renderer = Renderer(lambda name, locale: payload)
    try:
        text = renderer.render("help", "en", name="Bob", is_admin=False, is_manager=False)
    except Exception as exc:  # noqa: BLE001 - what matters is that nothing dangerous came out
        pytest.fail(f"render raised {type(exc).__name__}")
    assert "root:" not in text and "uid=" not in text and "<class" not in text
    assert len(text) <= 60_000


def test_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "Hello {{ name }}\nline two\n{% if is_admin %}\nno end", ("en",))
    assert info.value.reason == Reason.SYNTAX
    assert info.value.line == 4


def test_unknown_variable_names_variable_and_line() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "Hello {{ name }}\n\n{{ nmae }}", ("zh-CN",))
    assert info.value.reason == Reason.UNKNOWN_VARIABLE
    assert info.value.detail == "nmae" and info.value.line == 3


def test_unknown_attribute_of_sample_data_is_refused_at_render() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("template_saved", "{% for s in saved %}\n{{ s.nope }}{% endfor %}", ("en",))
    assert info.value.reason == Reason.UNKNOWN_VARIABLE and info.value.detail == "nope"
    assert info.value.line == 2


def test_dunder_is_refused_with_line() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "ok\n{{ name.__class__ }}", ("en",))
    assert info.value.reason == Reason.UNSAFE and info.value.line == 2 and "__class__" in info.value.detail


def test_output_and_loops_are_capped() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "{% for i in name*20000 %}{{ name*3 }}{% endfor %}", ("en",))
    assert info.value.reason in (Reason.OUTPUT_TOO_LONG, Reason.UNSAFE, Reason.TIMEOUT)


def test_template_text_size_is_capped() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "x" * 20_001, ("en",))
    assert info.value.reason == Reason.TOO_LONG


def test_empty_text_is_refused() -> None:
    with pytest.raises(TemplateRejected) as info:
        validate("help", "  \n ", ("en",))
    assert info.value.reason == Reason.EMPTY


@pytest.mark.parametrize("body", [
    "Hi {{ name }}{% if is_admin %} (admin){% endif %}",
    "{% set who = name|upper %}{{ who }} · {{ locale }} · {{ currency }}",
    "{% macro b(x) %}**{{ x }}**{% endmacro %}{{ b(name) }} {{ 125000|money(locale) }} {{ 42|pct }}",
    "{% for c in name %}{{ loop.index }}{{ c }}{% endfor %} {{ '%.1f'|format(3.14159) }}",
])
def test_reasonable_templates_pass(body: str) -> None:
    validate("help", body, ("zh-CN", "en"))


def test_every_default_passes_its_own_check() -> None:
    for name in ("help", "forbidden", "not_in_org", "template_refused", "template_list"):
        for locale in ("zh-CN", "en"):
            validate(name, default_source(name, locale) or "", (locale,))


def test_variables_come_from_sample_and_defaults() -> None:
    names = variables_of("help")
    assert {"name", "is_admin", "locale", "currency"} <= set(names)


def test_parse_locales() -> None:
    assert parse_locales(None, "en") == ("en",)
    assert parse_locales("ALL", "en") == ("zh-CN", "en")
    assert parse_locales("zh-cn", "en") == ("zh-CN",)
    assert parse_locales("fr", "en") is None


def test_render_source_guards_work_without_validation() -> None:
    assert render_source("{{ a ~ b }} {{ '%05d'|format(3) }} {{ x|money }}", {"a": "1", "b": "2", "x": 125000}) \
        == "12 00003 12.5万"
