"""Server-rendered bar charts: the geometry of horizontal bars, drawn as inline SVG by the page template.

No JavaScript and nothing from a CDN: the template ``_bars.html`` turns a :class:`BarChart` into ``<svg>``
whose ``viewBox`` scales to a phone's width. Colours come from CSS classes (``bar-open``, ``bar-overdue``,
``bar-share``) in ``web/static/style.css``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 600
LABEL_HEIGHT = 18
BAR_HEIGHT = 14
GAP = 10
VALUE_SPACE = 60


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    text: str
    text_x: float


@dataclass
class Row:
    label: str
    label_y: float
    bars: list[Bar] = field(default_factory=list)


@dataclass
class BarChart:
    title: str
    width: int
    height: int
    rows: list[Row]
    legend: list[tuple[str, str]]  # (css class, label)


def horizontal_bars(title: str, rows: list[tuple[str, list[tuple[float, str, str]]]],
                    legend: list[tuple[str, str]], max_value: float | None = None) -> BarChart:
    """Lay out rows of bars: ``rows`` = ``[(label, [(value, css class, value text), ...]), ...]``.

    Each row is its label above one bar per series; bar lengths are scaled to ``max_value`` (default: the
    largest value, at least 1).
    """
    top = max((v for _, bars in rows for v, _, _ in bars), default=0)
    scale_max = max_value if max_value is not None else max(top, 1)
    usable = WIDTH - VALUE_SPACE
    y = 0.0
    laid_out = []
    for label, bars in rows:
        row = Row(label=label, label_y=y + LABEL_HEIGHT - 4)
        y += LABEL_HEIGHT
        for value, css, text in bars:
            width = usable * (value / scale_max) if scale_max else 0
            row.bars.append(Bar(x=0, y=y, width=round(max(width, 1 if value else 0), 1), height=BAR_HEIGHT, css=css,
                                text=text, text_x=round(max(width, 1) + 6, 1)))
            y += BAR_HEIGHT + 2
        y += GAP
        laid_out.append(row)
    return BarChart(title=title, width=WIDTH, height=int(max(y, 20)), rows=laid_out, legend=legend)
