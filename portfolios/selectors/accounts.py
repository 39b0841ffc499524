"""Reads of model portfolios and investment accounts, scoped to the user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.permissions import scope_shape, scope_stand_in
from accounts.selectors import household_search_q
from kronos.db import CompiledRead
from portfolios import permissions
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    ModelPortfolio,
    ModelTarget,
    Position,
    Price,
)
from portfolios.selectors.common import _MONEY
from portfolios.selectors.figures import ComputedFigures, account_figures, figure_inputs


def model_portfolio_list(*, firm_id: int, active_only: bool = True) -> QuerySet[ModelPortfolio]:
    """A firm's models with their targets and securities (two queries)."""
    qs = ModelPortfolio.objects.filter(firm_id=firm_id)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.prefetch_related(_targets_prefetch()).order_by("risk_level", "name")


def _targets_prefetch() -> Prefetch:
    return Prefetch("targets", queryset=ModelTarget.objects.select_related("security").order_by("-weight"))


def model_portfolio_list_for_user(*, user: User, active_only: bool = True) -> QuerySet[ModelPortfolio]:
    """The models of the user's firm (superusers: every firm's)."""
    if permissions.sees_every_firm(user):
        qs = ModelPortfolio.objects.all()
        if active_only:
            qs = qs.filter(is_active=True)
        return qs.prefetch_related(_targets_prefetch()).order_by("risk_level", "name")
    firm_id = permissions.model_firm_id(user)
    if not firm_id:
        return ModelPortfolio.objects.none()
    return model_portfolio_list(firm_id=firm_id, active_only=active_only)


#: A firm's models' ids and names, all of them, in the list's order; the SQL built once.
_MODEL_NAMES = CompiledRead(
    lambda _shape, firm_id: (
        model_portfolio_list(firm_id=firm_id, active_only=False).prefetch_related(None).values_list("pk", "name")
    ),
    int,
)


def model_names_for_user(*, user: User) -> list[tuple[int, str]]:
    """The ids and names of every model of the user's firm (superusers: every firm's), active or
    not, in `model_portfolio_list_for_user`'s order: a filter's choices."""
    firm_id = None if permissions.sees_every_firm(user) else permissions.model_firm_id(user)
    if firm_id is None:
        return list(
            model_portfolio_list_for_user(user=user, active_only=False).prefetch_related(None).values_list("pk", "name")
        )
    return _MODEL_NAMES.rows(firm_id)


# --- Accounts -------------------------------------------------------------------------------


def _market_value_subquery(as_of: date | None) -> Subquery:
    price = Price.objects.filter(security_id=OuterRef("security_id"))
    if as_of is not None:
        price = price.filter(date__lte=as_of)
    positions = (
        Position.objects.filter(account_id=OuterRef("pk"))
        .annotate(px=Subquery(price.order_by("-date").values("close")[:1]))
        .values("account_id")
        .annotate(mv=Sum(F("quantity") * F("px"), output_field=_MONEY))
        .values("mv")
    )
    return Subquery(positions, output_field=_MONEY)


def _cash_subquery() -> Subquery:
    cash = (
        CashBalance.objects.filter(account_id=OuterRef("pk"), currency=OuterRef("base_currency"))
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(cash, output_field=_MONEY)


def account_queryset(*, as_of: date | None = None) -> QuerySet[InvestmentAccount]:
    """Accounts with household, advisor, firm and model joined, annotated with `market_value`
    (positions at the last close on or before `as_of`, unrounded: quantise at display), `cash`
    (base currency) and `total_value` -- one query for any number of rows."""
    zero = Value(ZERO, output_field=_MONEY)
    return (
        InvestmentAccount.objects.select_related("household__advisor__user", "household__firm", "model")
        .annotate(
            market_value=Coalesce(_market_value_subquery(as_of), zero),
            cash=Coalesce(_cash_subquery(), zero),
        )
        .annotate(total_value=F("market_value") + F("cash"))
    )


def _filtered(
    qs: QuerySet[InvestmentAccount],
    *,
    user: User,
    search: str = "",
    household_id: int | None = None,
    model_id: int | None = None,
    status: str | None = None,
) -> QuerySet[InvestmentAccount]:
    qs = qs.filter(permissions.account_scope_subquery_q(user))
    if search:
        # Account name or number, household name, or a client's name (first, last or full).
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(custodian_account_number__icontains=search)
            | household_search_q(search, prefix="household__")
        )
    if household_id is not None:
        qs = qs.filter(household_id=household_id)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("household__name", "name", "id")


