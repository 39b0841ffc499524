"""Server-side SVG charts for the account page: pure functions, no ORM, no JavaScript.

- `allocation_chart` — a grouped bar chart, actual against target weight per holding;
- `value_chart` — a line chart of two (or more) series normalised to 100 at their first
  point (the account's value and its benchmark), with axes, labels and a legend.

Each returns an `<svg>` string with `role="img"`, a `<title>` and a `<desc>` (what a
screen reader says), sized by its viewBox so it scales with the page. Colours come from
classes styled in static/css/kronos.css (plus presentation attributes as a fallback):
nothing inline a strict CSP would block. Geometry is done in Decimal and written to one
place, so no float ever meets a weight or an amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from html import escape

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_ONE_PLACE = Decimal("0.1")

#: Series colours (fallbacks; the CSS classes series-0.. override them).
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444")


@dataclass(frozen=True, slots=True)
class Bar:
    """One category of the grouped bar chart: a label and its value per series."""

    label: str
    values: tuple[Decimal, ...]
    highlight: bool = False  # e.g. a holding whose drift breaches its band


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: tuple[tuple[date, Decimal], ...]


def _n(value: Decimal) -> str:
    """A coordinate written to one decimal place."""
    text = f"{value.quantize(_ONE_PLACE, rounding=ROUND_HALF_EVEN):f}"
    return text[:-2] if text.endswith(".0") else text


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * HUNDRED).quantize(_ONE_PLACE, rounding=ROUND_HALF_EVEN):f}%"


def _nice_step(span: Decimal, ticks: int = 5) -> Decimal:
    """A round tick step (1, 2 or 5 times a power of ten) covering `span` in about `ticks` steps."""
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    exponent = raw.adjusted()
    base = Decimal(1).scaleb(exponent)
    for factor in (Decimal(1), Decimal(2), Decimal(5), Decimal(10)):
        if base * factor >= raw:
            return base * factor
    return base * 10  # pragma: no cover


def _open(*, width: int, height: int, title: str, desc: str, css_class: str, chart_id: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _empty(*, title: str, message: str, css_class: str, chart_id: str, width: int = 640, height: int = 120) -> str:
    parts = _open(width=width, height=height, title=title, desc=message, css_class=css_class, chart_id=chart_id)
    parts.append(
        f'<text class="chart-empty" x="{width // 2}" y="{height // 2}" text-anchor="middle">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def allocation_chart(
    bars: Sequence[Bar],
    *,
    series_labels: tuple[str, ...] = ("Actual", "Target"),
    title: str = "Allocation against target",
    chart_id: str = "allocation-chart",
    width: int = 640,
    height: int = 280,
) -> str:
    """A grouped bar chart of weights (fractions of 1), one group per holding, one bar per series."""
    if not bars:
        return _empty(title=title, message="No holdings and no target yet.", css_class="bar-chart", chart_id=chart_id)
    left, right, top, bottom = 48, 12, 28, 44
    plot_w, plot_h = Decimal(width - left - right), Decimal(height - top - bottom)
    top_value = max((v for bar in bars for v in bar.values), default=ZERO)
    step = _nice_step(max(top_value, Decimal("0.05")), 5)
    y_max = (max(top_value, Decimal("0.05")) / step).to_integral_value(rounding=ROUND_CEILING) * step

    def y(value: Decimal) -> Decimal:
        return Decimal(top) + plot_h - (value / y_max) * plot_h

    desc = "; ".join(
        f"{bar.label}: "
        + ", ".join(f"{name} {_percent(v)}" for name, v in zip(series_labels, bar.values, strict=False))
        for bar in bars
    )
    parts = _open(width=width, height=height, title=title, desc=desc, css_class="bar-chart", chart_id=chart_id)
    # Horizontal grid and the y axis labels.
    tick = ZERO
    while tick <= y_max:
        ty = _n(y(tick))
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text class="axis-label" x="{left - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle">'
            f"{_percent(tick).replace('.0%', '%')}</text>"
        )
        tick += step
    group_w = plot_w / len(bars)
    n_series = max(len(bar.values) for bar in bars)
    bar_w = min(group_w * Decimal("0.8") / n_series, Decimal(36))
    for i, bar in enumerate(bars):
        group_x = Decimal(left) + group_w * i
        first_x = group_x + (group_w - bar_w * n_series) / 2
        for s, value in enumerate(bar.values):
            bx, by = first_x + bar_w * s, y(value)
            label = f"{bar.label} {series_labels[s] if s < len(series_labels) else s}: {_percent(value)}"
            parts.append(
                f'<rect class="bar series-{s}" x="{_n(bx)}" y="{_n(by)}" width="{_n(bar_w - 1)}" '
                f'height="{_n(Decimal(top) + plot_h - by)}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(label)}</title></rect>"
            )
        label_class = "axis-label breach" if bar.highlight else "axis-label"
        parts.append(
            f'<text class="{label_class}" x="{_n(group_x + group_w / 2)}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(bar.label)}{" ⚠" if bar.highlight else ""}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{_n(y(ZERO))}" y2="{_n(y(ZERO))}" stroke="#6b7280"/>'
    )
    parts.extend(_legend(series_labels[:n_series], x=left, y=14))
    parts.append("</svg>")
    return "".join(parts)


def _legend(labels: Sequence[str], *, x: int, y: int) -> list[str]:
    parts = ['<g class="legend">']
    offset = x
    for i, label in enumerate(labels):
        parts.append(
            f'<rect class="swatch series-{i}" x="{offset}" y="{y - 9}" width="12" height="12" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text class="legend-label" x="{offset + 16}" y="{y + 1}">{escape(label)}</text>'
        )
        offset += 24 + 8 * len(label)
    parts.append("</g>")
    return parts


def normalise(points: Sequence[tuple[date, Decimal]]) -> tuple[tuple[date, Decimal], ...]:
    """The series rebased to 100 at its first non-zero point (earlier zero points are dropped)."""
    start = next((i for i, (_, v) in enumerate(points) if v), None)
    if start is None:
        return ()
    base = points[start][1]
    return tuple((d, v / base * HUNDRED) for d, v in points[start:])


def value_chart(
    series: Sequence[Series],
    *,
    title: str = "Value over time against the benchmark",
    chart_id: str = "value-chart",
    width: int = 640,
    height: int = 280,
) -> str:
    """A line chart of each series normalised to 100 at its first point, dates along the x axis."""
    normalised = [(s.label, normalise(s.points)) for s in series]
    normalised = [(label, pts) for label, pts in normalised if len(pts) >= 1]
    if not normalised:
        return _empty(title=title, message="No valuation history yet.", css_class="line-chart", chart_id=chart_id)
    left, right, top, bottom = 48, 12, 28, 36
    plot_w, plot_h = Decimal(width - left - right), Decimal(height - top - bottom)
    all_dates = [d for _, pts in normalised for d, _ in pts]
    all_values = [v for _, pts in normalised for _, v in pts]
    first_day, last_day = min(all_dates), max(all_dates)
    day_span = Decimal(max((last_day - first_day).days, 1))
    low, high = min(all_values), max(all_values)
    step = _nice_step(max(high - low, Decimal(1)), 4)
    y_min = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    y_max = (high / step).to_integral_value(rounding=ROUND_CEILING) * step
    if y_max == y_min:
        y_max = y_min + step

    def x(day: date) -> Decimal:
        return Decimal(left) + Decimal((day - first_day).days) / day_span * plot_w

    def y(value: Decimal) -> Decimal:
        return Decimal(top) + plot_h - (value - y_min) / (y_max - y_min) * plot_h

    desc = "; ".join(
        f"{label}: {_n(pts[0][1])} on {pts[0][0].isoformat()} to {_n(pts[-1][1])} on {pts[-1][0].isoformat()}"
        for label, pts in normalised
    )
    parts = _open(width=width, height=height, title=title, desc=desc, css_class="line-chart", chart_id=chart_id)
    tick = y_min
    while tick <= y_max:
        ty = _n(y(tick))
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text class="axis-label" x="{left - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle">'
            f"{_n(tick)}</text>"
        )
        tick += step
    ticks = _date_ticks(first_day, last_day)
    for day in ticks:
        anchor = "end" if day == ticks[-1] and len(ticks) > 1 else "middle"
        parts.append(
            f'<text class="axis-label" x="{_n(x(day))}" y="{height - bottom + 18}" text-anchor="{anchor}">'
            f"{day.strftime('%b %Y') if (last_day - first_day).days > 62 else day.strftime('%b %d')}</text>"
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#6b7280"/>')
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#6b7280"/>'
    )
    for i, (label, pts) in enumerate(normalised):
        colour = PALETTE[i % len(PALETTE)]
        if len(pts) == 1:
            parts.append(
                f'<circle class="series series-{i}" cx="{_n(x(pts[0][0]))}" cy="{_n(y(pts[0][1]))}" r="3" '
                f'fill="{colour}"><title>{escape(label)}</title></circle>'
            )
            continue
        path = " ".join(f"{_n(x(d))},{_n(y(v))}" for d, v in pts)
        parts.append(
            f'<polyline class="series series-{i}" points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(label)}</title></polyline>"
        )
    parts.extend(_legend([label for label, _ in normalised], x=left, y=14))
    parts.append("</svg>")
    return "".join(parts)


def _date_ticks(first: date, last: date, count: int = 5) -> list[date]:
    span = (last - first).days
    if span <= 0:
        return [first]
    return [date.fromordinal(first.toordinal() + span * i // (count - 1)) for i in range(count)]
