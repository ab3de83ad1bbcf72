"""Admin versions of message templates: safety checks, samples, versions, rollback."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from importlib.resources import files
from types import TracebackType
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SecurityError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.core.rendering import (
    LOCALES,
    MAX_TEMPLATE_CHARS,
    RENDER_SECONDS,
    RenderTimeout,
    compile_template,
    default_names,
    default_source,
    make_environment,
    render_source,
)
from models import Person, TemplateVersion

__all__ = [
    "Reason",
    "TemplateRejected",
    "UnknownTemplate",
    "current_source",
    "current_version",
    "history",
    "is_known",
    "load_sample",
    "parse_locales",
    "render_checked",
    "rollback",
    "save",
    "sample_context",
    "save_version",
    "template_names",
    "validate",
    "variables_of",
]

# Names a template injection reaches for; none is ever passed to a template.
DANGEROUS_NAMES = frozenset({
    "self", "range", "lipsum", "cycler", "joiner", "namespace", "dict", "config", "request",
    "session", "g", "url_for", "get_flashed_messages", "os", "sys", "builtins", "__builtins__",
    "import", "eval", "exec", "open", "getattr", "globals", "locals", "vars", "type", "object",
    "environment", "context", "caller_globals",
})
# Attributes that lead from a value to the interpreter, or build huge values.
DANGEROUS_ATTRS = frozenset({
    "mro", "format", "format_map", "func_globals", "f_globals", "f_locals", "f_back", "gi_frame", "gi_code",
    "cr_frame", "ag_frame", "tb_frame", "co_code", "im_func", "func_code", "environment", "ljust", "rjust",
    "center", "zfill", "expandtabs", "from_string", "get_template", "globals", "subclasses", "popen",
})
BLOCKED_FILTERS = frozenset({"attr", "xmlattr"})
ALWAYS_AVAILABLE = frozenset({"locale", "currency"})
LOCALE_WORDS = {
    "zh-cn": ("zh-CN",), "zh": ("zh-CN",), "cn": ("zh-CN",), "中文": ("zh-CN",),
    "en": ("en",), "english": ("en",), "英文": ("en",),
    "all": LOCALES, "both": LOCALES, "全部": LOCALES, "所有": LOCALES,
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?$")
_UNDEFINED = re.compile(r"'([^']+)' is undefined")
_NO_ATTR = re.compile(r"has no attribute '([^']+)'")
_CHECK_ENV = make_environment()


class Reason(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    SYNTAX = "syntax"
    UNKNOWN_VARIABLE = "unknown_variable"
    UNSAFE = "unsafe"
    NO_INCLUDE = "no_include"
    TIMEOUT = "timeout"
    OUTPUT_TOO_LONG = "output_too_long"
    RECURSION = "recursion"
    RENDER = "render"
    NO_SAMPLE = "no_sample"


class TemplateRejected(Exception):
    """A new template text that may not be saved: why, on which line, in which locale."""

    def __init__(self, reason: Reason, line: int | None = None, *, detail: str = "",
                 locale: str | None = None) -> None:
        super().__init__(f"{reason}: {detail} (line {line})")
        self.reason = reason
        self.line = line
        self.detail = detail
        self.locale = locale

    def as_dict(self) -> dict[str, Any]:
        """Return plain data for the `template_refused` template."""
        return {"reason": str(self.reason), "line": self.line, "detail": self.detail[:200],
                "locale": self.locale or ""}


class UnknownTemplate(LookupError):
    """No template has this name."""


# -- names, samples, variables ---------------------------------------------------------------

def template_names() -> list[str]:
    """Return every template name shipped in either locale."""
    names: set[str] = set(default_names())
    for locale in LOCALES:
        folder = files("templates").joinpath(locale)
        names.update(p.name.removesuffix(".j2") for p in folder.iterdir() if p.name.endswith(".j2"))
    return sorted(names)


def is_known(name: str) -> bool:
    """Say whether a template of that name ships with the bot (a listed name: never a path, never a NUL)."""
    return name in template_names()


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return value
        if _ISO_DATETIME.match(value):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
    return value


def load_sample(name: str) -> dict[str, Any] | None:
    """Return the sample variables of a template (ISO dates as dates, decimals as Decimal)."""
    path = files("templates").joinpath("samples", f"{name}.json")
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    data = json.loads(text, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ValueError(f"sample of {name} is not a JSON object")
    revived: dict[str, Any] = _revive(data)
    return revived


def sample_context(name: str, locale: str, *, currency: str = "CNY") -> dict[str, Any] | None:
    """Return the variables a template is checked and previewed with, or None without a sample."""
    sample = load_sample(name)
    if sample is None:
        return None
    return {"currency": currency, **sample, "locale": locale}


def _undeclared(source: str | None) -> set[str]:
    if source is None:
        return set()
    try:
        return set(meta.find_undeclared_variables(_CHECK_ENV.parse(source)))
    except TemplateSyntaxError:
        return set()


def variables_of(name: str) -> list[str]:
    """Return the variables a template may use: its sample's keys and what the defaults use."""
    names = set(ALWAYS_AVAILABLE)
    sample = load_sample(name)
    if sample is not None:
        names.update(sample)
    for locale in LOCALES:
        names.update(_undeclared(default_source(name, locale)))
    return sorted(n for n in names if not n.startswith("_"))


