"""Reads of the trading domain, scoped to the user asking (404 for others' objects); who may see
what is `trading.permissions`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Count, Prefetch, QuerySet, Sum, Window
from django.db.models.functions import ExtractYear
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Household, User
from accounts.permissions import scope_shape, scope_stand_in
from accounts.selectors import household_get_for_user
from kronos.db import CompiledRead
from portfolios.models import InvestmentAccount, JournalEntry, ModelPortfolio, Posting, RebalancingGroup
from portfolios.selectors import model_portfolio_list_for_user
from trading import permissions
from trading.lifecycle import OPEN_STATES
from trading.models import (
    INPUTS_RELATED,
    CashTransfer,
    Execution,
    FillAnomaly,
    HarvestRecord,
    Order,
    OutboxMessage,
    ProposalTrade,
    RebalanceProposal,
)
from trading.packed_trades import packed_count


def account_get_for_user(*, user: User, pk: int | str) -> InvestmentAccount:
    """One of the user's accounts, or 404."""
    return get_object_or_404(
        InvestmentAccount.objects.select_related("household__advisor__user", "household__firm").filter(
            pk__in=permissions.visible_account_ids(user)
        ),
        pk=pk,
    )


def account_list_for_user(*, user: User, pks: list[int]) -> list[InvestmentAccount]:
    """The user's accounts among `pks` (one query); 404 if any of them is not the user's."""
    wanted = set(pks)
    accounts = list(
        InvestmentAccount.objects.select_related("household__advisor__user", "household__firm")
        .filter(pk__in=wanted)
        .filter(pk__in=permissions.visible_account_ids(user))
        .order_by("pk")
    )
    if len(accounts) != len(wanted):
        raise Http404("No such account.")
    return accounts


def order_list_for_user(*, user: User, account: InvestmentAccount | None = None, status: str = "") -> QuerySet[Order]:
    qs = _orders(user, account.pk if account is not None else None, status).select_related("account", "security")
    return qs.order_by("-created_at", "-id")


def _orders(user: User, account_id: int | None, status: str) -> QuerySet[Order]:
    qs = Order.objects.filter(account_id__in=permissions.visible_account_ids(user))
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATES)
    elif status:
        qs = qs.filter(status=status)
    return qs


class OrderRow(NamedTuple):
    """An order as the orders API lists it, with its account's currency."""

    pk: int
    account_id: int
    symbol: str
    side: str
    order_type: str
    quantity: Decimal | None
    amount: Decimal | None
    limit_price: Decimal | None
    status: str
    status_reason: str
    filled_quantity: Decimal
    average_price: Decimal | None
    client_order_id: str
    source: str
    created_at: datetime
    lot_selection: Any
    base_currency: str


_ORDER_COLUMNS = (
    "pk",
    "account_id",
    "security__symbol",
    "side",
    "order_type",
    "quantity",
    "amount",
    "limit_price",
    "status",
    "status_reason",
    "filled_quantity",
    "average_price",
    "client_order_id",
    "source",
    "created_at",
    "lot_selection",
    "account__base_currency",
)


def order_row_values_for_user(
    *, user: User, account_id: int | None = None, status: str = ""
) -> QuerySet[Order, tuple[Any, ...]]:
    """`order_list_for_user`'s orders as `OrderRow` tuples: the columns the list writes."""
    return _orders(user, account_id, status).order_by("-created_at", "-id").values_list(*_ORDER_COLUMNS)


def _order_rows_page(
    user: User, account_id: int | None, status: str, offset: int, limit: int
) -> QuerySet[Order, tuple[Any, ...]]:
    rows = order_row_values_for_user(user=user, account_id=account_id, status=status)
    return rows.annotate(rows_total=Window(Count("pk")))[offset : offset + limit]


#: The orders list's page, built once per scope shape, filters given and slice.
_ORDER_ROWS_PAGE = CompiledRead(
    lambda shape, user_id, firm_id, account_id, status: _order_rows_page(
        scope_stand_in(shape[0], user_id, firm_id),
        account_id if shape[1] else None,
        status if shape[2] == "one" else shape[2],  # "" and "open" are the SQL's; one status its value
        shape[3],
        shape[4],
    ),
    int,
    int,
    int,
    str,
)


