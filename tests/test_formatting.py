"""The portal's one display rule for money, prices, percentages and quantities (kronos.formatting),
and that every template uses it."""

import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.template import engines

from kronos import formatting

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize(
    "value, currency, shown",
    [
        (D("39528"), "USD", "$39,528.00"),
        (D("39528.005"), "USD", "$39,528.00"),  # half-even at the cent
        (D("39528.015"), "USD", "$39,528.02"),
        (D("-1250.5"), "USD", "−$1,250.50"),
        (D("-0.001"), "USD", "$0.00"),  # no negative zero
        ("4950.00", "USD", "$4,950.00"),  # JSON snapshots keep decimals as strings
        (D("12"), "EUR", "EUR 12.00"),
        (None, "USD", "—"),
        ("", "USD", "—"),
        ("n/a", "USD", "—"),
    ],
)
def test_money(value, currency, shown):
    assert formatting.money(value, currency) == shown


@pytest.mark.parametrize(
    "value, shown",
    [(D("187.1234"), "$187.1234"), (D("187.1"), "$187.10"), (D("200.000000"), "$200.00"), (D("1234.5"), "$1,234.50")],
)
def test_prices_keep_their_decimals_up_to_four(value, shown):
    assert formatting.price(value) == shown


@pytest.mark.parametrize(
    "value, signed, shown",
    [
        (D("0.0958"), False, "9.58%"),
        ("0.0958", True, "+9.58%"),
        (D("-0.031"), True, "−3.10%"),
        (D("0.00005"), True, "0.00%"),  # half-even: 0.005% -> 0.00%, and no sign on zero
        (D("1"), False, "100.00%"),
        (D("12.3456"), False, "1,234.56%"),
    ],
)
def test_percent(value, signed, shown):
    assert formatting.percent(value, signed=signed) == shown


@pytest.mark.parametrize(
    "value, shown",
    [
        (D("100"), "100"),  # Decimal.normalize() would show 1E+2
        (D("2.500000000"), "2.5"),
        (D("0.000000001"), "0.000000001"),  # the ninth decimal of a real fraction is kept
        (D("1234567.123456789"), "1,234,567.123456789"),
        (D("-3.10"), "−3.1"),
        (D("0E-9"), "0"),
    ],
)
def test_quantity_is_exact_without_trailing_zeros(value, shown):
    assert formatting.quantity(value) == shown


def test_the_filters_are_in_every_template_without_a_load():
    template = engines["django"].from_string(
        "{{ a|money }} {{ a|money:'EUR' }} {{ p|price }} {{ d|percent }} {{ d|signed_percent }} {{ q|quantity }} {{ b|number }}"
    )
    out = template.render(
        {"a": D("39528"), "p": D("187.1234"), "d": D("0.0958"), "q": D("2.500000000"), "b": D("87.1234")}
    )
    assert out == "$39,528.00 EUR 39,528.00 $187.1234 9.58% +9.58% 2.5 87.12"


OLD_FORMS = [
    (re.compile(r"\.normalize\b"), "Decimal.normalize (shows 1E+2)"),
    (re.compile(r"\|\s*floatformat"), "floatformat (a float's rounding, no currency)"),
    (re.compile(r"\|\s*intcomma"), "intcomma"),
    (re.compile(r"\{\{\s*[\w.]+\s*\}\}\s*\{\{\s*[\w.]*currency\s*\}\}"), "an amount then its currency code"),
    (re.compile(r"\$\{\{"), "a hand-written dollar sign"),
]


def test_no_template_formats_numbers_its_own_way():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, what in OLD_FORMS:
                if pattern.search(line) and "duration_seconds" not in line:  # seconds, not money
                    found.append(f"{path.relative_to(TEMPLATES)}:{number}: {what}")
    assert found == []
