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

from collections.abc import Iterable, Sequence
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