def order_rows_page_for_user(
    *, user: User, offset: int, limit: int, account_id: int | None = None, status: str = ""
) -> tuple[list[OrderRow], int]:
    """`limit` of `order_row_values_for_user`'s rows from `offset`, and the count of all of them
    (0 when the page has none), in one query: the count is a window aggregate over the rows."""
    shape = scope_shape(user)
    if shape is None:
        return [], 0
    status_shape = status if status in ("", "open") else "one"  # one status: a value, not the SQL
    got = _ORDER_ROWS_PAGE.rows(
        user.pk,
        user.firm_id or 0,
        account_id or 0,
        status,
        shape=(shape, account_id is not None, status_shape, offset, limit),
    )
    return [OrderRow(*row[:-1]) for row in got], (got[0][-1] if got else 0)


def order_get_for_user(*, user: User, pk: int | str) -> Order:
    return get_object_or_404(
        order_list_for_user(user=user).select_related("account__household__advisor").prefetch_related("checks"), pk=pk
    )


def _trade_count() -> Any:
    """A proposal's trades: its rows and its packed trades (the nightly scan's)."""
    return Count("trades") + packed_count()


def proposal_get_for_user(*, user: User, pk: int | str) -> RebalanceProposal:
    return get_object_or_404(
        RebalanceProposal.objects.filter(account_id__in=permissions.visible_account_ids(user))
        .select_related("account__household__advisor", "created_by", *INPUTS_RELATED)
        .prefetch_related(
            Prefetch("trades", queryset=ProposalTrade.objects.order_by("position", "id")),
            Prefetch("orders", queryset=Order.objects.select_related("security").order_by("id")),
        ),
        pk=pk,
    )


def proposal_list_by_ids(*, ids: list[int]) -> QuerySet[RebalanceProposal]:
    """Proposals just made for a selection (the caller scoped their accounts), with accounts."""
    return (
        RebalanceProposal.objects.filter(pk__in=ids)
        .select_related("account__household")
        .annotate(trade_count=_trade_count())
        .order_by("account__household__name", "account__name", "pk")
    )


def proposal_list_for_account(*, account: InvestmentAccount) -> QuerySet[RebalanceProposal]:
    return account.rebalance_proposals.annotate(trade_count=_trade_count()).order_by("-created_at", "-id")


def transfer_list_for_account(*, account: InvestmentAccount) -> QuerySet[CashTransfer]:
    return account.transfers.order_by("-created_at", "-id")


def account_transactions(*, account: InvestmentAccount) -> QuerySet[JournalEntry]:
    """The account's journal, newest first, with its own postings (one query + one prefetch)."""
    return (
        JournalEntry.objects.filter(postings__book__account=account)
        .distinct()
        .prefetch_related(
            Prefetch(
                "postings",
                queryset=Posting.objects.filter(book__account=account).select_related("security"),
                to_attr="account_postings",
            )
        )
        .order_by("-effective_date", "-id")
    )


def operations_summary(*, user: User) -> dict[str, Any]:
    """Outbox backlog, orders by state and the latest orders, for the operations page."""
    firm_orders = permissions.firm_orders(user)
    by_status = dict(firm_orders.values_list("status").annotate(n=Count("id")).order_by("status"))
    outbox = OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exclude(
        status=OutboxMessage.Status.SKIPPED
    )
    backlog = list(outbox.values("status", "kind").annotate(n=Count("id")).order_by("status", "kind"))
    return {
        "by_status": by_status,
        "backlog": backlog,
        "backlog_total": sum(r["n"] for r in backlog),
        "dead": outbox.filter(status=OutboxMessage.Status.DEAD).select_related("order__security")[:50],
        "recent": firm_orders.select_related("account", "security").order_by("-created_at", "-id")[:50],
        # Fills refused and booked nowhere (trading.services.fills): open ones first.
        "anomalies": FillAnomaly.objects.filter(order__in=firm_orders)
        .select_related("order__account", "order__security")
        .order_by("status", "-created_at", "-id")[:50],
    }


def household_for_trading(*, user: User, pk: int | str) -> Household:
    """A household the user may trade for (its advisor, a superuser), else 404 (never 403)."""
    household = household_get_for_user(user=user, pk=pk)
    if not permissions.household_may_trade(user=user, household=household):
        raise Http404
    return household


