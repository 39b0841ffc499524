"""Time-weighted returns: pure functions on Decimals, no ORM, no Django.

DESIGN.md's formula, daily and linked geometrically:

    r_t = V_t / (V_{t-1} + F_t) - 1

where V_t is the value at day t's close and F_t the net external flow on day t (deposits
positive), treated as arriving at the start of the day. The period return is
prod(1 + r_t) - 1. A day whose starting capital V_{t-1} + F_t is zero (an empty account)
has r_t = 0.

Annualised return, for periods longer than a year only: (1 + R) ** (365 / days) - 1 with
`days` the calendar days from the first to the last point (actual/365). Shorter periods
are not annualised (None): a month's return raised to the twelfth power misleads.

Nothing is rounded here: rounding is for display (e.g. `as_percent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from itertools import pairwise

ZERO = Decimal(0)
ONE = Decimal(1)
DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class ValuePoint:
    date: date
    value: Decimal  # at the day's close, flows included
    flow: Decimal = ZERO  # net external flow during the day (deposits +, withdrawals -)


@dataclass(frozen=True, slots=True)
class DailyReturn:
    date: date
    r: Decimal  # the day's return
    cumulative: Decimal  # linked return from the start to this day


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    start: date | None
    end: date | None
    period_return: Decimal
    annualised_return: Decimal | None  # only for periods over a year
    days: int
    series: tuple[DailyReturn, ...]


def daily_returns(points: Sequence[ValuePoint]) -> list[DailyReturn]:
    """r_t for each point after the first, with the running linked return."""
    out: list[DailyReturn] = []
    growth = ONE
    for previous, point in pairwise(points):
        if point.date <= previous.date:
            raise ValueError(f"Points must be in date order: {point.date} follows {previous.date}.")
        start = previous.value + point.flow
        r = (point.value / start - ONE) if start != 0 else ZERO
        growth *= ONE + r
        out.append(DailyReturn(date=point.date, r=r, cumulative=growth - ONE))
    return out


def link(returns: Iterable[Decimal]) -> Decimal:
    """Geometric linking: prod(1 + r) - 1."""
    growth = ONE
    for r in returns:
        growth *= ONE + r
    return growth - ONE


def period_return(points: Sequence[ValuePoint]) -> Decimal:
    return link(d.r for d in daily_returns(points))


def annualise(total_return: Decimal, days: int) -> Decimal | None:
    """(1 + R) ** (365 / days) - 1 for periods over a year, else None."""
    if days <= DAYS_PER_YEAR:
        return None
    if total_return <= -ONE:
        return -ONE
    with localcontext() as ctx:
        ctx.prec = 28
        return (ONE + total_return) ** (Decimal(DAYS_PER_YEAR) / Decimal(days)) - ONE


def report(points: Sequence[ValuePoint]) -> PerformanceReport:
    """Period and (if over a year) annualised time-weighted return, with the daily series."""
    if len(points) < 2:
        return PerformanceReport(
            start=points[0].date if points else None,
            end=points[0].date if points else None,
            period_return=ZERO,
            annualised_return=None,
            days=0,
            series=(),
        )
    series = daily_returns(points)
    total = series[-1].cumulative
    days = (points[-1].date - points[0].date).days
    return PerformanceReport(
        start=points[0].date,
        end=points[-1].date,
        period_return=total,
        annualised_return=annualise(total, days),
        days=days,
        series=tuple(series),
    )


def points_from_prices(prices: Iterable[tuple[date, Decimal]]) -> list[ValuePoint]:
    """A benchmark's closes as value points (no flows): its TWR is its price return."""
    return [ValuePoint(date=d, value=close) for d, close in prices]


def benchmark_return(prices: Sequence[tuple[date, Decimal]]) -> Decimal:
    """A price series' return over its span: last / first - 1 (equal to linking its daily returns)."""
    if len(prices) < 2:
        return ZERO
    return prices[-1][1] / prices[0][1] - ONE


