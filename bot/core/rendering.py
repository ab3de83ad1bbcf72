"""Sandboxed template rendering: defaults from templates/, admin versions from the database."""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

LOCALES = ("zh-CN", "en")
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 60_000
RENDER_SECONDS = 1.0
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS  # the longest string or list a template may build
MAX_INT_ARGUMENT = 10_000  # the largest number a template may pass to a filter or method
MAX_EXPONENT = 64
# A %-format or str.format field with a width or precision of 4+ digits could allocate gigabytes.
_WIDE_PERCENT = re.compile(r"%[-+ #0]*(\*|\d{4,}|\d*\.(\*|\d{4,})|\d*c)")  # %c builds any character
_WIDE_BRACE = re.compile(r"\{[^{}]*:[^{}]*(\d{4,}|\{)")


class RenderTimeout(TemplateError):
    pass


def _num(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def format_money(value: Any, locale: str = "zh-CN") -> str:
    """Format an amount the way the locale reads it; the one formatter for every amount shown.

    zh-CN: 1亿 and up in 亿, 1万 and up in 万 (at most two decimals, trailing zeros dropped),
    below 1万 a whole number with thousands separators: 1.2亿, 12.5万, 3,474, 158.
    en: a whole number with thousands separators: 125,000, 3,474, 158.
    Amounts are rounded half up; cents are never shown.
    """
    amount = _num(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    whole = amount.quantize(Decimal("1"), ROUND_HALF_UP)
    if locale == "zh-CN":
        # 99,999,999 rounds to 10000万: say 1亿 instead
        if amount >= Decimal(100_000_000) or _trim(amount / Decimal(10_000)) == "10000":
            return sign + _trim(amount / Decimal(100_000_000)) + "亿"
        if whole >= Decimal(10_000):
            return sign + _trim(amount / Decimal(10_000)) + "万"
    return (sign if whole else "") + f"{whole:,}"


def _trim(value: Decimal) -> str:
    q = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    text = f"{q:f}".rstrip("0").rstrip(".")
    return text or "0"


def format_number(value: Any, locale: str = "zh-CN") -> str:
    amount = _num(value)
    if amount == amount.to_integral():
        return f"{int(amount):,}"
    # at most two decimals, trailing zeros dropped, thousands separated like whole numbers: 95,238.1
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,f}".rstrip("0").rstrip(".")


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


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple | bytes) else None


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and (_WIDE_PERCENT.search(fmt) or _WIDE_BRACE.search(fmt)):
        raise SecurityError("format width or precision too large")


def _check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_INT_ARGUMENT:
            raise SecurityError(f"number {arg} too large (limit {MAX_INT_ARGUMENT})")


def _bounded_filter(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    skip = 2 if hasattr(func, "jinja_pass_arg") else 1  # (context,) value: only the options are checked

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[skip:], kwargs)
        if name == "format" and len(args) >= skip:
            _check_format(args[skip - 1])
        return func(*args, **kwargs)

    return wrapper


class _Generator(CodeGenerator):
    """Compile `a ~ b` through the environment so it can cap the result's size."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class SalesbotSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus caps on everything that could exhaust memory or time."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                n = _size(seq)
                if n is not None and isinstance(times, int) and n * times > MAX_VALUE_CHARS:
                    raise SecurityError(f"repeating a value {times} times is too much")
        elif operator == "**":
            if isinstance(right, int | float | Decimal) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} too large (limit {MAX_EXPONENT})")
            if isinstance(left, int) and isinstance(right, int) and right * abs(left).bit_length() > 1024:
                raise SecurityError("power too large")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        elif operator == "+":
            a, b = _size(left), _size(right)
            if a is not None and b is not None and a + b > MAX_VALUE_CHARS:
                raise SecurityError("joined value too long")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if not isinstance(__obj, Macro):  # a template's own macro may take any value (a count of 125000)
            _check_args(args, kwargs)
        target = getattr(__obj, "__wrapped__", __obj)
        if getattr(target, "__name__", "") in ("format", "format_map"):
            _check_format(getattr(target, "__self__", None))
        return super().call(__context, __obj, *args, **kwargs)

    def concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > MAX_VALUE_CHARS:
            raise SecurityError("joined text too long")
        return "".join(texts)


def make_environment() -> ImmutableSandboxedEnvironment:
    env = SalesbotSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(money=format_money, number=format_number, pct=format_pct, day=format_day, bar=_bar)
    # attr/xmlattr only serve to reach attributes by computed names; no message needs them.
    for name in ("attr", "xmlattr"):
        env.filters.pop(name, None)
    env.filters = {name: _bounded_filter(f, name) for name, f in env.filters.items()}
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
        default = default_source(name, locale if locale in LOCALES else "zh-CN")
        if default is None or default == source:
            return render_source(source, variables)
        try:
            # An admin's version runs under the deadline, like when it was checked.
            return render_source(source, variables, deadline=RENDER_SECONDS)
        except (TemplateError, RecursionError, ArithmeticError, LookupError, TypeError, ValueError):
            # An admin version that no longer fits its data must not silence the bot.
            return render_source(default, variables)
