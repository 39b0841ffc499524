"""What accounts are worth: market value at the latest prices, or at a past day's close.

A past day's value uses the holdings and cash of the postings effective on or before the
day and, per security, the last close on or before the day (a holiday or a missing close
falls back to the previous one). Amounts are rounded to cents (ROUND_HALF_EVEN) here, once
per account, after summing unrounded quantity x price products.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Sum
from django.utils import timezone

from portfolios.models import ZERO, InvestmentAccount, JournalEntry, Posting
from portfolios.selectors.prices import latest_prices

CENT = Decimal("0.01")

#: Entries that bring value into or take it out of the client's accounts (external flows
#: for the time-weighted return). Trades, fees and dividends are internal.
EXTERNAL_FLOW_KINDS = (
    JournalEntry.Kind.DEPOSIT,
    JournalEntry.Kind.WITHDRAWAL,
    JournalEntry.Kind.TRANSFER_IN,
    JournalEntry.Kind.TRANSFER_OUT,
    JournalEntry.Kind.OPENING_BALANCE,
)


@dataclass(frozen=True, slots=True)
class AccountValue:
    account_id: int
    as_of: date
    market_value: Decimal  # securities, in cents
    cash: Decimal
    external_flow: Decimal = ZERO  # deposits (+) / withdrawals (-) on `as_of`, valued at the day's close
    missing_prices: tuple[int, ...] = ()  # security ids held without any close on or before `as_of`

    @property
    def total(self) -> Decimal:
        return self.market_value + self.cash


def market_value(holdings: Mapping[int, Decimal], prices: Mapping[int, Decimal]) -> Decimal:
    """Sum of quantity x price, rounded to cents once; holdings without a price count as 0."""
    total = sum((q * prices[s] for s, q in holdings.items() if s in prices), ZERO)
    return total.quantize(CENT, rounding=ROUND_HALF_EVEN)


def values_at(*, account_ids: Iterable[int], as_of: date | None = None) -> dict[int, AccountValue]:
    """Many accounts' values at `as_of` (default today) in five queries, whatever their number."""
    as_of = as_of or timezone.localdate()
    ids = list(account_ids)
    if not ids:
        return {}
    currencies = dict(InvestmentAccount.objects.filter(pk__in=ids).values_list("pk", "base_currency"))
    postings = Posting.objects.filter(book__account_id__in=ids, entry__effective_date__lte=as_of)
    holdings: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for r in (
        postings.filter(security__isnull=False)
        .values("book__account_id", "security_id")
        .annotate(q=Sum("quantity"))
        .exclude(q=0)
    ):
        holdings[r["book__account_id"]][r["security_id"]] = r["q"]
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for c in postings.filter(security__isnull=True).values("book__account_id", "currency").annotate(q=Sum("quantity")):
        if currencies.get(c["book__account_id"]) == c["currency"]:
            cash[c["book__account_id"]] = c["q"]
    flows_shares: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    flows_cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for r in (
        Posting.objects.filter(
            book__account_id__in=ids, entry__effective_date=as_of, entry__kind__in=EXTERNAL_FLOW_KINDS
        )
        .values("book__account_id", "security_id", "currency")
        .annotate(q=Sum("quantity"))
    ):
        if r["security_id"] is None:
            if currencies.get(r["book__account_id"]) == r["currency"]:
                flows_cash[r["book__account_id"]] += r["q"]
        else:
            flows_shares[r["book__account_id"]][r["security_id"]] += r["q"]
    wanted = {s for h in holdings.values() for s in h} | {s for f in flows_shares.values() for s in f}
    prices = {sid: p.close for sid, p in latest_prices(list(wanted), as_of=as_of).items()}
    out = {}
    for account_id in ids:
        if account_id not in currencies:
            continue
        held = holdings.get(account_id, {})
        flow = flows_cash[account_id] + market_value(flows_shares.get(account_id, {}), prices)
        out[account_id] = AccountValue(
            account_id=account_id,
            as_of=as_of,
            market_value=market_value(held, prices),
            cash=cash[account_id].quantize(CENT, rounding=ROUND_HALF_EVEN),
            external_flow=flow.quantize(CENT, rounding=ROUND_HALF_EVEN),
            missing_prices=tuple(sorted(s for s in held if s not in prices)),
        )
    return out


def account_value(account: InvestmentAccount, as_of: date | None = None) -> AccountValue:
    """One account's value at `as_of` (default: today, i.e. at the latest prices)."""
    return values_at(account_ids=[account.pk], as_of=as_of)[account.pk]
