"""Tax lots: opened by buys and transfers in, relieved by sales and by a split's cash in lieu."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from kronos import readcache
from kronos.history import save_attributed
from portfolios.engine.lots import ReliefMethod, relief_order
from portfolios.engine.rebalancing import Lot
from portfolios.errors import PortfoliosError
from portfolios.models import (
    ZERO,
    InvestmentAccount,
    JournalEntry,
    LotClosure,
    Security,
    TaxLot,
)
from portfolios.services.common import COST_QUANTUM, parse_decimal, to_cents

#: A row's firm through its account (the read cache's path, `compliance.permissions.FIRM_SCOPE`).
ACCOUNT_FIRM = "account__household__firm_id"


def lot_open(
    *,
    account: InvestmentAccount,
    security: Security,
    quantity: Decimal,
    cost_per_share: Decimal,
    acquired_on: date,
    acting_user: User,
    entry: JournalEntry | None = None,
) -> TaxLot:
    """Open a tax lot (a buy fill or a transfer in). Cost per share is rounded to 6 places (ROUND_HALF_EVEN)."""
    quantity = parse_decimal(quantity, field="quantity", what="The quantity")
    if quantity <= 0:
        raise PortfoliosError("The quantity must be positive.", field="quantity")
    cost = parse_decimal(cost_per_share, field="cost_per_share", what="The cost per share")
    if cost < 0:
        raise PortfoliosError("The cost per share cannot be negative.", field="cost_per_share")
    lot = TaxLot(
        account=account,
        security=security,
        quantity=quantity,
        original_quantity=quantity,
        cost_per_share=cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN),
        acquired_on=acquired_on,
        entry=entry,
    )
    try:
        # The fields' digits and places are validated; not by a query each (one a fill adds up):
        # the account, security and entry are the caller's rows (the foreign keys hold them), and
        # the check constraints (quantity >= 0 and <= original > 0, cost >= 0) follow from the
        # checks above (the database enforces them as well).
        lot.full_clean(exclude=["account", "security", "entry"], validate_constraints=False)
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    # The lot and its history row together; inside a caller's transaction (a fill's) without a
    # savepoint of its own: everything that may refuse was checked above.
    with transaction.atomic(savepoint=False):
        return save_attributed(lot, acting_user=acting_user, reason="lot opened", validate=False)


def lots_relieve(
    *,
    account: InvestmentAccount,
    security: Security,
    quantity: Decimal,
    price: Decimal,
    closed_on: date,
    acting_user: User,
    method: str | None = None,
    chosen: Sequence[tuple[int, Decimal]] = (),
    entry: JournalEntry | None = None,
    new_entry: bool = False,
    savepoint: bool = True,
) -> list[LotClosure]:
    """Close `quantity` shares out of the open lots and record each lot's realised gain.

    The lots go first from `chosen` ((lot id, shares) pairs: the order's specific lots, as many
    of those shares as are still open), then by `method` — "hifo" (highest cost first: the
    least gain), "tax_optimised" (losses, largest per share first; then long-term gains,
    smallest first; then short-term gains) or "fifo" (oldest first); by default the account's
    `lot_relief_method` (`portfolios.engine.lots.relief_order`).

    Proceeds and cost are rounded to cents (ROUND_HALF_EVEN) per closure; gain = proceeds - cost.
    Refuses a quantity larger than the open lots hold. Idempotent per `entry`: if closures
    for that entry exist already, they are returned (not looked for when the caller made the
    entry in its transaction: `new_entry`).

    In one transaction; `savepoint=False` (a fill's, whose failure rolls everything back) takes
    none of its own inside the caller's.
    """
    with transaction.atomic(savepoint=savepoint):
        return _lots_relieve(
            account=account,
            security=security,
            quantity=quantity,
            price=price,
            closed_on=closed_on,
            acting_user=acting_user,
            method=method,
            chosen=chosen,
            entry=entry,
            find_done=not new_entry,
        )


def _lots_relieve(
    *,
    account: InvestmentAccount,
    security: Security,
    quantity: Decimal,
    price: Decimal,
    closed_on: date,
    acting_user: User,
    method: str | None,
    chosen: Sequence[tuple[int, Decimal]],
    entry: JournalEntry | None,
    find_done: bool,
) -> list[LotClosure]:
    quantity = parse_decimal(quantity, field="quantity", what="The quantity")
    price = parse_decimal(price, field="price", what="The price")
    if quantity <= 0:
        raise PortfoliosError("The quantity must be positive.", field="quantity")
    if price < 0:
        raise PortfoliosError("The price cannot be negative.", field="price")
    method = method or account.lot_relief_method
    if method not in ORDERED_METHODS:
        raise PortfoliosError(f"'{method}' is not a lot relief method ({', '.join(ORDERED_METHODS)}).", field="method")
    if entry is not None and find_done:
        done = list(LotClosure.objects.filter(entry=entry, lot__security=security, lot__account=account))
        if done:
            return done
    lots = list(
        TaxLot.objects.select_for_update()
        .filter(account=account, security=security, quantity__gt=0)
        .order_by("acquired_on", "id")
    )
    available = sum((lot.quantity for lot in lots), ZERO)
    if quantity > available:
        raise PortfoliosError(
            f"Only {available.normalize():f} {security.symbol} are held in open lots; "
            f"cannot relieve {quantity.normalize():f}.",
            field="quantity",
        )
    if InvestmentAccount.household.is_cached(account):  # type: ignore[attr-defined]
        # The lots' firm is the account's: their closures' history rows need no lookup of it.
        readcache.remember_firm(TaxLot, [lot.pk for lot in lots], ACCOUNT_FIRM, account.household.firm_id)
    ordered = relief_plan(lots, quantity=quantity, method=method, chosen=chosen, price=price, on=closed_on)
    closures: list[LotClosure] = []
    touched: list[TaxLot] = []
    for lot, take in ordered:
        taken, lots_touched = lots_take([lot], take, price=price, closed_on=closed_on, entry=entry)
        closures += taken
        touched += lots_touched
    reason = f"lots relieved ({'specific, then ' if chosen else ''}{method})"
    bulk_update_with_history(
        touched, TaxLot, ["quantity", "closed_on"], default_user=acting_user, default_change_reason=reason
    )
    bulk_create_with_history(closures, LotClosure, default_user=acting_user, default_change_reason=reason)
    return closures


ORDERED_METHODS = (ReliefMethod.HIFO.value, ReliefMethod.TAX_OPTIMISED.value, ReliefMethod.FIFO.value)


def relief_plan(
    lots: Sequence[TaxLot],
    *,
    quantity: Decimal,
    method: str,
    chosen: Sequence[tuple[int, Decimal]] = (),
    price: Decimal,
    on: date,
) -> list[tuple[TaxLot, Decimal]]:
    """(lot, shares) taken out of the open `lots` for a sale of `quantity`: the `chosen` lots
    first (at most the shares named and still open), then the rest by `method`."""
    by_pk = {lot.pk: lot for lot in lots}
    left = {lot.pk: lot.quantity for lot in lots}
    plan: list[tuple[TaxLot, Decimal]] = []
    remaining = quantity
    for lot_id, shares in chosen:
        if remaining <= 0:
            break
        take = min(shares, left.get(lot_id, ZERO), remaining)
        if take > 0:
            plan.append((by_pk[lot_id], take))
            left[lot_id] -= take
            remaining -= take
    if remaining > 0:
        engine_lots = [engine_lot(lot) for lot in lots]
        for item in relief_order(engine_lots, method=method, price=price, on=on):
            if remaining <= 0:
                break
            take = min(left[int(item.lot_id)], remaining)
            if take > 0:
                plan.append((by_pk[int(item.lot_id)], take))
                left[int(item.lot_id)] -= take
                remaining -= take
    return plan


def engine_lot(lot: TaxLot) -> Lot:
    return Lot(lot.pk, lot.quantity, lot.cost_per_share, lot.acquired_on, lot.held_from)


def lots_take(
    lots: Iterable[TaxLot],
    quantity: Decimal,
    *,
    price: Decimal,
    closed_on: date,
    entry: JournalEntry | None,
    total_proceeds: Decimal | None = None,
) -> tuple[list[LotClosure], list[TaxLot]]:
    """Take `quantity` shares out of `lots` in the order given: each lot's quantity goes down
    (closed on `closed_on` when it reaches 0) and one unsaved `LotClosure` per lot records the
    sale. Proceeds and cost are rounded to cents (ROUND_HALF_EVEN) per closure and gain =
    proceeds - cost; with `total_proceeds` (a split's cash in lieu) the last closure's proceeds
    are what is left of it, so the closures add up to the cash paid. Returns the closures and
    the lots taken from; the caller saves both."""
    remaining = quantity
    unallocated = total_proceeds
    closures: list[LotClosure] = []
    touched: list[TaxLot] = []
    for lot in lots:
        if remaining <= 0:
            break
        take = min(lot.quantity, remaining)
        remaining -= take
        last = unallocated is not None and remaining <= 0
        proceeds = unallocated if last and unallocated is not None else to_cents(take * price)
        if unallocated is not None:
            unallocated -= proceeds
        cost = to_cents(take * lot.cost_per_share)
        closures.append(
            LotClosure(
                lot=lot,
                quantity=take,
                proceeds=proceeds,
                cost=cost,
                gain=proceeds - cost,
                closed_on=closed_on,
                entry=entry,
            )
        )
        lot.quantity -= take
        if lot.quantity == 0:
            lot.closed_on = closed_on
        touched.append(lot)
    return closures, touched