def account_list_for_user(
    *,
    user: User,
    search: str = "",
    household_id: int | None = None,
    model_id: int | None = None,
    status: str | None = None,
    as_of: date | None = None,
) -> QuerySet[InvestmentAccount]:
    """The user's accounts valued from the records: one query per page.

    Each row has `household` (with `advisor.user` and `firm`), `model`, and the
    annotations `market_value`, `cash` and `total_value` (at `as_of`'s closes when given).
    For today's figures read `account_rows_for_user`: the kept rows, no sums.
    """
    return _filtered(
        account_queryset(as_of=as_of),
        user=user,
        search=search,
        household_id=household_id,
        model_id=model_id,
        status=status,
    )


def account_rows_for_user(
    *,
    user: User,
    search: str = "",
    household_id: int | None = None,
    model_id: int | None = None,
    status: str | None = None,
) -> QuerySet[InvestmentAccount]:
    """The user's accounts with their kept `figures` row joined (`AccountFigures`; none for an
    account not yet given one): one query per page, nothing summed."""
    return _filtered(
        InvestmentAccount.objects.select_related("figures"),
        user=user,
        search=search,
        household_id=household_id,
        model_id=model_id,
        status=status,
    )


class AccountRow(NamedTuple):
    """An account as the accounts API writes it (its settings, by the model's attribute names)
    and its kept figures (`market_value` None: the account has no figures row yet)."""

    pk: int
    household_id: int
    name: str
    account_type: str
    custodian_account_number: str | None
    base_currency: str
    status: str
    model_id: int | None
    drift_threshold: Decimal
    cash_reserve: Decimal
    min_trade_amount: Decimal
    fractional_shares: bool
    reinvest_dividends: bool
    rebalance_mode: str
    rebalance_schedule: str
    lot_relief_method: str
    market_value: Decimal | None
    cash: Decimal | None
    max_drift: Decimal | None
    breached: bool | None


_ROW_COLUMNS = (
    "pk",
    "household_id",
    "name",
    "account_type",
    "custodian_account_number",
    "base_currency",
    "status",
    "model_id",
    "drift_threshold",
    "cash_reserve",
    "min_trade_amount",
    "fractional_shares",
    "reinvest_dividends",
    "rebalance_mode",
    "rebalance_schedule",
    "lot_relief_method",
    "figures__market_value",
    "figures__cash",
    "figures__max_drift",
    "figures__breached",
)


def account_row_values_for_user(
    *, user: User, search: str = "", household_id: int | None = None, model_id: int | None = None
) -> QuerySet[InvestmentAccount, tuple[Any, ...]]:
    """`account_rows_for_user`'s rows as `AccountRow` tuples (`AccountRow._make`): the columns
    the accounts API writes, no model instances."""
    rows = account_rows_for_user(user=user, search=search, household_id=household_id, model_id=model_id)
    return rows.values_list(*_ROW_COLUMNS)


def row_figures(rows: Sequence[AccountRow]) -> dict[int, ComputedFigures]:
    """`kept_figures` for `AccountRow`s: their kept figures, and for an account without a row
    (not yet refreshed) computed from the records (one more query, for their inputs)."""
    out: dict[int, ComputedFigures] = {}
    missing: list[int] = []
    for row in rows:
        if row.market_value is None or row.cash is None:
            missing.append(row.pk)
            continue
        out[row.pk] = ComputedFigures(row.market_value + row.cash, row.max_drift, bool(row.breached), row.cash)
    if missing:
        out.update(account_figures(figure_inputs(missing)))
    return out


