"""Sandboxed template rendering: defaults from templates/, admin versions from the database."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

LOCALES = ("zh-CN", "en")
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 60_000
RENDER_SECONDS = 1.0


class RenderTimeout(TemplateError):
    pass


def _num(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def format_money(value: Any, locale: str = "zh-CN") -> str:
    """Format an amount the way the locale reads it: 12.5万 / 125,000."""
    amount = _num(value)
    if locale == "zh-CN":
        sign = "-" if amount < 0 else ""
        amount = abs(amount)
        # 99,999,999 rounds to 10000万: say 1亿 instead
        if amount >= Decimal(100_000_000) or _trim(amount / Decimal(10_000)) == "10000":
            return sign + _trim(amount / Decimal(100_000_000)) + "亿"
        if amount >= Decimal(10_000):
            return sign + _trim(amount / Decimal(10_000)) + "万"
        return sign + _trim(amount)
    q = amount.quantize(Decimal("1"), ROUND_HALF_UP) if amount == amount.to_integral() or abs(amount) >= 1000 \
        else amount.quantize(Decimal("0.01"))
    return f"{q:,}"


def _trim(value: Decimal) -> str:
    q = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    text = f"{q:f}".rstrip("0").rstrip(".")
    return text or "0"


def format_number(value: Any, locale: str = "zh-CN") -> str:
    amount = _num(value)
    if amount == amount.to_integral():
        return f"{int(amount):,}"
    return _trim(amount)


def format_pct(value: Any) -> str:
    if value is None:
        return "-"
    return f"{_num(value).quantize(Decimal('1'), ROUND_HALF_UP)}%"


def format_day(value: date | datetime | str | None, locale: str = "zh-CN") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _bar(value: Any, width: int = 10) -> str:
    pct = max(0, min(100, int(_num(value))))
    full = pct * width // 100
    return "█" * full + "░" * (width - full)


def make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(money=format_money, number=format_number, pct=format_pct, day=format_day, bar=_bar)
    # Names a template could use to waste time or reach the interpreter are simply absent.
    for name in ("range", "lipsum", "cycler", "joiner", "namespace", "dict"):
        env.globals.pop(name, None)
    return env


_ENV = make_environment()


@lru_cache(maxsize=512)
def default_source(name: str, locale: str) -> str | None:
    """Return the shipped default text of a template, or None if there is none."""
    path = files("templates").joinpath(locale, f"{name}.j2")
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None


def default_names() -> list[str]:
    return sorted(p.name.removesuffix(".j2") for p in files("templates").joinpath("en").iterdir()
                  if p.name.endswith(".j2"))


@lru_cache(maxsize=1024)
def _compile(source: str) -> Any:
    return _ENV.from_string(source)


def compile_template(source: str) -> Any:
    """Compile a template (raises jinja2.TemplateSyntaxError)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template longer than {MAX_TEMPLATE_CHARS} characters")
    return _compile(source)


def render_source(source: str, variables: Mapping[str, Any], *, deadline: float | None = None) -> str:
    """Render a template text; with a deadline, stop it after that many seconds."""
    template = compile_template(source)
    if deadline is None:
        out = template.render(**variables)
    else:
        out = _render_with_deadline(template, variables, deadline)
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"rendered text longer than {MAX_OUTPUT_CHARS} characters")
    return out.strip()


def _render_with_deadline(template: Any, variables: Mapping[str, Any], seconds: float) -> str:
    stop_at = time.monotonic() + seconds

    def tracer(frame: Any, event: str, arg: Any) -> Callable[..., Any] | None:
        if time.monotonic() > stop_at:
            raise RenderTimeout(f"rendering took longer than {seconds:g} s")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return str(template.render(**variables))
    finally:
        sys.settrace(previous)


OverrideLookup = Callable[[str, str], str | None]


class Renderer:
    """Render named templates: an admin's version when there is one, else the default."""

    def __init__(self, overrides: OverrideLookup | None = None) -> None:
        self._overrides = overrides

    def source(self, name: str, locale: str) -> str:
        locale = locale if locale in LOCALES else "zh-CN"
        if self._overrides is not None:
            text = self._overrides(name, locale)
            if text is not None:
                return text
        text = default_source(name, locale)
        if text is None:
            raise KeyError(f"no template {name!r} for {locale}")
        return text

    def render(self, name: str, locale: str, /, **variables: Any) -> str:
        source = self.source(name, locale)
        variables.setdefault("locale", locale)
        try:
            return render_source(source, variables)
        except TemplateError:
            default = default_source(name, locale if locale in LOCALES else "zh-CN")
            if default is None or default == source:
                raise
            # An admin version that no longer fits its data must not silence the bot.
            return render_source(default, variables)
