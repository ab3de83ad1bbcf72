"""Charts as inline SVG drawn here (no JavaScript, no image files): styled by console.css, dark mode included."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 8, 8, 24, 32  # room for labels drawn larger on a phone (console.css)


def line_chart(series: Sequence[tuple[str, Sequence[Decimal | None]]], *, labels: tuple[str, str],
               top_label: str, title: str) -> Markup:
    """Lines over the same x positions (None: no point); `series` is (css class, values)."""
    count = max((len(values) for _, values in series), default=0)
    peak = max((float(v) for _, values in series for v in values if v is not None), default=0.0) or 1.0
    inner_w, inner_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (inner_w * i / (count - 1) if count > 1 else inner_w / 2)

    def y(v: float) -> float:
        return PAD_T + inner_h * (1 - v / peak)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + inner_h}" x2="{WIDTH - PAD_R}" y2="{PAD_T + inner_h}"/>']
    for css, values in series:
        points = " ".join(f"{x(i):.1f},{y(float(v)):.1f}" for i, v in enumerate(values) if v is not None)
        if points:
            parts.append(f'<polyline class="{escape(css)}" points="{points}"/>')
    parts.append(f'<text x="{PAD_L}" y="{HEIGHT - 6}">{escape(labels[0])}</text>')
    parts.append(f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 6}" text-anchor="end">{escape(labels[1])}</text>')
    parts.append(f'<text x="{PAD_L}" y="{PAD_T - 5}">{escape(top_label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
