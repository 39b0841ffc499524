"""Tax lots and realised gains: the wash-sale engine's input for a household, the lots and gains
an account or household shows (pages, the API, the CSV and PDF exports)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Exists, OuterRef, Q, Sum

from portfolios.engine.lots import Term, holding_term
from portfolios.engine.rebalancing import WASH_SALE_DAYS, ZERO
from portfolios.engine.wash_sales import Acquisition, LossSale
from portfolios.models import InvestmentAccount, JournalEntry, LotClosure, TaxLot, WashSaleAdjustment
from portfolios.selectors.common import CENT
from portfolios.selectors.prices import latest_prices

# Lots that are purchases (possible replacement shares): bought in a trade, or opened without an
# entry (a lot made by hand or a test); a transfer in or an opening balance is not a purchase.
_PURCHASE = Q(entry__isnull=True) | Q(entry__kind=JournalEntry.Kind.TRADE)


@dataclass(frozen=True)
class WashSaleHistory:
    """A household's loss sales and replacement purchases, as the wash-sale engine takes them:
    quantities are what is not yet matched (a lot used as replacement shares once is not
    offered again; a closure offers its shares not yet matched)."""

    sales: list[LossSale] = field(default_factory=list)
    acquisitions: list[Acquisition] = field(default_factory=list)


def household_wash_sale_history(
    *,
    household_id: int,
    start: date,
    end: date,
    security_ids: Collection[int] | None = None,
    days: int = WASH_SALE_DAYS,
    only_if_matchable: bool = False,
) -> WashSaleHistory:
    """Every account of the household (IRAs included): the loss sales closed in [start, end] and
    the purchases that could replace them, acquired in [start - days, end + days] and still
    open. Two queries whatever the number of accounts; with `only_if_matchable`, one when no
    sale has a loss left to match (no purchases read: `wash_sale_matches` would match nothing)."""
    lots = TaxLot.objects.filter(account__household_id=household_id)
    closures = LotClosure.objects.filter(
        lot__account__household_id=household_id, gain__lt=0, closed_on__range=(start, end)
    )
    if security_ids is not None:
        lots = lots.filter(security_id__in=list(security_ids))
        closures = closures.filter(lot__security_id__in=list(security_ids))
    sales = []
    for pk, quantity, gain, closed_on, matched, lot_id, split_from, account_id, security_id, acquired, held in (
        closures.annotate(matched=Sum("wash_sale_adjustments__quantity"))
        .values_list(
            "pk",
            "quantity",
            "gain",
            "closed_on",
            "matched",
            "lot_id",
            "lot__split_from_id",
            "lot__account_id",
            "lot__security_id",
            "lot__acquired_on",
            "lot__held_from",
        )
        .order_by("closed_on", "pk")
    ):
        sales.append(
            LossSale(
                sale_id=pk,
                purchase_id=split_from or lot_id,
                account_id=account_id,
                security_id=security_id,
                sold_on=closed_on,
                quantity=quantity - (matched or ZERO),
                loss_per_share=-gain / quantity,
                held_days=(closed_on - (held or acquired)).days,
            )
        )
    if only_if_matchable and not any(sale.quantity > ZERO and sale.loss_per_share > ZERO for sale in sales):
        return WashSaleHistory(sales=sales, acquisitions=[])
    used = WashSaleAdjustment.objects.filter(replacement_id=OuterRef("pk"))
    acquisitions = [
        Acquisition(pk, split_from or pk, account_id, security_id, acquired, quantity)
        for pk, split_from, account_id, security_id, acquired, quantity in lots.filter(
            _PURCHASE,
            quantity__gt=0,
            acquired_on__range=(start - timedelta(days=days), end + timedelta(days=days)),
        )
        .exclude(Exists(used))
        .values_list("pk", "split_from_id", "account_id", "security_id", "acquired_on", "quantity")
        .order_by("acquired_on", "pk")
    ]
    return WashSaleHistory(sales=sales, acquisitions=acquisitions)


# --- what the pages and the API show --------------------------------------------------------


@dataclass(frozen=True)
class LotRow:
    lot: TaxLot
    account: InvestmentAccount
    symbol: str
    acquired_on: date
    held_from: date
    quantity: Decimal
    cost_per_share: Decimal
    cost_basis: Decimal  # quantity x cost per share (a wash sale's disallowed loss included), cents
    price: Decimal | None
    market_value: Decimal | None
    unrealized_gain: Decimal | None
    term: Term
    wash_sale_disallowed: Decimal  # the disallowed losses carried into this lot's cost


def lot_rows(*, accounts: Sequence[InvestmentAccount], as_of: date) -> list[LotRow]:
    """The open lots of `accounts`, valued at the latest close on or before `as_of`, with their
    term as of `as_of` (two queries)."""
    by_pk = {a.pk: a for a in accounts}
    lots = list(
        TaxLot.objects.filter(account_id__in=list(by_pk), quantity__gt=0)
        .select_related("security")
        .order_by("account_id", "security__symbol", "acquired_on", "id")
    )
    prices = latest_prices(list({lot.security_id for lot in lots}), as_of=as_of)
    rows = []
    for lot in lots:
        cost = (lot.quantity * lot.cost_per_share).quantize(CENT, ROUND_HALF_EVEN)
        latest = prices.get(lot.security_id)
        value = (lot.quantity * latest.close).quantize(CENT, ROUND_HALF_EVEN) if latest else None
        held_from = lot.held_from or lot.acquired_on
        rows.append(
            LotRow(
                lot=lot,
                account=by_pk[lot.account_id],
                symbol=lot.security.symbol,
                acquired_on=lot.acquired_on,
                held_from=held_from,
                quantity=lot.quantity,
                cost_per_share=lot.cost_per_share,
                cost_basis=cost,
                price=latest.close if latest else None,
                market_value=value,
                unrealized_gain=value - cost if value is not None else None,
                term=holding_term(held_from, as_of),
                wash_sale_disallowed=lot.wash_sale_adjustment,
            )
        )
    return rows


@dataclass(frozen=True)
class GainRow:
    closure: LotClosure
    account: InvestmentAccount
    symbol: str
    lot_id: int
    acquired_on: date
    closed_on: date
    quantity: Decimal
    proceeds: Decimal
    cost_basis: Decimal
    gain: Decimal  # proceeds - cost basis
    term: Term
    wash_sale_disallowed: Decimal
    recognised_gain: Decimal  # gain + the disallowed loss: what counts for tax this year


@dataclass(frozen=True)
class RealisedGains:
    year: int
    rows: list[GainRow]
    short_term: Decimal  # recognised gains (losses negative) of the short-term rows
    long_term: Decimal
    wash_sale_disallowed: Decimal


def realised_gains(*, accounts: Sequence[InvestmentAccount], year: int) -> RealisedGains:
    """The lots `accounts` closed in `year` (one query): each row's gain, its term (by the day
    its holding period counts from), the wash-sale disallowed part; short- and long-term totals
    of the recognised gains (gain + disallowed loss)."""
    by_pk = {a.pk: a for a in accounts}
    closures = (
        LotClosure.objects.filter(lot__account_id__in=list(by_pk), closed_on__year=year)
        .select_related("lot__security")
        .order_by("closed_on", "id")
    )
    rows = []
    totals = {Term.SHORT: ZERO, Term.LONG: ZERO}
    for c in closures:
        lot = c.lot
        term = holding_term(lot.held_from or lot.acquired_on, c.closed_on)
        recognised = c.gain + c.wash_sale_disallowed
        totals[term] += recognised
        rows.append(
            GainRow(
                closure=c,
                account=by_pk[lot.account_id],
                symbol=lot.security.symbol,
                lot_id=lot.pk,
                acquired_on=lot.acquired_on,
                closed_on=c.closed_on,
                quantity=c.quantity,
                proceeds=c.proceeds,
                cost_basis=c.cost,
                gain=c.gain,
                term=term,
                wash_sale_disallowed=c.wash_sale_disallowed,
                recognised_gain=recognised,
            )
        )
    return RealisedGains(
        year=year,
        rows=rows,
        short_term=totals[Term.SHORT],
        long_term=totals[Term.LONG],
        wash_sale_disallowed=sum((r.wash_sale_disallowed for r in rows), ZERO),
    )