# -- validation ------------------------------------------------------------------------------

def _walk(node: nodes.Node) -> Any:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _static_check(body: str, allowed: set[str]) -> None:
    """Refuse, before running anything, what reaches for internals or outside files."""
    try:
        tree = _CHECK_ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(Reason.SYNTAX, exc.lineno, detail=exc.message or str(exc)) from None
    for node in _walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            raise TemplateRejected(Reason.NO_INCLUDE, line, detail=type(node).__name__.lower())
        if isinstance(node, nodes.Getattr) and (node.attr.startswith("_") or node.attr in DANGEROUS_ATTRS):
            raise TemplateRejected(Reason.UNSAFE, line, detail=node.attr)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str) \
                and (node.arg.value.startswith("_") or node.arg.value in DANGEROUS_ATTRS):
            raise TemplateRejected(Reason.UNSAFE, line, detail=node.arg.value)
        if isinstance(node, nodes.Const) and isinstance(node.value, str | bytes):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if "__" in text:
                raise TemplateRejected(Reason.UNSAFE, line, detail=text[:40])
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name == "self":
            raise TemplateRejected(Reason.UNSAFE, line, detail="self")
        if isinstance(node, nodes.Filter) and node.name in BLOCKED_FILTERS:
            raise TemplateRejected(Reason.UNSAFE, line, detail=f"|{node.name}")
        if isinstance(node, nodes.Filter | nodes.Test) and node.name.startswith("_"):
            raise TemplateRejected(Reason.UNSAFE, line, detail=node.name)
    try:
        # compiles the tree: an unknown filter fails here (found by tests/reliability/test_fuzz.py)
        unknown = set(meta.find_undeclared_variables(tree)) - allowed
    except TemplateSyntaxError as exc:
        raise TemplateRejected(Reason.SYNTAX, exc.lineno, detail=exc.message or str(exc)) from None
    unsafe = {n for n in unknown if n in DANGEROUS_NAMES or n.startswith("_")}
    if unsafe:
        first = min(unsafe, key=lambda n: (_name_line(tree, n), n))
        raise TemplateRejected(Reason.UNSAFE, _name_line(tree, first), detail=first)
    if unknown:
        first = min(unknown, key=lambda n: (_name_line(tree, n), n))
        raise TemplateRejected(Reason.UNKNOWN_VARIABLE, _name_line(tree, first), detail=first)


def _name_line(tree: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name == name]
    return min(lines) if lines else 1


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_checked(body: str, context: dict[str, Any], locale: str) -> str:
    """Render an admin text under the time limit; TemplateRejected (with the line) when it fails."""
    try:
        return render_source(body, context, deadline=RENDER_SECONDS)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(Reason.SYNTAX, exc.lineno, detail=exc.message or "", locale=locale) from None
    except RenderTimeout as exc:
        raise TemplateRejected(Reason.TIMEOUT, _template_line(exc.__traceback__), locale=locale) from None
    except SecurityError as exc:
        raise TemplateRejected(Reason.UNSAFE, _template_line(exc.__traceback__), detail=str(exc),
                               locale=locale) from None
    except UndefinedError as exc:
        text = str(exc)
        found = _UNDEFINED.search(text) or _NO_ATTR.search(text)
        raise TemplateRejected(Reason.UNKNOWN_VARIABLE, _template_line(exc.__traceback__),
                               detail=found.group(1) if found else text, locale=locale) from None
    except RecursionError as exc:
        raise TemplateRejected(Reason.RECURSION, _template_line(exc.__traceback__), locale=locale) from None
    except TemplateError as exc:
        if "longer than" in str(exc):
            raise TemplateRejected(Reason.OUTPUT_TOO_LONG, None, detail=str(exc), locale=locale) from None
        raise TemplateRejected(Reason.RENDER, _template_line(exc.__traceback__), detail=str(exc),
                               locale=locale) from None
    except Exception as exc:  # noqa: BLE001 - whatever a template does wrong, it is refused, not raised
        raise TemplateRejected(Reason.RENDER, _template_line(exc.__traceback__),
                               detail=f"{type(exc).__name__}: {exc}"[:200], locale=locale) from None


