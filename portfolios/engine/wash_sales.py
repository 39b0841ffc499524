"""Wash sales across a household: which loss sales are (partly) disallowed, by which purchases.
Pure, like `rebalancing`: the caller (`portfolios.selectors.household_wash_sale_history`) gathers
the household's loss sales and purchases, from every account of it, IRAs included.

The rule, as this module applies it:
- a sale of shares at a loss is a wash sale, share for share, when shares of the same security
  were bought in any account of the household within `WASH_SALE_DAYS` (30) calendar days before
  or after the sale: |bought_on - sold_on| <= 30 (day 30 counts, day 31 does not);
- the lot sold is never its own replacement, nor are the other shares of the same purchase
  (a purchase keeps its `purchase_id` when a match splits its lot);
- loss sales are matched in the order they happened (sale date, then id), each taking
  replacement shares in the order they were bought (date, then id); a replacement share
  replaces one sold share only (the quantities passed in are what is still unmatched);
- the disallowed loss is matched shares x the sale's loss per share, rounded to cents
  (ROUND_HALF_EVEN) per match. It is added to the replacement shares' cost basis, and the
  replacement shares' holding period starts earlier by the sold lot's holding period in days
  (`held_days`), which the match carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from portfolios.engine.rebalancing import WASH_SALE_DAYS, ZERO

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Acquisition:
    """Shares bought in one lot of an account of the household: possible replacement shares."""

    lot_id: int | str  # the lot holding them (the replacement lot of a match)
    purchase_id: int | str  # the purchase they came from
    account_id: int | str
    security_id: int | str
    acquired_on: date
    quantity: Decimal  # shares not yet used as replacement shares


@dataclass(frozen=True, slots=True)
class LossSale:
    """Shares of one lot sold at a loss (one lot closure)."""

    sale_id: int | str  # the closure
    purchase_id: int | str  # the purchase of the lot sold: never its own replacement
    account_id: int | str
    security_id: int | str
    sold_on: date
    quantity: Decimal  # shares sold at a loss not yet matched with replacement shares
    loss_per_share: Decimal  # cost per share - price, > 0
    held_days: int = 0  # days the sold lot was held (from its holding period's start)


@dataclass(frozen=True, slots=True)
class WashSaleMatch:
    """`quantity` replacement shares of `lot_id` make that much of sale `sale_id` a wash sale."""

    sale_id: int | str
    lot_id: int | str
    quantity: Decimal
    disallowed: Decimal  # the loss disallowed, in cents: added to the replacement shares' basis
    held_days: int  # the holding period carried to the replacement shares
    sold_on: date
    acquired_on: date


def in_wash_window(sold_on: date, bought_on: date, *, days: int = WASH_SALE_DAYS) -> bool:
    """Whether a purchase on `bought_on` falls in the wash-sale window of a sale on `sold_on`:
    within `days` calendar days before or after it (day 30 in, day 31 out)."""
    return abs((bought_on - sold_on).days) <= days


def wash_sale_matches(
    sales: Iterable[LossSale], acquisitions: Iterable[Acquisition], *, days: int = WASH_SALE_DAYS
) -> list[WashSaleMatch]:
    """Every match between `sales` and replacement `acquisitions` under the module's rule, in
    the sales' order. Sales with a loss per share <= 0 or no quantity match nothing."""
    free: dict[int | str, Decimal] = {}
    by_security: dict[int | str, list[Acquisition]] = {}
    for a in sorted(acquisitions, key=lambda a: (a.acquired_on, _id_key(a.lot_id))):
        if a.quantity > ZERO:
            free[a.lot_id] = free.get(a.lot_id, ZERO) + a.quantity
            by_security.setdefault(a.security_id, []).append(a)
    matches: list[WashSaleMatch] = []
    for sale in sorted(sales, key=lambda s: (s.sold_on, _id_key(s.sale_id))):
        remaining = sale.quantity
        if remaining <= ZERO or sale.loss_per_share <= ZERO:
            continue
        for a in by_security.get(sale.security_id, ()):
            if remaining <= ZERO:
                break
            if a.purchase_id == sale.purchase_id or not in_wash_window(sale.sold_on, a.acquired_on, days=days):
                continue
            take = min(free[a.lot_id], remaining)
            if take <= ZERO:
                continue
            free[a.lot_id] -= take
            remaining -= take
            matches.append(
                WashSaleMatch(
                    sale_id=sale.sale_id,
                    lot_id=a.lot_id,
                    quantity=take,
                    disallowed=(take * sale.loss_per_share).quantize(CENT, ROUND_HALF_EVEN),
                    held_days=sale.held_days,
                    sold_on=sale.sold_on,
                    acquired_on=a.acquired_on,
                )
            )
    return matches


def disallowed_total(matches: Iterable[WashSaleMatch]) -> Decimal:
    return sum((m.disallowed for m in matches), ZERO)


PROPOSED = "proposed"


def proposed_purchase_wash(
    *,
    security_id: int | str,
    account_id: int | str,
    bought_on: date,
    quantity: Decimal,
    sales: Sequence[LossSale],
    days: int = WASH_SALE_DAYS,
) -> list[WashSaleMatch]:
    """What buying `quantity` shares on `bought_on` would disallow of the household's loss
    sales (`sales`: their unmatched shares; a buy washes the sales of the 30 days before it)."""
    buy = Acquisition(PROPOSED, PROPOSED, account_id, security_id, bought_on, quantity)
    return wash_sale_matches(sales, [buy], days=days)


def proposed_sale_wash(
    *, sales: Sequence[LossSale], acquisitions: Sequence[Acquisition], days: int = WASH_SALE_DAYS
) -> list[WashSaleMatch]:
    """What a proposed sale would have disallowed: `sales` are its lots sold at a loss (ids of
    the caller's choosing), `acquisitions` the household's replacement shares still unmatched.
    Only purchases already made can be known: a buy in the 30 days after it is checked then."""
    return wash_sale_matches(sales, acquisitions, days=days)


def _id_key(value: int | str) -> tuple[int, int, str]:
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))
