"""The account page's SVG charts: accessible, well-formed, drawn from the numbers given."""

from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from portfolios.charts import Bar, Series, allocation_chart, normalise, value_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own output


def test_the_allocation_chart_draws_a_bar_per_holding_and_series():
    svg = allocation_chart(
        [
            Bar("VTI", (Decimal("0.62"), Decimal("0.6"))),
            Bar("BND", (Decimal("0.30"), Decimal("0.35")), highlight=True),
            Bar("CASH", (Decimal("0.08"), Decimal("0.05"))),
        ]
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Allocation against target"
    desc = root.find(f"{SVG}desc").text
    assert "VTI: Actual 62.0%, Target 60.0%" in desc and "BND: Actual 30.0%, Target 35.0%" in desc
    bars = root.findall(f"{SVG}rect[@class]")
    assert len([b for b in bars if b.get("class", "").startswith("bar ")]) == 6
    assert "BND ⚠" in svg  # a breach is marked on its label
    assert "Actual" in svg and "Target" in svg  # legend


def test_a_taller_bar_means_a_larger_weight():
    root = parse(allocation_chart([Bar("A", (Decimal("0.8"), Decimal("0.2")))]))
    actual, target = (r for r in root.findall(f"{SVG}rect") if r.get("class", "").startswith("bar "))
    assert Decimal(actual.get("height")) == 4 * Decimal(target.get("height"))


def test_empty_charts_say_so():
    assert "No holdings" in allocation_chart([])
    assert "No valuation history" in value_chart([Series("Account", ())])
    parse(allocation_chart([]))
    parse(value_chart([]))


def test_series_are_normalised_to_100_at_their_first_point():
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(3)]
    assert [v for _, v in normalise(list(zip(days, [Decimal(0), Decimal(50), Decimal(75)], strict=True)))] == [
        Decimal(100),
        Decimal(150),
    ]


def test_the_value_chart_draws_two_lines_with_axes_and_a_legend():
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(120)]
    account = Series("Account", tuple((d, Decimal(1000 + 5 * i)) for i, d in enumerate(days)))
    bench = Series("Benchmark (SPY)", tuple((d, Decimal(400 + i)) for i, d in enumerate(days)))
    svg = value_chart([account, bench])
    root = parse(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    assert all(len(line.get("points").split()) == 120 for line in lines)
    desc = root.find(f"{SVG}desc").text
    assert "Account: 100 on 2025-01-01" in desc and "Benchmark (SPY): 100 on 2025-01-01" in desc
    assert "Jan 2025" in svg  # dated x axis
    assert "Benchmark (SPY)" in svg  # legend
    assert "<script" not in svg and "style=" not in svg  # nothing a strict CSP blocks


def test_labels_are_escaped():
    svg = allocation_chart([Bar("<b>X</b>", (Decimal("0.5"), Decimal("0.5")))])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
