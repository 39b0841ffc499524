"""Advisory fee arithmetic: pure functions on Decimals (no ORM), so every figure can be checked by hand.

Conventions (stated once, here):
- Rates are basis points a YEAR. Tiered schedules are MARGINAL: each tier's rate applies to the
  slice of the basis between the previous tier's bound and its own (`up_to` is cumulative; the
  last tier has no bound). 100 bps on the first $1M, 75 on the next $4M, 50 above: $6M pays
  10,000 + 30,000 + 5,000 = $45,000 a year.
- Tiers apply to each account's own basis, or, for a schedule that aggregates the household, to
  the billing group's total basis (`group_fee`): the group's fee is then split back to its
  accounts pro rata by basis x days billed, to the cent, by the largest remainder (`split_cents`).
- A minimum annual fee is a floor on the group's (or the lone account's) annual fee, pro-rated
  by days like the fee itself.
- Billing is quarterly (or monthly) in arrears, day count actual/actual:
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


QUARTERLY = "quarterly"
MONTHLY = "monthly"


def period_of(day: date, cycle: str = QUARTERLY) -> tuple[date, date]:
    """The billing period (calendar quarter or month) containing `day`: (first day, last day)."""
    if cycle == MONTHLY:
        return date(day.year, day.month, 1), date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    return quarter_of(day)


def previous_period(day: date, cycle: str = QUARTERLY) -> tuple[date, date]:
    start, _ = period_of(day, cycle)
    return period_of(start - timedelta(days=1), cycle)


def next_period(day: date, cycle: str = QUARTERLY) -> tuple[date, date]:
    _, end = period_of(day, cycle)
    return period_of(end + timedelta(days=1), cycle)


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


# --- Billing groups, minimums, credits ----------------------------------------------------------


def split_cents(total: Decimal, weights: Sequence[tuple[int, Decimal]]) -> dict[int, Decimal]:
    """`total` (in cents) split across keys pro rata by weight so the parts sum to it exactly.

    The largest-remainder rule: each key first gets its exact share rounded DOWN to the cent; the
    cents left over go one each to the keys with the largest remainders, ties to the smaller key.
    Weights of zero get nothing; if every weight is zero the total goes to the first key.
    """
    if not weights:
        return {}
    total_weight = sum((w for _, w in weights), ZERO)
    if total_weight <= 0:
        return {k: (total if i == 0 else ZERO.quantize(CENTS)) for i, (k, _) in enumerate(weights)}
    cents = int((total / CENTS).to_integral_value())
    exact = {k: Decimal(cents) * w / total_weight for k, w in weights}
    floors = {k: int(v) for k, v in exact.items()}  # int() truncates: down for non-negative shares
    left = cents - sum(floors.values())
    for k in sorted(exact, key=lambda key: (-(exact[key] - floors[key]), key))[:left]:
        floors[k] += 1
    return {k: (Decimal(v) * CENTS).quantize(CENTS) for k, v in floors.items()}


@dataclass(frozen=True, slots=True)
class Member:
    key: int  # the account
    basis: Decimal
    days_billed: int


@dataclass(frozen=True, slots=True)
class GroupFee:
    basis: Decimal  # the group's: the sum of its members' bases
    tier_fee: Decimal  # annual, from the tiers on the group's basis
    annual_fee: Decimal  # annual, after the minimum
    minimum_applied: bool
    exact: Decimal  # the period's fee before rounding: sum of annual x basis_a / basis x days_a / days_in_year
    amount: Decimal  # rounded to cents (round_fee), the one rounding place
    parts: dict[int, Decimal]  # each member's cents (split_cents by basis x days billed)
    slices: tuple[dict[str, str], ...]
    days_in_year: int


def group_fee(
    *, tiers: Sequence[Tier], members: Sequence[Member], days_in_year: int, minimum_annual: Decimal = ZERO
) -> GroupFee:
    """The fee of a billing group (a household's billed accounts on one aggregating schedule, or a
    single account): the tiers on the summed basis, the minimum as a floor on the annual fee, each
    member paying its basis' share of the annual fee for its own days billed; rounded once, on
    the group's total, then split to the members by the largest remainder.

    A group whose basis is zero pays nothing (a minimum is charged on assets, not on empty accounts).
    With one member and no minimum this is exactly `quarterly_fee`'s amount.
    """
    billed = [m for m in members if m.days_billed > 0]
    basis = sum((m.basis for m in billed), ZERO)
    tier_fee, slices = annual_fee(basis, tiers=tiers)
    minimum_applied = basis > 0 and tier_fee < minimum_annual
    annual = minimum_annual if minimum_applied else tier_fee
    exact = ZERO
    if basis > 0:
        for m in billed:
            exact += annual * (m.basis / basis) * m.days_billed / days_in_year
    amount = round_fee(exact) if billed else ZERO.quantize(CENTS)
    parts = split_cents(amount, [(m.key, m.basis * m.days_billed) for m in members])
    return GroupFee(
        basis=basis,
        tier_fee=tier_fee,
        annual_fee=annual,
        minimum_applied=minimum_applied,
        exact=exact,
        amount=amount,
        parts=parts,
        slices=slices,
        days_in_year=days_in_year,
    )


@dataclass(frozen=True, slots=True)
class Credit:
    day: date
    withdrawn: Decimal  # positive
    days_remaining: int
    amount: Decimal  # unrounded


def withdrawal_credits(
    withdrawals: Sequence[tuple[date, Decimal]], *, annual_rate: Decimal, period_end: date, days_in_year: int
) -> tuple[tuple[Credit, ...], Decimal]:
    """The unused fee paid in advance on money withdrawn within the period: each withdrawal x the
    annual rate it was billed at (annual fee / basis) x the days after its day to the period's
    end / days in the year. Returns the credits and their total rounded to cents (round_fee)."""
    credits = tuple(
        Credit(
            day=d,
            withdrawn=abs(w),
            days_remaining=(period_end - d).days,
            amount=abs(w) * annual_rate * (period_end - d).days / days_in_year,
        )
        for d, w in withdrawals
        if w and d <= period_end
    )
    return credits, round_fee(sum((c.amount for c in credits), ZERO))
