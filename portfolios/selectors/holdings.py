"""Reads of an account's holdings: positions with their values, tax lots, drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum

from accounts.models import User
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
from portfolios.permissions import account_scope_subquery_q
from portfolios.selectors.accounts import account_for_user, scope_shape, scope_stand_in
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


def _positions(where: Q, currency: str | OuterRef, as_of: date | None) -> QuerySet[Position, tuple[object, ...]]:
    """The positions `where` finds with each one's last close on or before `as_of`, its open
    lots' cost and its account's cash in `currency` (on every row)."""
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
        Position.objects.filter(where)
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


#: The latest holdings' query (the account page), its SQL built once.
_POSITIONS = CompiledRead(
    lambda _shape, account_id, currency: _positions(Q(account_id=account_id), currency, None), int, str
)


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
        positions = list(_positions(Q(account_id=account.pk), account.base_currency, as_of))
    cash_amount = (positions[0][8] if positions[0][8] is not None else ZERO) if positions else _cash(account)
    return _holdings(positions, cash_amount, account.model_id if with_targets else None)


def _cash(account: InvestmentAccount) -> Decimal:
    cash = (
        CashBalance.objects.filter(account=account, currency=account.base_currency)
        .order_by()
        .values_list("amount", flat=True)
    )
    return next(iter(cash), ZERO)


def _scoped_positions(user: User, pk: int) -> QuerySet[Position, tuple[object, ...]]:
    where = Q(account_id=pk) & account_scope_subquery_q(user, prefix="account__")
    return _positions(where, OuterRef("account__base_currency"), None).annotate(currency=F("account__base_currency"))


#: `positions_for_user`'s query, its SQL built once per scope shape.
_SCOPED_POSITIONS = CompiledRead(
    lambda shape, user_id, firm_id, pk: _scoped_positions(scope_stand_in(shape, user_id, firm_id), pk), int, int, int
)


def positions_for_user(*, user: User, pk: int) -> tuple[str, AccountHoldings]:
    """The latest holdings of one of the user's accounts (no target weights) and the account's
    base currency, or 404: one query, the account's scope checked in it, for an account that
    holds something; an account holding nothing (or not the user's: 404) reads the account,
    then its cash, as `account_for_user` and `account_positions` would."""
    shape = scope_shape(user)
    if shape is not None and type(pk) is int and 0 < pk < 2**63:
        rows = _SCOPED_POSITIONS.rows(user.pk, user.firm_id or 0, pk, shape=shape)
        if rows:
            cash_amount = rows[0][8] if rows[0][8] is not None else ZERO
            return rows[0][9], _holdings([row[:9] for row in rows], cash_amount, None)
    account = account_for_user(user=user, pk=pk)
    return account.base_currency, account_positions(account, with_targets=False)


def _holdings(positions: list[Any], cash_amount: Decimal, model_id: int | None) -> AccountHoldings:
    """Holdings from position rows (as `_positions` reads them) and the account's cash; the
    target weights of model `model_id` (none: every target 0)."""
    if model_id:
        model_targets, pairs = model_targets_and_substitutes(model_ids=[model_id])
        wanted = model_targets.get(model_id, {})
    else:
        wanted, pairs = {}, {}
    values = {
        sec_id: (qty * close).quantize(CENT, ROUND_HALF_EVEN) if close is not None else ZERO
        for sec_id, _s, _n, _a, qty, close, *_ in positions
    }
    invested = sum(values.values(), ZERO)
    # A held substitute stands in for its security (engine.substitutes), as in the drift.
    targets = stand_in_targets(wanted, values, pairs[model_id]) if model_id in pairs else wanted
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
