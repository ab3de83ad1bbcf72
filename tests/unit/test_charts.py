"""The weekly chart on a plain install: Chinese names in the packaged CJK font, the team's locale."""

from __future__ import annotations

import logging
import warnings
from decimal import Decimal

import matplotlib
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg

from services.charts import LATIN, bar_chart, bar_figure, chart_fonts, cjk_font

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["张伟", "李娜", "陈建林", "欧阳娜娜", "Bob Smith"]
ACTUALS = [Decimal(180000), Decimal(120000), Decimal(90000), Decimal(0), Decimal(397000)]
GOALS = [Decimal("95238.10"), Decimal("95238.10"), None, Decimal("95238.10"), Decimal("95238.10")]


def test_chinese_names_render_in_the_packaged_font_without_a_missing_glyph(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="matplotlib")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a UserWarning: here an error
        png = bar_chart(NAMES, ACTUALS, goals=GOALS, title="上海一组 2026-11-16 – 2026-11-22 · 签约", money=True,
                        locale="zh-CN")
        english = bar_chart(NAMES, ACTUALS, goals=GOALS, title="North Team · signed", money=True, locale="en")
    assert png.startswith(PNG) and english.startswith(PNG) and len(png) > 5000
    assert not [r for r in caplog.records if "missing from" in r.getMessage() or "not found" in r.getMessage()]
    # The font comes with the install (noto-cjk-sans-otc), not from the machine (CI installs a system CJK font for
    # the browser tests only; the chart must not lean on it).
    assert cjk_font() == "Noto Sans CJK SC"
    assert any(str(entry.fname).endswith("NotoSansCJK-Regular.ttc") for entry in font_manager.fontManager.ttflist)
    assert chart_fonts("zh-CN") == ["Noto Sans CJK SC", LATIN] and chart_fonts("en") == [LATIN, "Noto Sans CJK SC"]
    # The check can fail: without the CJK font the same names are missing glyphs.
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="missing from font"):
        warnings.simplefilter("error")
        bar_chart(NAMES, ACTUALS, money=True, locale="zh-CN", fonts=[LATIN])


def _texts(locale: str, *, money: bool = True) -> tuple[list[str], list[str], list[str]]:
    """(x tick labels, figures beside the bars, legend) of a drawn chart."""
    with matplotlib.rc_context({"font.family": chart_fonts(locale)}):
        fig = bar_figure(NAMES, ACTUALS, goals=GOALS, title="", money=money, locale=locale)
        FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    return ([t.get_text() for t in ax.get_xticklabels()], [t.get_text() for t in ax.texts],
            [t.get_text() for t in legend.get_texts()])


def test_the_chart_speaks_the_team_locale_and_shows_each_goal() -> None:
    ticks, figures, legend = _texts("zh-CN")
    assert ticks[0] == "0" and all(t.endswith("万") for t in ticks[1:]), ticks  # 10万, 20万 ... not 100000
    assert "39.7万 / 9.52万" in figures and "9万" in figures and "0 / 9.52万" in figures, figures
    assert legend == ["实际", "目标"]
    ticks, figures, legend = _texts("en")
    assert all("k" not in t and "万" not in t for t in ticks) and any("," in t for t in ticks), ticks
    assert "397,000 / 95,238" in figures and "90,000" in figures, figures
    assert legend == ["Actual", "Goal"]
    ticks, figures, _ = _texts("zh-CN", money=False)  # counts (visits...): plain numbers, never 万
    assert "90,000" in figures and not any("万" in t for t in ticks + figures), (ticks, figures)