def as_percent(r: Decimal, places: int = 2) -> Decimal:
    """A return in percent, rounded for display (ROUND_HALF_EVEN)."""
    return (r * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


# --- Money-weighted return (XIRR) ------------------------------------------------------------------
#
# The rate r solving  sum_i cf_i / (1 + r) ** (t_i / 365) = 0,  t_i the calendar days from the first
# flow (actual/365). Flows are from the investor's side: money put in is negative (the starting
# value and deposits), money taken out positive (withdrawals and the ending value). Solved in Decimal
# at 40 digits: Newton's method from 10%, falling back to bisection on [-0.999999, 1000] when a Newton
# step leaves the domain or stalls. Tolerance: |r_k+1 - r_k| < XIRR_TOLERANCE (1e-12), or the NPV
# within 1e-18 of the flows' scale. No root (all flows one sign) gives None.

XIRR_TOLERANCE = Decimal("1e-12")
_XIRR_LOW = Decimal("-0.999999")
_XIRR_HIGH = Decimal(1000)


@dataclass(frozen=True, slots=True)
class CashFlow:
    date: date
    amount: Decimal  # investor's side: paid in -, received +


def _npv(rate: Decimal, flows: Sequence[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal]:
    """(NPV, dNPV/dr) at `rate` of (years, amount) flows."""
    base = ONE + rate
    npv = ZERO
    slope = ZERO
    for years, amount in flows:
        discount = base**-years if years else ONE
        npv += amount * discount
        slope -= years * amount * discount / base
    return npv, slope


def xirr(flows: Sequence[CashFlow]) -> Decimal | None:
    """The annual money-weighted rate of `flows` (see the section comment); None without a root."""
    if len(flows) < 2 or all(f.amount >= 0 for f in flows) or all(f.amount <= 0 for f in flows):
        return None
    first = min(f.date for f in flows)
    with localcontext() as ctx:
        ctx.prec = 40
        timed = [(Decimal((f.date - first).days) / DAYS_PER_YEAR, f.amount) for f in flows if f.amount]
        scale = sum((abs(a) for _, a in timed), ZERO)
        epsilon = scale * Decimal("1e-18")
        rate = Decimal("0.1")
        for _ in range(60):  # Newton
            npv, slope = _npv(rate, timed)
            if abs(npv) <= epsilon:
                return +rate
            if slope == 0:
                break
            step = npv / slope
            nxt = rate - step
            if not (_XIRR_LOW < nxt < _XIRR_HIGH):
                break
            if abs(nxt - rate) < XIRR_TOLERANCE:
                return +nxt
            rate = nxt
        low, high = _XIRR_LOW, _XIRR_HIGH  # bisection: NPV falls as the rate rises when money goes in first
        f_low = _npv(low, timed)[0]
        f_high = _npv(high, timed)[0]
        if (f_low > 0) == (f_high > 0):
            return None
        while high - low > XIRR_TOLERANCE:
            mid = (low + high) / 2
            f_mid = _npv(mid, timed)[0]
            if (f_mid > 0) == (f_low > 0):
                low, f_low = mid, f_mid
            else:
                high = mid
        return +((low + high) / 2)


def money_weighted_flows(points: Sequence[ValuePoint]) -> list[CashFlow]:
    """An account's dated flows for XIRR: the first value paid in, each later day's net flow (a
    deposit paid in, a withdrawal received), the last value received."""
    if len(points) < 2:
        return []
    flows = [CashFlow(points[0].date, -points[0].value)]
    flows += [CashFlow(p.date, -p.flow) for p in points[1:] if p.flow]
    flows.append(CashFlow(points[-1].date, points[-1].value))
    return flows


def money_weighted_return(points: Sequence[ValuePoint]) -> tuple[Decimal | None, Decimal | None]:
    """(period MWR, annual MWR) of `points`: the XIRR de-annualised to the period, (1 + irr) ** (days/365) - 1,
    and the XIRR itself only for periods over a year (as for TWR). None when there is no root."""
    rate = xirr(money_weighted_flows(points))
    if rate is None:
        return None, None
    days = (points[-1].date - points[0].date).days
    with localcontext() as ctx:
        ctx.prec = 28
        period = (ONE + rate) ** (Decimal(days) / DAYS_PER_YEAR) - ONE
    return period, (rate if days > DAYS_PER_YEAR else None)


# --- Gross of fees ---------------------------------------------------------------------------------


def gross_of_fees(points: Sequence[ValuePoint], fees: Mapping[date, Decimal]) -> list[ValuePoint]:
    """The points with each day's fees (positive amounts debited) added back as a withdrawal flow.

    A fee is not an external flow, so the plain TWR is net of fees; counting it as money the
    client took out removes its drag: the gross return. A fee dated between two points belongs
    to the next point on or after its date (fees before the first point are outside the window).
    """
    if not fees:
        return list(points)
    out: list[ValuePoint] = []
    pending = sorted(fees.items())
    i = 0
    for n, p in enumerate(points):
        fee = ZERO
        while i < len(pending) and pending[i][0] <= p.date:
            if n > 0:
                fee += pending[i][1]
            i += 1
        out.append(ValuePoint(date=p.date, value=p.value, flow=p.flow - fee) if fee else p)
    return out


# --- Blended benchmarks ------------------------------------------------------------------------------


def blended_index(
    prices: Mapping[str, Sequence[tuple[date, Decimal]]], weights: Mapping[str, Decimal]
) -> list[tuple[date, Decimal]]:
    """A blend of price series rebalanced to `weights` at each month's last close, as an index from 1.

    The index starts on the first date every component has a close; on each later date (any
    component's close; a component without one that day carries its last close) the index is
    B_m * sum_i w_i * P_i(t) / P_i(m), where m is the last close of the previous calendar month (or
    the start), i.e. the holdings are reset to the target weights at each month end. Weights are
    fractions of 1 and must sum to 1.
    """
    if not weights:
        return []
    if sum(weights.values(), ZERO) != ONE:
        raise ValueError("A benchmark's weights must sum to 1.")
    series = {s: dict(prices.get(s, ())) for s in weights}
    if any(not closes for closes in series.values()):
        return []
    start = max(min(closes) for closes in series.values())
    dates = sorted({d for closes in series.values() for d in closes if d >= start})
    last = {s: series[s][max(d for d in series[s] if d <= start)] for s in weights}
    base_prices = dict(last)
    base_value = ONE
    out: list[tuple[date, Decimal]] = []
    previous: date | None = None
    value = ONE
    for d in dates:
        if previous is not None and (d.year, d.month) != (previous.year, previous.month):
            base_prices = dict(last)  # rebalanced at the previous month's last close
            base_value = value
        for s in weights:
            if d in series[s]:
                last[s] = series[s][d]
        value = base_value * sum((w * last[s] / base_prices[s] for s, w in weights.items()), ZERO)
        out.append((d, value))
        previous = d
    return out


def describe_blend(weights: Mapping[str, Decimal]) -> str:
    """'60% SPY / 40% AGG': heaviest first, then by symbol; a single component is its symbol."""
    if len(weights) == 1:
        return next(iter(weights))
    parts = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    return " / ".join(f"{(w * 100).normalize():f}% {s}" for s, w in parts)


# --- Households: summed values and flows -------------------------------------------------------------


def combine(accounts: Iterable[Sequence[ValuePoint]]) -> list[ValuePoint]:
    """The points of several accounts summed per date: on each date any account has a point, the
    value is the sum of each account's latest value on or before it (0 before its first) and the
    flow the sum of the flows dated that day. Its TWR is the value-weighted linking of the
    accounts' daily returns (each day weighted by the account's V_{t-1} + F_t)."""
    by_account = [{p.date: p for p in pts} for pts in accounts]
    dates = sorted({d for pts in by_account for d in pts})
    latest = [ZERO] * len(by_account)
    out = []
    for d in dates:
        flow = ZERO
        for i, pts in enumerate(by_account):
            point = pts.get(d)
            if point is not None:
                latest[i] = point.value
                flow += point.flow
        out.append(ValuePoint(date=d, value=sum(latest, ZERO), flow=flow))
    return out
