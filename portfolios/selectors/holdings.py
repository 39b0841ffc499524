"""Reads of an account's holdings: positions with their values, tax lots, drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum

from kronos.db import CompiledRead
from portfolios.engine import rebalancing
from portfolios.engine.substitutes import stand_in_targets
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    Position,
    Price,
    TaxLot,
)
from portfolios.selectors.common import _MONEY, CENT
from portfolios.selectors.snapshots import engine_snapshots
from portfolios.selectors.tax import model_targets_and_substitutes


@dataclass(frozen=True, slots=True)
class PositionRow:
    security_id: int
    symbol: str
    name: str
    asset_class: str
    quantity: Decimal
    price: Decimal | None  # None when the security has no close yet
    price_date: date | None
    market_value: Decimal  # cents
    weight: Decimal  # of the account's total value (fraction of 1)
    target_weight: Decimal
    cost_basis: Decimal  # open lots' cost, cents
    unrealised_gain: Decimal


@dataclass(frozen=True, slots=True)
class AccountHoldings:
    positions: tuple[PositionRow, ...]
    cash: Decimal
    market_value: Decimal
    total_value: Decimal
    cash_weight: Decimal


def _positions(account_id: int, currency: str, as_of: date | None) -> QuerySet[Position, tuple[object, ...]]:
    """An account's positions with each one's last close on or before `as_of`, its open lots'
    cost and the account's cash in `currency` (on every row)."""
    closes = Price.objects.filter(security_id=OuterRef("security_id"))
    if as_of is not None:
        closes = closes.filter(date__lte=as_of)
    closes = closes.order_by("-date")
    lot_cost = (
        TaxLot.objects.filter(account_id=OuterRef("account_id"), security_id=OuterRef("security_id"), quantity__gt=0)
        .order_by()
        .values("security_id")
        .annotate(cost=Sum(F("quantity") * F("cost_per_share"), output_field=_MONEY))
        .values("cost")
    )
    cash_of = (
        CashBalance.objects.filter(account_id=OuterRef("account_id"), currency=currency).order_by().values("amount")[:1]
    )
    return (
        Position.objects.filter(account_id=account_id)
        .exclude(quantity=0)
        .order_by("security__symbol")
        .values_list(
            "security_id",
            "security__symbol",
            "security__name",
            "security__asset_class",
            "quantity",
        )
        .annotate(
            close=Subquery(closes.values("close")[:1]),
            close_date=Subquery(closes.values("date")[:1]),
            cost=Subquery(lot_cost, output_field=_MONEY),
            cash=Subquery(cash_of, output_field=_MONEY),
        )
    )


#: The latest holdings' query (the positions API, the account page), its SQL built once.
_POSITIONS = CompiledRead(lambda _shape, account_id, currency: _positions(account_id, currency, None), int, str)


def account_positions(
    account: InvestmentAccount, *, as_of: date | None = None, with_targets: bool = True
) -> AccountHoldings:
    """The account's holdings with price, market value, weight, target and cost basis.

    One query reads the positions with each one's last close on or before `as_of`, its open
    lots' cost and the account's cash; an account holding nothing reads its cash in a second.
    The model's targets cost one more query (`with_targets=False`: every target weight 0)."""
    if as_of is None:
        positions = _POSITIONS.rows(account.pk, account.base_currency)
    else:
        positions = list(_positions(account.pk, account.base_currency, as_of))
    if positions:
        cash_amount = positions[0][8] if positions[0][8] is not None else ZERO
    else:
        cash = (
            CashBalance.objects.filter(account=account, currency=account.base_currency)
            .order_by()
            .values_list("amount", flat=True)
        )
        cash_amount = next(iter(cash), ZERO)
    if account.model_id and with_targets:
        model_targets, pairs = model_targets_and_substitutes(model_ids=[account.model_id])
        wanted = model_targets.get(account.model_id, {})
    else:
        wanted, pairs = {}, {}
    values = {
        sec_id: (qty * close).quantize(CENT, ROUND_HALF_EVEN) if close is not None else ZERO
        for sec_id, _s, _n, _a, qty, close, *_ in positions
    }
    invested = sum(values.values(), ZERO)
    # A held substitute stands in for its security (engine.substitutes), as in the drift.
    targets = stand_in_targets(wanted, values, pairs[account.model_id]) if account.model_id in pairs else wanted
    total = invested + cash_amount
    rows = []
    for sec_id, symbol, name, asset_class, qty, close, close_date, cost_raw, _cash in positions:
        cost = (cost_raw or ZERO).quantize(CENT, ROUND_HALF_EVEN)
        mv = values[sec_id]
        rows.append(
            PositionRow(
                security_id=sec_id,
                symbol=symbol,
                name=name,
                asset_class=asset_class,
                quantity=qty,
                price=close,
                price_date=close_date,
                market_value=mv,
                weight=(mv / total) if total else ZERO,
                target_weight=targets.get(sec_id, ZERO),
                cost_basis=cost,
                unrealised_gain=mv - cost,
            )
        )
    return AccountHoldings(
        positions=tuple(rows),
        cash=cash_amount,
        market_value=invested,
        total_value=total,
        cash_weight=(cash_amount / total) if total else ZERO,
    )


def account_lots(account: InvestmentAccount, *, open_only: bool = True) -> QuerySet[TaxLot]:
    qs = TaxLot.objects.filter(account=account).select_related("security")
    if open_only:
        qs = qs.filter(quantity__gt=0)
    return qs.order_by("security__symbol", "acquired_on", "id")


def account_drift(account: InvestmentAccount, *, as_of: date | None = None) -> rebalancing.DriftReport:
    """The account's drift against its model now (or at `as_of`'s prices)."""
    snapshot = engine_snapshots(account_ids=[account.pk], as_of=as_of)[account.pk]
    return rebalancing.calculate_drift(snapshot)  # type: ignore[attr-defined]
