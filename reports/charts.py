"""Charts for statements and reports as inline SVG: pure functions of labels and Decimals, no
Django. Text is escaped here, so the markup may be placed in a page or a PDF as it is; colours
are presentation attributes (no inline style, which the pages' CSP refuses)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

PALETTE = ("#1f3a5f", "#4f83b8", "#8fb8de", "#e0a458", "#7a9e7e", "#b56576", "#6d597a", "#999999")


def allocation_svg(slices: Sequence[tuple[str, Decimal]], *, width: int = 460, bar_height: int = 18) -> str:
    """A horizontal bar per (label, weight as a fraction of 1), with the weight as a percentage
    rounded half-even to 0.1 point. An empty allocation is an empty chart that says so."""
    label_width, gap = 150, 6
    height = max(1, len(slices)) * (bar_height + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Allocation">'
    ]
    if not slices:
        parts.append(f'<text x="0" y="{bar_height}" font-size="11" fill="#555">No holdings.</text>')
    room = width - label_width - 60
    for i, (label, weight) in enumerate(slices):
        y = gap + i * (bar_height + gap)
        w = max(Decimal(0), min(Decimal(1), weight))
        bar = int((w * room).to_integral_value(rounding=ROUND_HALF_EVEN))
        pct = (weight * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="0" y="{y + bar_height - 5}" font-size="11" fill="#222">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{bar}" height="{bar_height}" fill="{colour}"/>'
            f'<text x="{label_width + bar + 4}" y="{y + bar_height - 5}" font-size="11" fill="#222">{pct}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
