"""Tax lots: holding periods and the order in which a sale relieves lots. Pure, like `rebalancing`.

The holding-period rule (`holding_term`): a lot is long term when it was held more than one
year, i.e. sold on or after the day after the one-year anniversary of the day it counts from
(its acquisition date, moved back by a wash sale's carried holding period). A lot acquired on
29 February has its anniversary on 28 February.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum

from portfolios.engine.rebalancing import Lot


class Term(StrEnum):
    SHORT = "short"
    LONG = "long"


class ReliefMethod(StrEnum):
    HIFO = "hifo"  # highest cost first: the least gain realised (the default)
    TAX_OPTIMISED = "tax_optimised"  # losses (largest per share first), long-term gains, short-term gains
    FIFO = "fifo"  # oldest first
    SPECIFIC = "specific"  # the lots the order names


RELIEF_METHOD_LABELS = {
    ReliefMethod.HIFO: "Highest cost first",
    ReliefMethod.TAX_OPTIMISED: "Tax-optimised (losses, then long-term gains, then short-term gains)",
    ReliefMethod.FIFO: "First in, first out",
    ReliefMethod.SPECIFIC: "Specific lots",
}


def one_year_anniversary(start: date) -> date:
    """The same day one year later; 29 February's anniversary is 28 February."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


def holding_term(held_from: date, sold_on: date) -> Term:
    """Long term when held more than one year: sold on or after the day after the anniversary."""
    return Term.LONG if sold_on > one_year_anniversary(held_from) else Term.SHORT


def lot_held_from(lot: Lot) -> date:
    """The day a lot's holding period counts from (its acquisition unless a wash sale moved it)."""
    return lot.held_from or lot.acquired_on


def relief_order(lots: Sequence[Lot], *, method: str, price: Decimal, on: date) -> list[Lot]:
    """`lots` in the order a sale at `price` on `on` relieves them under `method`.

    - hifo: highest cost per share first, then oldest, then by id;
    - fifo: oldest first, then by id;
    - tax_optimised: losses first, the largest loss per share first; then long-term gains,
      smallest gain per share first; then short-term gains, smallest first (a lot at exactly
      its cost counts as a gain of 0); ties oldest first, then by id.
    "specific" has no order of its own (the order names its lots) and is refused here.
    """
    if method == ReliefMethod.HIFO:
        if len(lots) == 2:  # most positions: the two lots compared as the sort's keys compare
            first, second = lots
            cost, other = -first.cost_per_share, -second.cost_per_share  # negated, as the keys are
            if cost != other:
                second_first = other < cost
            elif first.acquired_on != second.acquired_on:
                second_first = second.acquired_on < first.acquired_on
            else:
                second_first = _id_key(second.lot_id) < _id_key(first.lot_id)
            return [second, first] if second_first else [first, second]
        if len(lots) < 2:
            return list(lots)
        return sorted(lots, key=lambda lot: (-lot.cost_per_share, lot.acquired_on, _id_key(lot.lot_id)))
    if method == ReliefMethod.FIFO:
        return sorted(lots, key=lambda lot: (lot.acquired_on, _id_key(lot.lot_id)))
    if method == ReliefMethod.TAX_OPTIMISED:

        def key(lot: Lot) -> tuple[int, Decimal, date, tuple[int, int, str]]:
            gain = price - lot.cost_per_share
            if gain < 0:
                return (0, gain, lot.acquired_on, _id_key(lot.lot_id))  # most negative first
            group = 1 if holding_term(lot_held_from(lot), on) == Term.LONG else 2
            return (group, gain, lot.acquired_on, _id_key(lot.lot_id))

        return sorted(lots, key=key)
    raise ValueError(f"{method!r} is not a lot relief method with an order of its own.")


def _id_key(value: int | str) -> tuple[int, int, str]:
    """Ids sort as numbers when they are numbers, after them as text."""
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))
