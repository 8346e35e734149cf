"""Bar charts as inline SVG, rendered on the server.

No JavaScript and no chart library: the pages must print, work without scripts and stay
accessible. The SVG is an image named by its ``<title>`` (``aria-labelledby``) and described
by its ``<desc>`` (``aria-describedby``), and every page that shows a chart also shows the same
numbers in a table, which is the accessible alternative the description points to. Each bar
carries a ``<title>`` with its label and value, shown as a tooltip.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

__all__ = ["Bar", "bar_chart"]

HEIGHT = 240
TOP, BOTTOM, LEFT, RIGHT = 16, 44, 52, 12
MIN_SLOT = 22


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str  # under the bar
    value: float | None  # None: nothing to show (no bar, "–")
    text: str  # the value as people read it ("72 %", "6")


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    max_value: float,
    ticks: Sequence[float],
    tick_label: Callable[[float], str],
) -> Markup:
    """A vertical bar chart; ``ticks`` are the values of the horizontal grid lines."""
    n = max(len(bars), 1)
    slot = max(MIN_SLOT, min(64, 720 // n))
    width = LEFT + RIGHT + slot * n
    plot_h = HEIGHT - TOP - BOTTOM
    top = max_value if max_value > 0 else 1.0
    # Label every k-th bar so that labels never overlap on long series (a 36-week cycle).
    every = max(1, math.ceil(n * 44 / (width - LEFT - RIGHT)))
    show_values = slot >= 30

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    cid = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{cid}-title" aria-describedby="{cid}-desc" viewBox="0 0 {width} {HEIGHT}" '
        f'width="{width}" height="{HEIGHT}" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
    ]
    for tick in ticks:
        ty = _fmt(y(tick))
        parts.append(
            f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{ty}" y2="{ty}" stroke="#d0d0d8" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle" fill="#5a5a64">'
            f"{escape(tick_label(tick))}</text>"
        )
    base = _fmt(y(0))
    parts.append(
        f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{base}" y2="{base}" stroke="#5a5a64" stroke-width="1"/>'
    )
    bar_w = slot * 0.62
    for i, bar in enumerate(bars):
        x = LEFT + slot * i + (slot - bar_w) / 2
        centre = _fmt(LEFT + slot * i + slot / 2)
        if bar.value is not None:
            by = y(bar.value)
            parts.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(by)}" width="{_fmt(bar_w)}" '
                f'height="{_fmt(max(y(0) - by, 0))}" fill="#0b5cad">'
                f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
            )
            if show_values:
                parts.append(
                    f'<text x="{centre}" y="{_fmt(by - 4)}" text-anchor="middle" fill="#1d1d1f">'
                    f"{escape(bar.text)}</text>"
                )
        if i % every == 0:
            parts.append(
                f'<text x="{centre}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="#1d1d1f">'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