def _rows_page(
    user: User, search: str, household_id: int | None, model_id: int | None, offset: int, limit: int
) -> QuerySet[InvestmentAccount, tuple[Any, ...]]:
    rows = account_row_values_for_user(user=user, search=search, household_id=household_id, model_id=model_id)
    return rows.annotate(rows_total=Window(Count("pk")))[offset : offset + limit]


#: The accounts API's page without a search, built once per scope shape, filters given and slice.
_ROWS_PAGE = CompiledRead(
    lambda shape, user_id, firm_id, household_id, model_id: _rows_page(
        scope_stand_in(shape[0], user_id, firm_id),
        "",
        household_id if shape[1] else None,
        model_id if shape[2] else None,
        shape[3],
        shape[4],
    ),
    int,
    int,
    int,
    int,
)


def account_rows_page_for_user(
    *,
    user: User,
    offset: int,
    limit: int,
    search: str = "",
    household_id: int | None = None,
    model_id: int | None = None,
) -> tuple[list[AccountRow], int]:
    """`limit` rows of `account_row_values_for_user` from `offset`, and the count of all its rows
    (0 when the page has none), in one query: the count is a window aggregate over the rows."""
    shape = scope_shape(user)
    if search or shape is None:
        got = list(_rows_page(user, search, household_id, model_id, offset, limit))
    else:
        got = _ROWS_PAGE.rows(
            user.pk,
            user.firm_id or 0,
            household_id or 0,
            model_id or 0,
            shape=(shape, household_id is not None, model_id is not None, offset, limit),
        )
    return [AccountRow._make(row[:-1]) for row in got], (got[0][-1] if got else 0)


def account_get_for_user(*, user: User, pk: int | str) -> InvestmentAccount:
    """One of the user's accounts (annotated as in the list), or 404."""
    return get_object_or_404(account_list_for_user(user=user), pk=pk)


def _account_for_user(user: User, pk: int | str) -> QuerySet[InvestmentAccount]:
    # The scope as a subquery: it may join household members, which would repeat the row.
    return InvestmentAccount.objects.filter(permissions.account_scope_subquery_q(user)).filter(pk=pk)


#: `account_for_user`'s query (asked by every positions, lots and drift read), built once per scope shape.
_ACCOUNT_FOR_USER = CompiledRead(
    lambda shape, user_id, firm_id, pk: _account_for_user(scope_stand_in(shape, user_id, firm_id), pk), int, int, int
)


def account_for_user(*, user: User, pk: int | str) -> InvestmentAccount:
    """One of the user's accounts, the plain row (nothing summed, no figures joined), or 404:
    for reads that need only the account's identity and settings (its positions, lots, drift)."""
    shape = scope_shape(user)
    if shape is None or type(pk) is not int or not 0 < pk < 2**63:
        return get_object_or_404(_account_for_user(user, pk))
    found = _ACCOUNT_FOR_USER.rows(user.pk, user.firm_id or 0, pk, shape=shape)
    if not found:
        raise Http404("No InvestmentAccount matches the given query.")
    return found[0]  # type: ignore[no-any-return]


def account_row_for_user(*, user: User, pk: int | str) -> InvestmentAccount:
    """One of the user's accounts as `account_rows_for_user` reads it, or 404."""
    return get_object_or_404(account_rows_for_user(user=user), pk=pk)


def model_affected_accounts(*, user: User, model: ModelPortfolio) -> list[InvestmentAccount]:
    """The open accounts in the user's scope that follow `model` -- on it themselves or in a
    household rebalancing group on it -- with their households (one query): what a change to
    the model moves."""
    return list(
        InvestmentAccount.objects.filter(permissions.account_scope_q(user))
        .filter(
            Q(model=model)
            | Q(rebalancing_membership__group__model=model, rebalancing_membership__group__is_active=True)
        )
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .select_related("household", "rebalancing_membership__group")
        .distinct()
        .order_by("household__name", "name", "pk")
    )
