"""The simulator's own arithmetic, written apart from the code it checks.

Nothing here imports `portfolios.engine.performance`, `operations.engine.fees` or the rebalancing engine: a
mistake there must not be repeated here. Plain Decimals, no ORM.

- `twr`: the time-weighted return of daily values and external flows (a flow counts from the
  start of its day): the product over days of value / (previous value + flow), minus one.
- `quarter_fee`: an advisory fee billed quarterly in arrears on the average daily balance (each
  calendar day carries the latest value on or before it), marginal tiers of basis points a year,
  pro-rated by days billed over days in the year, rounded once to cents half-even.
- `drift`: each holding's and cash's weight against its target and band.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")


def twr(points: Sequence[tuple[date, Decimal, Decimal]]) -> Decimal:
    """`points`: (day, value at the close, net external flow that day), in day order."""
    growth = ONE
    for i in range(1, len(points)):
        _, value, flow = points[i]
        base = points[i - 1][1] + flow
        if base != 0:
            growth = growth * (value / base)
    return growth - ONE


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None
    bps: Decimal


def annual_fee(basis: Decimal, tiers: Sequence[Tier]) -> Decimal:
    fee = ZERO
    floor = ZERO
    ordered = sorted(tiers, key=lambda t: (t.up_to is None, t.up_to if t.up_to is not None else ZERO))
    for tier in ordered:
        top = basis if tier.up_to is None else min(basis, tier.up_to)
        if top > floor:
            fee += (top - floor) * tier.bps / Decimal(10000)
        if tier.up_to is None or basis <= tier.up_to:
            break
        floor = tier.up_to
    return fee


def quarter_fee(
    *,
    values: Mapping[date, Decimal],
    quarter_start: date,
    quarter_end: date,
    opened_on: date,
    closed_on: date | None,
    tiers: Sequence[Tier],
) -> tuple[Decimal, Decimal, int]:
    """(fee in cents, average daily balance, days billed) for one account and quarter."""
    first = max(quarter_start, opened_on)
    last = min(quarter_end, closed_on) if closed_on else quarter_end
    if last < first:
        return ZERO.quantize(CENT), ZERO, 0
    earlier = [d for d in values if d < first]
    carried = values[max(earlier)] if earlier else ZERO
    total = ZERO
    days = 0
    day = first
    while day <= last:
        carried = values.get(day, carried)
        total += carried
        days += 1
        day += timedelta(days=1)
    basis = total / days
    year_days = 366 if calendar.isleap(quarter_start.year) else 365
    fee = (annual_fee(basis, tiers) * days / year_days).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return fee, basis, days


@dataclass(frozen=True)
class DriftLine:
    symbol: str
    target: Decimal
    actual: Decimal
    band: Decimal

    @property
    def drift(self) -> Decimal:
        return self.actual - self.target

    @property
    def outside(self) -> bool:
        return abs(self.drift) > self.band


CASH = "CASH"


def drift(
    *,
    quantities: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    cash: Decimal,
    targets: Mapping[str, Decimal],
    cash_target: Decimal,
    threshold: Decimal,
    relative: bool = False,
    relative_band: Decimal = ZERO,
) -> list[DriftLine]:
    """Weights of every held or targeted symbol and of cash, with the band each must stay in."""
    values = {s: quantities.get(s, ZERO) * prices[s] for s in sorted(set(quantities) | set(targets)) if s in prices}
    total = sum(values.values(), ZERO) + cash
    if total <= 0:
        return []

    def band(target: Decimal) -> Decimal:
        return target * relative_band if relative and target else threshold

    lines = [DriftLine(s, targets.get(s, ZERO), v / total, band(targets.get(s, ZERO))) for s, v in values.items()]
    lines.append(DriftLine(CASH, cash_target, cash / total, band(cash_target)))
    return lines


def merge_substitutes(
    quantities: dict[str, Decimal], prices: Mapping[str, Decimal], targets: dict[str, Decimal], pairs: Mapping[str, str]
) -> None:
    """A harvest's substitute counted as its security (in place): the substitute's value joins the
    security's (in the security's shares at its price) and its target, if any, joins too -- the
    pair measured as one slot of the model, however Kronos shares the target between them."""
    for security, substitute in pairs.items():
        if substitute not in quantities and substitute not in targets:
            continue
        if security not in targets and substitute not in targets:
            continue
        price, substitute_price = prices.get(security, ZERO), prices.get(substitute, ZERO)
        if price <= 0:
            continue
        held = quantities.pop(substitute, ZERO)
        quantities[security] = quantities.get(security, ZERO) + held * substitute_price / price
        targets[security] = targets.get(security, ZERO) + targets.pop(substitute, ZERO)