def validate(name: str, body: str, locales: tuple[str, ...] | list[str], *, currency: str = "CNY") -> None:
    """Refuse (TemplateRejected) a text that does not compile, render safely and in time in every locale."""
    if not body.strip():
        raise TemplateRejected(Reason.EMPTY)
    if len(body) > MAX_TEMPLATE_CHARS:
        raise TemplateRejected(Reason.TOO_LONG, None, detail=str(MAX_TEMPLATE_CHARS))
    if load_sample(name) is None:
        raise TemplateRejected(Reason.NO_SAMPLE, None, detail=name)
    allowed = set(variables_of(name))
    _static_check(body, allowed)
    try:
        compile_template(body)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(Reason.SYNTAX, exc.lineno, detail=exc.message or "") from None
    except TemplateError as exc:
        raise TemplateRejected(Reason.SYNTAX, None, detail=str(exc)) from None
    for locale in locales:
        context = sample_context(name, locale, currency=currency)
        assert context is not None
        render_checked(body, context, locale)


def parse_locales(word: str | None, default: str) -> tuple[str, ...] | None:
    """Turn a LOCALE argument (zh-CN / en / all, or nothing) into locales; None if not one."""
    if word is None or word == "":
        return (default if default in LOCALES else LOCALES[0],)
    return LOCALE_WORDS.get(word.strip().casefold())


# -- versions --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Current:
    body: str
    version: int  # 0: the shipped default


def current_version(*, session: Session, name: str, locale: str) -> Current:
    """Return the text in use for a template and locale, and its version (0 = default)."""
    row = session.scalar(
        select(TemplateVersion).where(TemplateVersion.name == name, TemplateVersion.locale == locale)
        .order_by(TemplateVersion.version.desc()).limit(1)
    )
    if row is not None:
        return Current(row.body, row.version)
    body = default_source(name, locale)
    if body is None:
        raise UnknownTemplate(name)
    return Current(body, 0)


def current_source(*, session: Session, name: str, locale: str) -> str:
    """Return the text in use for a template and locale."""
    return current_version(session=session, name=name, locale=locale).body


def save_version(*, session: Session, name: str, locale: str, body: str, author: Person | None,
                 now: datetime) -> TemplateVersion:
    """Store a new version (already validated) as the newest one for that name and locale."""
    if not is_known(name):
        raise UnknownTemplate(name)
    latest = session.scalar(
        select(func.max(TemplateVersion.version))
        .where(TemplateVersion.name == name, TemplateVersion.locale == locale)
    )
    row = TemplateVersion(name=name, locale=locale, version=(latest or 0) + 1, body=body,
                          author_id=author.id if author is not None else None, created_at=now)
    session.add(row)
    session.flush()
    return row


def save(*, session: Session, name: str, locales: tuple[str, ...] | list[str], body: str, author: Person | None,
         now: datetime, currency: str = "CNY") -> list[TemplateVersion]:
    """Check a new text (TemplateRejected if refused: nothing stored) and store it in each locale.

    The one way a text is saved, from chat (`/template save`, Slack's form) and from the console.
    """
    validate(name, body, locales, currency=currency)
    return [save_version(session=session, name=name, locale=locale, body=body, author=author, now=now)
            for locale in locales]


def history(*, session: Session, name: str, limit: int = 30) -> list[TemplateVersion]:
    """Return the stored versions of a template, newest first, every locale."""
    return list(session.scalars(
        select(TemplateVersion).where(TemplateVersion.name == name)
        .options(selectinload(TemplateVersion.author))
        .order_by(TemplateVersion.created_at.desc(), TemplateVersion.version.desc(), TemplateVersion.id.desc())
        .limit(limit)
    ))


def version_body(*, session: Session, name: str, locale: str, version: int) -> str | None:
    """Return the text of one version (0 = the shipped default), or None if there is none."""
    if version == 0:
        return default_source(name, locale)
    return session.scalar(
        select(TemplateVersion.body).where(TemplateVersion.name == name, TemplateVersion.locale == locale,
                                           TemplateVersion.version == version)
    )


def rollback(*, session: Session, name: str, version: int, locales: tuple[str, ...], author: Person | None,
             now: datetime, currency: str = "CNY") -> list[TemplateVersion]:
    """Restore an old version as a new one in each locale; LookupError if one is missing."""
    bodies: dict[str, str] = {}
    for locale in locales:
        body = version_body(session=session, name=name, locale=locale, version=version)
        if body is None:
            raise LookupError(locale)
        bodies[locale] = body
    for locale, body in bodies.items():
        if version != 0:
            validate(name, body, (locale,), currency=currency)
    return [save_version(session=session, name=name, locale=locale, body=body, author=author, now=now)
            for locale, body in bodies.items()]
