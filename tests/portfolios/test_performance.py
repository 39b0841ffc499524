"""Time-weighted returns by DESIGN.md's formula: r_t = V_t / (V_{t-1} + F_t) - 1, linked."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.engine.performance import (
    ValuePoint,
    annualise,
    as_percent,
    benchmark_return,
    daily_returns,
    link,
    period_return,
    points_from_prices,
    report,
)

D = Decimal
START = date(2024, 1, 1)


def points(*values_and_flows):
    return [
        ValuePoint(date=START + timedelta(days=i), value=D(v), flow=D(f)) for i, (v, f) in enumerate(values_and_flows)
    ]


def test_a_deposit_is_not_counted_as_return():
    # Day 1: 1000 -> 1100 (+10%). Day 2: a 500 deposit at the start, 1600 -> 1680 (+5%).
    series = daily_returns(points(("1000", "0"), ("1100", "0"), ("1680", "500")))
    assert [d.r for d in series] == [D("0.1"), D("0.05")]
    # linked: 1.10 x 1.05 - 1 = 0.155, although the value grew by 68%
    assert series[-1].cumulative == D("0.155")


def test_a_withdrawal_is_a_negative_flow():
    # 2000 -> withdraw 1000 at the start of day 1, end at 990: r = 990 / 1000 - 1 = -1%
    assert period_return(points(("2000", "0"), ("990", "-1000"))) == D("-0.01")


def test_an_empty_starting_capital_gives_a_zero_day():
    assert [d.r for d in daily_returns(points(("0", "0"), ("0", "0"), ("100", "100")))] == [D(0), D(0)]


def test_annualised_return_only_for_periods_over_a_year():
    assert annualise(D("0.21"), 365) is None
    # two years at 21%: (1.21) ** (365/730) - 1 = 0.1 exactly
    assert annualise(D("0.21"), 730).quantize(D("0.000000001")) == D("0.100000000")


def test_report_over_two_years():
    pts = [ValuePoint(START, D(100)), ValuePoint(START + timedelta(days=730), D(121))]
    r = report(pts)
    assert (r.period_return, r.days) == (D("0.21"), 730)
    assert as_percent(r.annualised_return) == D("10.00")


def test_benchmark_return_is_the_price_return_and_equals_its_linked_daily_returns():
    prices = [
        (START, D("26.583992")),
        (START + timedelta(days=1), D("26.773048")),
        (START + timedelta(days=2), D("26.8")),
    ]
    assert benchmark_return(prices) == D("26.8") / D("26.583992") - 1
    assert abs(period_return(points_from_prices(prices)) - benchmark_return(prices)) < D("1e-20")


def test_points_out_of_order_are_refused():
    with pytest.raises(ValueError, match="date order"):
        daily_returns([ValuePoint(START, D(1)), ValuePoint(START, D(2))])


def test_display_rounding_is_half_even():
    assert as_percent(D("0.000125")) == D("0.01")
    assert as_percent(D("0.000135")) == D("0.01")


values = st.decimals(min_value=D("1"), max_value=D("1000000"), places=2, allow_nan=False, allow_infinity=False)
flows = st.decimals(min_value=D("0"), max_value=D("10000"), places=2, allow_nan=False, allow_infinity=False)


@st.composite
def series(draw):
    n = draw(st.integers(min_value=2, max_value=30))
    return [ValuePoint(START + timedelta(days=i), draw(values), draw(flows) if i else D(0)) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(series(), st.data())
def test_a_periods_return_links_from_its_sub_periods(pts, data):
    split = data.draw(st.integers(min_value=1, max_value=len(pts) - 1))
    first, second = pts[: split + 1], pts[split:]
    linked = link([period_return(first), period_return(second)])
    assert abs(linked - period_return(pts)) < D("1e-18")


@settings(max_examples=100, deadline=None)
@given(values, st.integers(min_value=2, max_value=50))
def test_constant_value_and_no_flows_return_zero(value, n):
    pts = [ValuePoint(START + timedelta(days=i), value) for i in range(n)]
    assert period_return(pts) == 0
    assert report(pts).annualised_return in (None, 0)
