"""Block-order allocation: a block's fills shared among the accounts' orders it carried. Pure.

A block is filled (possibly in parts, at several prices) and each account receives:

- **shares** pro rata to what it ordered, in whole units (one share unless told otherwise) by
  the largest-remainder (Hamilton) method: each account first gets the floor of its exact share
  `filled x ordered_i / ordered_total`; the units left over go one each to the accounts with the
  largest fractional remainders, ties broken by the smaller key (the earlier order). No account
  ever receives more than it ordered.
- **cash** at the block's average price, exact to the cent: the block's total is the sum of its
  executions' amounts (each `quantity x price` rounded half-even to the cent, as any fill is
  booked); each account's amount is the floor to the cent of `total x shares_i / filled`, and
  the cents left over go one each to the largest remainders (same tie-break). So every amount
  is within one cent of `shares_i x average price` and the amounts sum to the total exactly.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TypeVar

CENT = Decimal("0.01")
#: The average price's place (the price columns hold six decimal places), half-even.
PRICE_PLACE = Decimal("0.000001")

K = TypeVar("K", bound=Hashable)


class AllocationError(ValueError):
    """The inputs cannot be allocated (nothing ordered, a fill larger than the block, ...)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    key: int
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BlockAllocation:
    filled: Decimal
    total_amount: Decimal
    average_price: Decimal
    allocations: tuple[Allocation, ...]


def largest_remainder(total: int, weights: Sequence[tuple[int, Decimal]]) -> dict[int, int]:
    """`total` whole units shared among `weights` (key, weight >= 0) pro rata, by largest
    remainder, ties to the smaller key. The result sums to `total` exactly."""
    weight_sum = sum((w for _, w in weights), Decimal(0))
    if total < 0:
        raise AllocationError("Nothing negative can be allocated.")
    if weight_sum <= 0:
        if total == 0:
            return {k: 0 for k, _ in weights}
        raise AllocationError("There is nothing to allocate to.")
    base: dict[int, int] = {}
    remainders: list[tuple[Decimal, int]] = []
    for key, weight in weights:
        exact = Decimal(total) * weight / weight_sum
        floor = int(exact.to_integral_value(rounding=ROUND_FLOOR))
        base[key] = floor
        remainders.append((exact - floor, key))
    left = total - sum(base.values())
    # Largest remainder first; equal remainders: the smaller key first.
    for _, key in sorted(remainders, key=lambda r: (-r[0], r[1]))[:left]:
        base[key] += 1
    return base


def execution_amount(quantity: Decimal, price: Decimal) -> Decimal:
    """One execution's cash: quantity x price, half-even to the cent (as a fill is booked)."""
    return (quantity * price).quantize(CENT, rounding=ROUND_HALF_EVEN)


def allocate_block(
    *,
    ordered: Sequence[tuple[int, Decimal]],
    fills: Sequence[tuple[Decimal, Decimal]],
    unit: Decimal = Decimal(1),
) -> BlockAllocation:
    """Share the block's `fills` ((quantity, price) each) among the `ordered` (key, quantity)
    orders, as the module docstring states. The filled quantity must be a whole number of
    `unit`s and no more than the total ordered."""
    if not ordered:
        raise AllocationError("A block carries at least one order.")
    if any(q <= 0 for _, q in ordered):
        raise AllocationError("Every order of a block orders a positive quantity.")
    if len({k for k, _ in ordered}) != len(ordered):
        raise AllocationError("An order appears twice in the block.")
    filled = sum((q for q, _ in fills), Decimal(0))
    ordered_total = sum((q for _, q in ordered), Decimal(0))
    if filled > ordered_total:
        raise AllocationError("The fills exceed the block's quantity.")
    units = filled / unit
    if units != units.to_integral_value():
        raise AllocationError(f"The filled quantity {filled} is not a whole number of {unit}.")
    total = sum((execution_amount(q, p) for q, p in fills), Decimal(0))
    if filled == 0:
        return BlockAllocation(
            filled=filled,
            total_amount=total,
            average_price=Decimal(0),
            allocations=tuple(Allocation(k, Decimal(0), Decimal(0)) for k, _ in ordered),
        )
    shares = largest_remainder(int(units), ordered)
    cents_total = int((total / CENT).to_integral_value())
    cash = largest_remainder(cents_total, [(k, Decimal(shares[k])) for k, _ in ordered])
    value = sum((q * p for q, p in fills), Decimal(0))
    return BlockAllocation(
        filled=filled,
        total_amount=total,
        average_price=(value / filled).quantize(PRICE_PLACE, rounding=ROUND_HALF_EVEN),
        allocations=tuple(Allocation(k, shares[k] * unit, cash[k] * CENT) for k, _ in ordered),
    )
