"""Advisory fee arithmetic: pure functions on Decimals (no ORM), so every figure can be checked by hand.

Conventions (stated once, here):
- Rates are basis points a YEAR. Tiered schedules are MARGINAL: each tier's rate applies to the
  slice of the basis between the previous tier's bound and its own (`up_to` is cumulative; the
  last tier has no bound). 100 bps on the first $1M, 75 on the next $4M, 50 above: $6M pays
  10,000 + 30,000 + 5,000 = $45,000 a year.
- Tiers apply to each account's own basis (not aggregated across a household).
- Billing is quarterly in arrears, day count actual/actual:
      fee = annual fee on the basis x days billed / days in the year
  where days billed are the calendar days of the quarter the account was open (opened_on and
  closed_on both count), and days in the year are 365 or 366 for the year the quarter is in.
  For a full quarter this is annual x (days in quarter / days in year); an account open part of
  the quarter pays the same pro-rated by days open / days in quarter.
- Basis: the average daily balance over the days billed (each calendar day takes the latest
  valuation on or before it, so weekends and holidays carry Friday's value), or the value at
  the end of the period billed (the last valuation on or before the last day billed).
- Nothing is rounded until the fee: `round_fee` rounds the fee to cents, ROUND_HALF_EVEN, the one
  rounding place. The basis shown is rounded to cents for display only.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
CENTS = Decimal("0.01")
BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None  # cumulative bound; None = no bound
    bps: Decimal


@dataclass(frozen=True, slots=True)
class FeeCalc:
    basis: Decimal
    annual_fee: Decimal
    effective_bps: Decimal
    days_billed: int
    days_in_period: int
    days_in_year: int
    amount: Decimal
    slices: tuple[dict[str, str], ...]


def quarter_of(day: date) -> tuple[date, date]:
    """The calendar quarter containing `day`: (first day, last day)."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    last_month = first_month + 2
    return start, date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])


def previous_quarter(day: date) -> tuple[date, date]:
    start, _ = quarter_of(day)
    return quarter_of(start - timedelta(days=1))


def days_in_year(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def billed_days(
    period_start: date, period_end: date, opened_on: date, closed_on: date | None
) -> tuple[date, date, int]:
    """The first and last day billed and their count (0 when the account was not open in the period)."""
    first = max(period_start, opened_on)
    last = min(period_end, closed_on) if closed_on else period_end
    if last < first:
        return first, last, 0
    return first, last, (last - first).days + 1


def annual_fee(basis: Decimal, *, tiers: Sequence[Tier]) -> tuple[Decimal, tuple[dict[str, str], ...]]:
    """The unrounded annual fee on `basis` over marginal `tiers` (a flat rate is one unbounded tier)."""
    fee = ZERO
    lower = ZERO
    slices = []
    for tier in sorted(tiers, key=lambda t: (t.up_to is None, t.up_to or ZERO)):
        if basis <= lower:
            break
        upper = basis if tier.up_to is None else min(basis, tier.up_to)
        portion = upper - lower
        if portion > 0:
            part = portion * tier.bps / BPS
            fee += part
            slices.append({"from": str(lower), "to": str(upper), "bps": str(tier.bps), "annual_fee": str(part)})
        if tier.up_to is None:
            break
        lower = tier.up_to
    return fee, tuple(slices)


def average_daily_balance(
    values: Mapping[date, Decimal], first: date, last: date, *, opening: Decimal = ZERO
) -> Decimal:
    """Average over each calendar day in [first, last] of the latest value on or before that day.

    `opening` is the value before the first valuation in the range (the last one before `first`).
    Unrounded.
    """
    days = (last - first).days + 1
    if days <= 0:
        return ZERO
    total = ZERO
    current = opening
    day = first
    one = timedelta(days=1)
    while day <= last:
        if day in values:
            current = values[day]
        total += current
        day += one
    return total / days


def round_fee(amount: Decimal) -> Decimal:
    """THE rounding place of billing: a fee in cents, half-even."""
    return amount.quantize(CENTS, rounding=ROUND_HALF_EVEN)


def quarterly_fee(
    *,
    tiers: Sequence[Tier],
    basis: Decimal,
    period_start: date,
    period_end: date,
    days_billed: int,
) -> FeeCalc:
    fee, slices = annual_fee(basis, tiers=tiers)
    year_days = days_in_year(period_start.year)
    amount = round_fee(fee * days_billed / year_days) if days_billed else ZERO.quantize(CENTS)
    effective = (fee / basis * BPS) if basis > 0 else ZERO
    return FeeCalc(
        basis=basis,
        annual_fee=fee,
        effective_bps=effective.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN),
        days_billed=days_billed,
        days_in_period=(period_end - period_start).days + 1,
        days_in_year=year_days,
        amount=amount,
        slices=slices,
    )