def rebalancing_group_for_household(*, household: Household, pk: int | str | None) -> RebalancingGroup | None:
    """The household's active rebalancing group `pk`, or its only one when `pk` is None; None
    when there is none (or several and none named)."""
    groups = RebalancingGroup.objects.filter(household=household, is_active=True).select_related("model")
    if pk is not None:
        return groups.filter(pk=pk).first()
    found = list(groups[:2])
    return found[0] if len(found) == 1 else None


def proposals_open_for_user(*, user: User, limit: int = 500) -> QuerySet[RebalanceProposal]:
    """The open proposals that need trades on the accounts `user` may trade (the book's bulk
    approval), with their accounts and trade counts: one query."""
    return (
        RebalanceProposal.objects.filter(
            status=RebalanceProposal.Status.PROPOSED,
            needed=True,
            account_id__in=InvestmentAccount.objects.filter(permissions.tradable_accounts_q(user)).values("pk"),
        )
        .select_related("account__household")
        .annotate(trade_count=_trade_count())
        .order_by("account__household__name", "account__name", "pk")[:limit]
    )


def proposals_for_trading(*, user: User, ids: list[int]) -> list[RebalanceProposal]:
    """The proposals `ids`, if the user may trade every one's account; else 404 (one query)."""
    found = list(
        RebalanceProposal.objects.filter(
            pk__in=ids,
            account_id__in=InvestmentAccount.objects.filter(permissions.tradable_accounts_q(user)).values("pk"),
        ).select_related("account__household")
    )
    if len(found) != len(set(ids)):
        raise Http404("No such proposal.")
    return found


def blotter_orders(*, user: User, filters: dict[str, Any]) -> QuerySet[Order]:
    """The firm-wide trade blotter: orders in the user's blotter scope
    (`permissions.blotter_orders_q`; none for others) filtered by status, side, symbol,
    account, advisor and placement date (inclusive), newest first, with what a row shows
    joined in (a fixed number of queries whatever the rows)."""
    scope = permissions.blotter_orders_q(user)
    if scope is None:
        return Order.objects.none()
    orders = Order.objects.filter(scope)
    if filters.get("status"):
        orders = orders.filter(status=filters["status"])
    if filters.get("side"):
        orders = orders.filter(side=filters["side"])
    if filters.get("symbol"):
        orders = orders.filter(security__symbol=filters["symbol"])
    if filters.get("account"):
        orders = orders.filter(account_id=filters["account"])
    if filters.get("advisor"):
        orders = orders.filter(account__household__advisor_id=filters["advisor"])
    if filters.get("date_from"):
        orders = orders.filter(created_at__date__gte=filters["date_from"])
    if filters.get("date_to"):
        orders = orders.filter(created_at__date__lte=filters["date_to"])
    return orders.select_related("account__household__advisor__user", "security").order_by("-created_at", "-id")


def model_for_user(*, user: User, pk: int | str) -> ModelPortfolio:
    """One of the models the user sees (their firm's), else 404."""
    return get_object_or_404(model_portfolio_list_for_user(user=user, active_only=False), pk=pk)


def harvested_losses(*, account_ids: list[int]) -> list[dict[str, Any]]:
    """Losses realised by tax-loss harvesting, per account and year: the realised result of the
    harvest proposals' filled sells (negative: a loss), and what the harvests set out to realise.
    Two queries."""
    realised = {
        (r["order__account_id"], r["year"]): r["total"]
        for r in Execution.objects.filter(
            order__account_id__in=account_ids, order__side="sell", order__proposal__harvest__isnull=False
        )
        .annotate(year=ExtractYear("trade_date"))
        .values("order__account_id", "year")
        .annotate(total=Sum("realised_gain"))
    }
    planned = (
        HarvestRecord.objects.filter(account_id__in=account_ids)
        .values("account_id", "account__name", "year")
        .annotate(estimated=Sum("estimated_loss"))
        .order_by("account__name", "account_id", "-year")
    )
    return [
        {
            "account": row["account_id"],
            "account_name": row["account__name"],
            "year": row["year"],
            "estimated_loss": row["estimated"],
            "realised": realised.get((row["account_id"], row["year"]), Decimal(0)),
        }
        for row in planned
    ]
