"""A harvest's substitute stands in for its security (pure, like `rebalancing`).

Tax-loss harvesting sells a security at a loss and buys its substitute (`SubstitutionPair`: in a
model, `security` -> `substitute`) so the allocation is kept while the 30-day wash-sale window
runs. Every later reading of the account against its model -- the drift scan, household
rebalancing, the book and the holdings page -- must then count the substitute toward the
security's target, or it would sell the substitute the next night and buy the security back
inside the window, undoing the harvest (and washing its loss).

`stand_in_targets` shares the security's target between the two in proportion to their market
values while the substitute is held: the pair is measured as one sleeve (its drift is the sum's),
nothing is traded between them, and new money to the sleeve goes to each in proportion -- all of
it to the substitute once the security is sold out. The sleeve's absolute band is shared the
same way (`Holding.band_share`), so the pair breaches when it is outside the band together. The
substitute's share is rounded half-even to `WEIGHT_PLACES` and the security keeps the rest, so
the weights still sum exactly to the model's. A substitute the model targets in its own right, or one not held, changes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from portfolios.engine.rebalancing import AccountSnapshot, Holding

ZERO = Decimal(0)
WEIGHT_PLACES = Decimal("0.000001")  # the model targets' own precision

K = TypeVar("K", bound=Hashable)


def stand_in_targets(
    targets: Mapping[K, Decimal], values: Mapping[K, Decimal], pairs: Mapping[K, K]
) -> dict[K, Decimal]:
    """The model's `targets` with each held substitute standing in for its security (see the
    module docstring). `values`: market value held per key; `pairs`: security -> substitute."""
    return stand_in(targets, values, pairs)[0]


def stand_in(
    targets: Mapping[K, Decimal], values: Mapping[K, Decimal], pairs: Mapping[K, K]
) -> tuple[dict[K, Decimal], dict[K, Decimal]]:
    """`stand_in_targets`, and for each key whose target was shared, its fraction of the sleeve's
    target (`Holding.band_share`): the sleeve keeps one absolute band, shared the same way, so
    it breaches when the pair together is outside it -- each row's drift is its share of the
    sleeve's, and a band of the whole threshold on each let a pair drift by twice it unseen.
    Keys not shared are absent (their share is 1)."""
    out = dict(targets)
    shares: dict[K, Decimal] = {}
    for security, substitute in pairs.items():
        weight = targets.get(security)
        held = values.get(substitute, ZERO)
        if weight is None or substitute in targets or held <= 0:
            continue
        own = max(values.get(security, ZERO), ZERO)
        share = (weight * held / (held + own)).quantize(WEIGHT_PLACES, rounding=ROUND_HALF_EVEN)
        out[substitute] = share
        out[security] = weight - share
        if weight > ZERO:
            shares[substitute] = share / weight
            shares[security] = (weight - share) / weight
    return out, shares


def on_model(
    snapshot: AccountSnapshot, weights: Mapping[str, Decimal], prices: Mapping[str, Decimal], **changes: Any
) -> AccountSnapshot:
    """`snapshot` measured against another model's `weights` (symbol -> target): an account in a
    rebalancing group is measured against the group's model, whatever its own. Held symbols take
    their weight (0 when the model does not hold them); a targeted symbol not held is added at
    `prices`. `changes` replace other fields (cash, cash target, band)."""
    holdings = [replace(h, target_weight=weights.get(h.symbol, ZERO)) for h in snapshot.holdings]
    seen = {h.symbol for h in holdings}
    holdings += [
        Holding(symbol=s, quantity=ZERO, price=prices[s], target_weight=w)
        for s, w in sorted(weights.items())
        if w and s not in seen and s in prices
    ]
    return replace(snapshot, holdings=tuple(holdings), **changes)
