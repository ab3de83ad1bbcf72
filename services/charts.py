"""Charts as PNG bytes (matplotlib, Agg), with a CJK font so Chinese names are legible."""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

log = logging.getLogger("salesbot.charts")

# Families that cover Chinese, best first (Noto CJK ships in the Docker image).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
                "Heiti SC", "AR PL UMing CN", "Droid Sans Fallback")
_LOCK = threading.Lock()  # matplotlib's font cache is not thread-safe


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Return the name of an installed font family that covers Chinese, or None (logged once)."""
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
                "(install fonts-noto-cjk or another CJK font)")
    return None


def bar_chart(labels: Sequence[str], values: Sequence[Decimal | int | float], *, title: str = "",
              money: bool = False) -> bytes:
    """Return a PNG: one horizontal bar per label, largest first, with the value at the bar's end."""
    pairs = sorted(zip(labels, (float(v) for v in values), strict=True), key=lambda p: p[1])
    height = max(2.4, 0.45 * len(pairs) + 1.2)
    family = cjk_font()
    with _LOCK:
        fig = Figure(figsize=(7.0, height), dpi=110)
        ax = fig.add_subplot()
        fonts = {"fontfamily": [family, "DejaVu Sans"]} if family else {}
        names = [p[0] for p in pairs]
        nums = [p[1] for p in pairs]
        bars = ax.barh(range(len(pairs)), nums, color="#2f6fdf")
        ax.set_yticks(range(len(pairs)))
        ax.set_yticklabels(names, **fonts)
        if title:
            ax.set_title(title, **fonts)
        peak = max(nums, default=0.0) or 1.0
        ax.set_xlim(0, peak * 1.2)
        for bar, value in zip(bars, nums, strict=True):
            ax.text(bar.get_width() + peak * 0.01, bar.get_y() + bar.get_height() / 2, _short(value, money),
                    va="center", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


def _short(value: float, money: bool) -> str:
    if not money:
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if abs(value) >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:,.0f}"
