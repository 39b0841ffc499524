"""Money-weighted return, gross of fees, blended benchmarks and household TWR: known answers."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portfolios.engine.performance import (
    CashFlow,
    ValuePoint,
    blended_index,
    combine,
    daily_returns,
    describe_blend,
    gross_of_fees,
    money_weighted_return,
    period_return,
    xirr,
)

D = Decimal


def _float_xirr(flows):
    """An independent XIRR: plain floats, bisection only, on [-0.99, 10]."""
    first = flows[0][0]

    def npv(rate):
        return sum(amount / (1 + rate) ** ((d - first).days / 365) for d, amount in flows)

    low, high = -0.99, 10.0
    for _ in range(200):
        mid = (low + high) / 2
        if (npv(mid) > 0) == (npv(low) > 0):
            low = mid
        else:
            high = mid
    return (low + high) / 2


TEXTBOOK = [  # the series in Excel's XIRR documentation: 37.336254%
    (date(2008, 1, 1), -10000),
    (date(2008, 3, 1), 2750),
    (date(2008, 10, 30), 4250),
    (date(2009, 2, 15), 3250),
    (date(2009, 4, 1), 2750),
]


def test_xirr_of_the_textbook_series_matches_an_independent_bisection_to_1e_6():
    rate = xirr([CashFlow(d, D(a)) for d, a in TEXTBOOK])
    assert isinstance(rate, Decimal)
    assert abs(float(rate) - _float_xirr(TEXTBOOK)) < 1e-6
    assert abs(rate - D("0.373362535")) < D("1e-6")


def test_xirr_of_a_losing_series_and_of_one_year_exactly():
    flows = [(date(2023, 1, 1), -1000), (date(2023, 7, 1), -500), (date(2024, 6, 30), 1200)]
    rate = xirr([CashFlow(d, D(a)) for d, a in flows])
    assert rate < 0
    assert abs(float(rate) - _float_xirr(flows)) < 1e-6
    # 100 in, 110 out 365 days later: 10% exactly (to the tolerance)
    assert abs(xirr([CashFlow(date(2023, 1, 1), D(-100)), CashFlow(date(2024, 1, 1), D(110))]) - D("0.1")) < D("1e-12")


def test_xirr_without_a_sign_change_has_no_root():
    assert xirr([CashFlow(date(2023, 1, 1), D(-100)), CashFlow(date(2023, 2, 1), D(-1))]) is None


def test_money_weighted_return_weights_the_late_deposit():
    # 1000 at the start, +10% in the first half; a 10,000 deposit, then -10%: the money was mostly
    # there for the loss, so MWR is far below TWR (1.1 x 0.9 - 1 = -1%).
    start = date(2024, 1, 1)
    pts = [
        ValuePoint(start, D(1000)),
        ValuePoint(start + timedelta(days=91), D(1100)),
        ValuePoint(start + timedelta(days=92), D(11100), flow=D(10000)),
        ValuePoint(start + timedelta(days=182), D(9990)),
    ]
    assert period_return(pts) == D("-0.01")
    mwr, annual = money_weighted_return(pts)
    assert annual is None  # half a year: not annualised
    flows = [(start, -1000), (start + timedelta(days=92), -10000), (start + timedelta(days=182), 9990)]
    irr = _float_xirr(flows)
    assert abs(float(mwr) - ((1 + irr) ** (182 / 365) - 1)) < 1e-6
    assert mwr < D("-0.08")


def test_gross_of_fees_adds_the_fee_back_as_a_withdrawal():
    start = date(2024, 3, 29)
    pts = [ValuePoint(start, D(10000)), ValuePoint(start + timedelta(days=3), D("10050"))]
    # a 25.00 fee debited on Mar 31 (no valuation that day): it belongs to the Apr 1 point
    gross = gross_of_fees(pts, {date(2024, 3, 31): D(25)})
    assert gross[1].flow == D(-25)
    assert period_return(pts) == D("0.005")  # net
    assert period_return(gross) == D("10050") / D("9975") - 1  # gross: +0.7519%
    assert gross_of_fees(pts, {}) == pts


def test_a_60_40_blend_rebalanced_monthly_against_a_hand_computation():
    spy = [(date(2024, 1, 31), D(100)), (date(2024, 2, 29), D(110)), (date(2024, 3, 28), D(99))]
    agg = [(date(2024, 1, 31), D(50)), (date(2024, 2, 29), D(50)), (date(2024, 3, 28), D(51))]
    index = blended_index({"SPY": spy, "AGG": agg}, {"SPY": D("0.6"), "AGG": D("0.4")})
    # February: 0.6 x 10% + 0.4 x 0% = +6%; March, reset to 60/40 at Feb's close:
    # 0.6 x (-10%) + 0.4 x (+2%) = -5.2%; linked 1.06 x 0.948 - 1 = +0.488%
    assert index == [(date(2024, 1, 31), D(1)), (date(2024, 2, 29), D("1.06")), (date(2024, 3, 28), D("1.00488"))]
    # buy-and-hold would have given 0.6 x (-1%) + 0.4 x 2% = +0.2%: the rebalancing is what counts
    assert index[-1][1] != D("1.002")


def test_a_blend_rebalances_only_at_a_month_end_and_carries_a_missing_close():
    spy = [(date(2024, 1, 31), D(100)), (date(2024, 2, 1), D(110)), (date(2024, 2, 2), D(121))]
    agg = [(date(2024, 1, 31), D(100)), (date(2024, 2, 2), D(100))]
    index = dict(blended_index({"SPY": spy, "AGG": agg}, {"SPY": D("0.5"), "AGG": D("0.5")}))
    assert index[date(2024, 2, 1)] == D("1.05")  # AGG carried at 100
    assert index[date(2024, 2, 2)] == D("1.105")  # no reset inside February: 0.5 x 1.21 + 0.5 x 1


def test_blend_weights_must_sum_to_one_and_describe_themselves():
    with pytest.raises(ValueError, match="sum to 1"):
        blended_index({"SPY": [(date(2024, 1, 1), D(1))]}, {"SPY": D("0.9")})
    assert describe_blend({"AGG": D("0.4"), "SPY": D("0.6")}) == "60% SPY / 40% AGG"
    assert describe_blend({"SPY": D(1)}) == "SPY"
    assert describe_blend({"A": D("0.125"), "B": D("0.875")}) == "87.5% B / 12.5% A"


def test_household_twr_equals_the_value_weighted_linking_of_its_accounts():
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]
    a = [
        ValuePoint(days[0], D(1000)),
        ValuePoint(days[1], D(1050)),
        ValuePoint(days[2], D(1600), D(500)),
        ValuePoint(days[3], D(1580)),
    ]
    b = [
        ValuePoint(days[0], D(3000)),
        ValuePoint(days[1], D(2970)),
        ValuePoint(days[2], D(2000), D(-1000)),
        ValuePoint(days[3], D(2100)),
    ]
    c = [ValuePoint(days[2], D(700), D(700)), ValuePoint(days[3], D(707))]  # opened on day 2
    household = period_return(combine([a, b, c]))
    # value-weighted linking by hand: each day the accounts' returns weighted by V_{t-1} + F_t
    linked = D(1)
    for day in days[1:]:
        capital = D(0)
        gain = D(0)
        for pts in (a, b, c):
            by_day = {p.date: p for p in pts}
            if day not in by_day:
                continue
            prev = by_day.get(day - timedelta(days=1))
            start = (prev.value if prev else D(0)) + by_day[day].flow
            r = daily_returns([prev or ValuePoint(day - timedelta(days=1), D(0)), by_day[day]])[0].r
            capital += start
            gain += start * r
        linked *= 1 + gain / capital
    assert abs(household - (linked - 1)) < D("1e-24")
    # and not the plain average of the three accounts' own returns
    assert abs(household - sum(period_return(p) for p in (a, b, c)) / 3) > D("0.0004")
