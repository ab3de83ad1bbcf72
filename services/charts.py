"""Charts as PNG bytes (matplotlib, Agg) that speak the team's language.

A CJK font is part of the install: the `noto-cjk-sans-otc` package ships Google's and Adobe's Noto
Sans CJK (OFL-1.1) as one OpenType collection, registered with matplotlib when this module is
imported, so Chinese names render on a machine with no system CJK font. Amounts and axis ticks go
through the same formatter as the text (bot.core.rendering.format_money: 39.7万 in zh-CN,
397,000 in en); the legend's words come from templates/charts/<locale>.json.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from bot.core.rendering import LOCALES, format_money, format_number  # noqa: E402

log = logging.getLogger("salesbot.charts")

# Families that cover Chinese, best first: the packaged Noto Sans CJK SC, then system fonts.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans CJK JP",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
                "Heiti SC", "AR PL UMing CN", "Droid Sans Fallback")
LATIN = "DejaVu Sans"  # matplotlib's own font
ACTUAL_COLOUR, GOAL_COLOUR, GOAL_EDGE = "#2f6fdf", "#d5dbe5", "#3b4455"
_LOCK = threading.Lock()  # matplotlib's font cache and pyplot-free figures are not thread-safe together


def register_packaged_font() -> bool:
    """Add the packaged Noto Sans CJK collection to matplotlib's fonts (all its faces); False if absent."""
    try:
        from noto_cjk_sans_otc import FONT_PATH
    except ImportError:
        return False
    path = str(FONT_PATH)
    if any(entry.fname == path for entry in font_manager.fontManager.ttflist):
        return True
    try:
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("could not load the packaged CJK font %s: %s", path, exc)
        return False
    return True


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Return the name of a font family that covers Chinese, or None (logged once)."""
    register_packaged_font()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    for name in sorted(installed):
        if "CJK" in name or "Han" in name or "Hei" in name:
            return name
    # Installed after matplotlib built its font cache: register the files directly.
    hint = re.compile(r"cjk|wqy|wenquanyi|droidsansfallback|sourcehan|simhei|msyh|pingfang", re.IGNORECASE)
    added = set()
    for path in font_manager.findSystemFonts():
        if hint.search(path.replace("-", "").replace("_", "")):
            try:
                font_manager.fontManager.addfont(path)
                added.add(font_manager.FontProperties(fname=path).get_name())
            except (OSError, RuntimeError, ValueError):
                continue
    for family in CJK_FAMILIES:
        if family in added:
            return family
    if added:
        return sorted(added)[0]
    log.warning("no CJK font found: Chinese names in charts will show as boxes "
                "(reinstall salesbot, which depends on noto-cjk-sans-otc, or install fonts-noto-cjk)")
    return None


@lru_cache(maxsize=len(LOCALES))
def chart_words(locale: str) -> dict[str, str]:
    """Return the chart's words (legend) in a locale, from templates/charts/<locale>.json."""
    locale = locale if locale in LOCALES else "zh-CN"
    words: dict[str, str] = json.loads(files("templates").joinpath("charts", f"{locale}.json").read_text("utf-8"))
    return words


def _dec(value: float) -> Decimal:
    return Decimal(str(float(value)))


def chart_fonts(locale: str) -> list[str]:
    """The font families a chart in this locale asks for, in order (matplotlib falls back glyph by glyph).

    zh-CN: the CJK font first (its Latin is fine); en: matplotlib's own first, the CJK font for any
    Chinese name.
    """
    cjk = cjk_font()
    if cjk is None:
        return [LATIN]
    return [cjk, LATIN] if locale == "zh-CN" else [LATIN, cjk]


def bar_chart(labels: Sequence[str], values: Sequence[Decimal | int | float], *,
              goals: Sequence[Decimal | int | float | None] | None = None, title: str = "", money: bool = False,
              locale: str = "zh-CN", fonts: Sequence[str] | None = None) -> bytes:
    """Return a PNG: one horizontal bar per label, largest first, each with its goal (a wider, pale bar
    behind it, its end marked) where there is one, the figures at the bar's end, the axis and the
    legend in the locale's words and number format. `fonts` overrides chart_fonts(locale) (tests)."""
    with _LOCK, matplotlib.rc_context({"font.family": list(fonts or chart_fonts(locale))}):
        fig = bar_figure(labels, values, goals=goals, title=title, money=money, locale=locale)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


def bar_figure(labels: Sequence[str], values: Sequence[Decimal | int | float], *,
               goals: Sequence[Decimal | int | float | None] | None, title: str, money: bool,
               locale: str) -> Figure:
    """The figure bar_chart() renders (tests read its texts); call it where chart_fonts() is in force."""
    targets = list(goals) if goals is not None else [None] * len(labels)
    rows = sorted(zip(labels, (float(v) for v in values), (None if g is None else float(g) for g in targets),
                      strict=True), key=lambda r: r[1])
    fmt = format_money if money else format_number
    words = chart_words(locale)
    fig = Figure(figsize=(7.0, max(2.4, 0.5 * len(rows) + 1.4)), dpi=110)
    ax = fig.add_subplot()
    ys = range(len(rows))
    has_goal = any(goal is not None for _, _, goal in rows)
    if has_goal:  # a pale bar up to the goal, its end marked so it shows through a longer actual bar
        ax.barh(ys, [goal or 0.0 for _, _, goal in rows], height=0.8, color=GOAL_COLOUR, zorder=1)
        marks = [(y, goal) for y, (_, _, goal) in zip(ys, rows, strict=True) if goal]
        ax.vlines([g for _, g in marks], [y - 0.4 for y, _ in marks], [y + 0.4 for y, _ in marks],
                  colors=GOAL_EDGE, linewidth=1.6, zorder=3)
    bars = ax.barh(ys, [actual for _, actual, _ in rows], height=0.5 if has_goal else 0.7, color=ACTUAL_COLOUR,
                   zorder=2)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([name for name, _, _ in rows])
    if title:
        ax.set_title(title, pad=22)
    peak = max([actual for _, actual, _ in rows] + [goal or 0.0 for _, _, goal in rows], default=0.0)
    ax.set_xlim(0, (peak or 1.0) * 1.3)
    if peak:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=2))
    else:
        ax.set_xticks([0.0])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: fmt(_dec(x), locale)))
    for bar, (_, actual, goal) in zip(bars, rows, strict=True):
        text = fmt(_dec(actual), locale)
        if goal is not None:
            text += " / " + fmt(_dec(goal), locale)
        ax.text(max(actual, goal or 0.0) + (peak or 1.0) * 0.01, bar.get_y() + bar.get_height() / 2, text,
                va="center", fontsize=9)
    handles = [Patch(color=ACTUAL_COLOUR, label=words["actual"])]
    if has_goal:
        handles.append(Patch(facecolor=GOAL_COLOUR, edgecolor=GOAL_EDGE, linewidth=1.2, label=words["goal"]))
    # Above the bars, under the title: never over a bar or its figures.
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(handles), fontsize=8,
              frameon=False, borderaxespad=0.2)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


register_packaged_font()  # at start: the first chart should not pay for it, and a broken install shows in the log
