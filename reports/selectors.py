"""Reads of reports: a statement's figures (one selector, read by the PDF, the statement page and
the API alike, so the three always agree), a household's performance report, the firm's branding,
and the statements and batches a user may see (404 for anyone else's).

Amounts are cents (ROUND_HALF_EVEN, where the ledger's valuation rounds them: `values_at`, and
each holding's quantity x close); returns are the accounts' time-weighted returns
(`portfolios.selectors.performance_between` / `performance_periods`), unrounded.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Case, DecimalField, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.shortcuts import get_object_or_404

from accounts.models import Firm, Household, User
from accounts.selectors import household_scope_q
from portfolios import selectors as portfolio_selectors
from portfolios.models import AssetClass, InvestmentAccount, JournalEntry, LotClosure, Posting, TaxLot
from reports.models import FirmBranding, Statement, StatementBatch
from reports.permissions import batch_scope_q

ZERO = Decimal("0")
CENT = Decimal("0.01")
EXTERNAL = tuple(str(k) for k in portfolio_selectors.EXTERNAL_FLOW_KINDS)
_MONEY = DecimalField(max_digits=30, decimal_places=12)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def quarter_start(day: date) -> date:
    """The first day of the calendar quarter holding `day`."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quarter_end_before(day: date) -> date:
    """The last quarter end strictly before `day` (on 1 April: 31 March)."""
    return quarter_start(day) - timedelta(days=1)


# --- The statement's figures -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldingLine:
    symbol: str
    name: str
    asset_class: str
    quantity: Decimal
    price: Decimal | None
    market_value: Decimal
    cost_basis: Decimal
    unrealised_gain: Decimal


@dataclass(frozen=True, slots=True)
class TransactionLine:
    date: date
    kind: str  # the journal entry's kind (deposit, trade, fee, ...)
    kind_label: str
    description: str
    symbol: str
    quantity: Decimal | None  # shares in (+) or out (-)
    amount: Decimal  # cash in (+) or out (-), in the account's currency


@dataclass(frozen=True, slots=True)
class StatementFigures:
    """An account's quarter to `period_end`: the summary, holdings and transactions."""

    account_id: int
    account_name: str
    account_number: str
    household_id: int
    household_name: str
    currency: str
    period_start: date
    period_end: date
    opening_value: Decimal  # at the close of the day before period_start
    deposits: Decimal
    withdrawals: Decimal  # shown positive
    dividends: Decimal
    fees: Decimal  # shown positive
    change_in_value: Decimal  # the balancing line: market movement (and anything else)
    closing_value: Decimal
    closing_cash: Decimal
    closing_market_value: Decimal
    realised_gains: Decimal
    holdings: tuple[HoldingLine, ...]
    transactions: tuple[TransactionLine, ...]
    twr: Decimal | None  # the quarter's time-weighted return net of fees; None without valuations
    benchmark: str  # the account's benchmark, a blend's description ("60% SPY / 40% AGG")
    benchmark_twr: Decimal | None
    twr_gross: Decimal | None = None  # the same before fees
    mwr: Decimal | None = None  # the quarter's money-weighted return (net)

    @property
    def as_of(self) -> date:
        return self.period_end

    @property
    def total_cost_basis(self) -> Decimal:
        return sum((h.cost_basis for h in self.holdings), ZERO)

    def summary(self) -> dict[str, Any]:
        """The figures the PDF, the page and the API all show, by name."""
        return {
            "opening_value": self.opening_value,
            "deposits": self.deposits,
            "withdrawals": self.withdrawals,
            "dividends": self.dividends,
            "fees": self.fees,
            "change_in_value": self.change_in_value,
            "closing_value": self.closing_value,
            "realised_gains": self.realised_gains,
        }


def _cash_flows(account: InvestmentAccount, start: date, end: date) -> dict[str, Decimal]:
    """Money into and out of the account in [start, end]: deposits and withdrawals (cash, and
    securities transferred in or out valued at their day's close, as the time-weighted return
    counts them), dividends and fees. Two queries, plus one per day securities moved in or out."""
    window = Q(entry__effective_date__gte=start, entry__effective_date__lte=end)
    rows = (
        Posting.objects.filter(window, book__account=account, security__isnull=True, currency=account.base_currency)
        .values("entry__kind")
        .annotate(
            inflow=Sum("quantity", filter=Q(quantity__gt=0)),
            outflow=Sum("quantity", filter=Q(quantity__lt=0)),
        )
    )
    out = {"deposits": ZERO, "withdrawals": ZERO, "dividends": ZERO, "fees": ZERO}
    for r in rows:
        inflow, outflow = r["inflow"] or ZERO, r["outflow"] or ZERO
        kind = r["entry__kind"]
        if kind in EXTERNAL:
            out["deposits"] += inflow
            out["withdrawals"] -= outflow
        elif kind == JournalEntry.Kind.DIVIDEND:
            out["dividends"] += inflow + outflow
        elif kind == JournalEntry.Kind.FEE:
            out["fees"] -= inflow + outflow
    moved: dict[date, dict[int, Decimal]] = defaultdict(dict)
    for day, security_id, quantity in (
        Posting.objects.filter(window, book__account=account, security__isnull=False, entry__kind__in=EXTERNAL)
        .values("entry__effective_date", "security_id")
        .annotate(q=Sum("quantity"))
        .exclude(q=0)
        .values_list("entry__effective_date", "security_id", "q")
    ):
        moved[day][security_id] = quantity
    for day, shares in moved.items():
        closes = portfolio_selectors.latest_prices(list(shares), as_of=day)
        for security_id, quantity in shares.items():
            price = closes.get(security_id)
            value = quantity * price.close if price else ZERO
            if value > 0:
                out["deposits"] += value
            else:
                out["withdrawals"] -= value
    return {k: cents(v) for k, v in out.items()}


def _holdings_at(account: InvestmentAccount, end: date) -> tuple[HoldingLine, ...]:
    """The account's holdings at the close of `end`, with cost basis of the lots open then (three queries)."""
    quantities = {
        r["security_id"]: (r["security__symbol"], r["security__name"], r["security__asset_class"], r["q"])
        for r in Posting.objects.filter(book__account=account, security__isnull=False, entry__effective_date__lte=end)
        .values("security_id", "security__symbol", "security__name", "security__asset_class")
        .annotate(q=Sum("quantity"))
        .exclude(q=0)
    }
    prices = portfolio_selectors.latest_prices(list(quantities), as_of=end)
    # A lot's shares open at `end`: what is open now plus what was closed after `end`.
    costs: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for r in (
        TaxLot.objects.filter(account=account, acquired_on__lte=end, security_id__in=list(quantities))
        .annotate(closed_later=Sum("closures__quantity", filter=Q(closures__closed_on__gt=end)))
        .values("security_id", "quantity", "closed_later", "cost_per_share")
    ):
        open_then = r["quantity"] + (r["closed_later"] or ZERO)
        costs[r["security_id"]] += open_then * r["cost_per_share"]
    lines = []
    for security_id, (symbol, name, asset_class, quantity) in sorted(quantities.items(), key=lambda kv: kv[1][0]):
        price = prices.get(security_id)
        value = cents(quantity * price.close) if price else ZERO
        cost = cents(costs[security_id])
        lines.append(
            HoldingLine(
                symbol=symbol,
                name=name,
                asset_class=asset_class,
                quantity=quantity,
                price=price.close if price else None,
                market_value=value,
                cost_basis=cost,
                unrealised_gain=value - cost,
            )
        )
    return tuple(lines)


def _transactions(account: InvestmentAccount, start: date, end: date) -> tuple[TransactionLine, ...]:
    """The account's journal entries in [start, end], oldest first, one line each (two queries)."""
    postings = (
        Posting.objects.filter(book__account=account, entry__effective_date__gte=start, entry__effective_date__lte=end)
        .select_related("entry", "security")
        .order_by("entry__effective_date", "entry_id", "id")
    )
    labels = dict(JournalEntry.Kind.choices)
    grouped: dict[int, list[Posting]] = {}
    for p in postings:
        grouped.setdefault(p.entry_id, []).append(p)
    lines = []
    for legs in grouped.values():
        entry = legs[0].entry
        shares = [p for p in legs if p.security_id is not None]
        cash = sum((p.quantity for p in legs if p.security_id is None and p.currency == account.base_currency), ZERO)
        lines.append(
            TransactionLine(
                date=entry.effective_date,
                kind=entry.kind,
                kind_label=labels.get(entry.kind, entry.kind),
                description=entry.memo,
                symbol=", ".join(sorted({p.security.symbol for p in shares if p.security})),
                quantity=sum((p.quantity for p in shares), ZERO) if len(shares) == 1 else None,
                amount=cents(cash),
            )
        )
    return tuple(lines)


def statement_figures(account: InvestmentAccount, *, period_end: date) -> StatementFigures:
    """The figures of an account's statement for the quarter to `period_end` (from the first day
    of its quarter): a fixed number of queries whatever the number of holdings or transactions."""
    start = quarter_start(period_end)
    opening_day = start - timedelta(days=1)
    opening = portfolio_selectors.values_at(account_ids=[account.pk], as_of=opening_day)[account.pk]
    closing = portfolio_selectors.values_at(account_ids=[account.pk], as_of=period_end)[account.pk]
    flows = _cash_flows(account, start, period_end)
    realised = LotClosure.objects.filter(
        lot__account=account, closed_on__gte=start, closed_on__lte=period_end
    ).aggregate(total=Sum(F("gain"), output_field=_MONEY))["total"]
    benchmark = portfolio_selectors.benchmark_for_account(account)
    performance = portfolio_selectors.performance_between(
        account, start=opening_day, end=period_end, benchmark=benchmark
    )
    change = (
        closing.total - opening.total - flows["deposits"] + flows["withdrawals"] - flows["dividends"] + flows["fees"]
    )
    household = account.household
    return StatementFigures(
        account_id=account.pk,
        account_name=account.name,
        account_number=account.custodian_account_number or "",
        household_id=household.pk,
        household_name=household.name,
        currency=account.base_currency,
        period_start=start,
        period_end=period_end,
        opening_value=opening.total,
        deposits=flows["deposits"],
        withdrawals=flows["withdrawals"],
        dividends=flows["dividends"],
        fees=flows["fees"],
        change_in_value=change,
        closing_value=closing.total,
        closing_cash=closing.cash,
        closing_market_value=closing.market_value,
        realised_gains=cents(realised or ZERO),
        holdings=_holdings_at(account, period_end),
        transactions=_transactions(account, start, period_end),
        twr=performance.twr,
        benchmark=benchmark.description,
        benchmark_twr=performance.benchmark_twr,
        twr_gross=performance.twr_gross,
        mwr=performance.mwr,
    )


# --- The household's performance report ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllocationSlice:
    label: str
    value: Decimal
    weight: Decimal  # fraction of 1


@dataclass(frozen=True, slots=True)
class AccountPerformance:
    account_id: int
    name: str
    number: str
    opening_value: Decimal
    closing_value: Decimal
    deposits: Decimal
    withdrawals: Decimal
    periods: tuple[portfolio_selectors.Performance, ...]


@dataclass(frozen=True, slots=True)
class HouseholdReport:
    household_id: int
    household_name: str
    currency: str
    period_start: date
    period_end: date
    accounts: tuple[AccountPerformance, ...]
    allocation: tuple[AllocationSlice, ...]
    benchmark: str
    ytd_deposits: Decimal
    ytd_withdrawals: Decimal
    period_labels: tuple[str, ...] = field(default=())
    # The household's own returns: the TWR of its accounts' summed values and flows.
    household_periods: tuple[portfolio_selectors.Performance, ...] = field(default=())

    @property
    def as_of(self) -> date:
        return self.period_end

    @property
    def opening_value(self) -> Decimal:
        return sum((a.opening_value for a in self.accounts), ZERO)

    @property
    def closing_value(self) -> Decimal:
        return sum((a.closing_value for a in self.accounts), ZERO)

    @property
    def deposits(self) -> Decimal:
        return sum((a.deposits for a in self.accounts), ZERO)

    @property
    def withdrawals(self) -> Decimal:
        return sum((a.withdrawals for a in self.accounts), ZERO)


ASSET_CLASS_LABELS = {"cash": "Cash"}


def household_report(household: Household, *, period_end: date) -> HouseholdReport:
    """A household's performance report to `period_end`: each open account's values, flows and
    returns by period against the benchmark, the household's allocation, and the year's flows."""
    labels = {**dict(AssetClass.choices), **ASSET_CLASS_LABELS}
    accounts = list(
        InvestmentAccount.objects.filter(household=household, opened_on__lte=period_end)
        .exclude(status=InvestmentAccount.Status.PENDING)
        .select_related("household")
        .order_by("name", "id")
    )
    spec = portfolio_selectors.benchmark_for_household(household.pk, accounts)
    lines = []
    by_class: dict[str, Decimal] = defaultdict(lambda: ZERO)
    ytd_in = ytd_out = ZERO
    year_start = date(period_end.year, 1, 1)
    for account in accounts:
        figures = statement_figures(account, period_end=period_end)
        for h in figures.holdings:
            by_class[h.asset_class] += h.market_value
        by_class["cash"] += figures.closing_cash
        year = _cash_flows(account, year_start, period_end)
        ytd_in += year["deposits"]
        ytd_out += year["withdrawals"]
        # Against the household's benchmark, the one the report names.
        periods = portfolio_selectors.performance_periods(account, today=period_end, benchmark=spec)
        lines.append(
            AccountPerformance(
                account_id=account.pk,
                name=account.name,
                number=account.custodian_account_number or "",
                opening_value=figures.opening_value,
                closing_value=figures.closing_value,
                deposits=figures.deposits,
                withdrawals=figures.withdrawals,
                periods=tuple(periods),
            )
        )
    total = sum(by_class.values(), ZERO)
    allocation = tuple(
        AllocationSlice(labels.get(k, k), v, (v / total) if total else ZERO)
        for k, v in sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))
        if v
    )
    currency = accounts[0].base_currency if accounts else household.firm.base_currency
    household_periods, _ = portfolio_selectors.household_performance_periods(
        household.pk, [a for a in accounts if a.base_currency == currency], today=period_end
    )
    return HouseholdReport(
        household_id=household.pk,
        household_name=household.name,
        currency=currency,
        period_start=quarter_start(period_end),
        period_end=period_end,
        accounts=tuple(lines),
        allocation=allocation,
        benchmark=spec.description,
        ytd_deposits=ytd_in,
        ytd_withdrawals=ytd_out,
        period_labels=tuple(p.label for p in lines[0].periods) if lines else (),
        household_periods=tuple(household_periods),
    )


# --- Branding --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Branding:
    name: str
    logo_data_uri: str
    accent_color: str
    disclosures: tuple[str, ...]


def branding_for(firm: Firm) -> Branding:
    """How the firm's statements look: its printed name, logo (a data: URI, so the PDF renderer
    fetches nothing), accent colour and disclosures (one query)."""
    row = FirmBranding.objects.filter(firm=firm).first()
    if row is None:
        return Branding(firm.name, "", "#1f3a5f", ())
    logo = bytes(row.logo or b"")
    uri = f"data:{row.logo_content_type};base64,{base64.b64encode(logo).decode()}" if logo else ""
    paragraphs = tuple(p.strip() for p in row.disclosures.split("\n\n") if p.strip())
    return Branding(row.display_name or firm.name, uri, row.accent_color, paragraphs)


# --- Statements and batches a user may see ---------------------------------------------------


def statement_list_for_user(*, user: User) -> QuerySet[Statement]:
    """The statements and reports of the households the user may see (their accounts' scope)."""
    return (
        Statement.objects.filter(household__in=Household.objects.filter(household_scope_q(user=user)).values("pk"))
        .select_related("household", "account")
        .order_by("-period_end", "household__name", "account__name", "id")
    )


def statement_get_for_user(*, user: User, pk: int | str) -> Statement:
    return get_object_or_404(statement_list_for_user(user=user), pk=pk)


def statement_list_for_account(*, account: InvestmentAccount) -> QuerySet[Statement]:
    """An account's statements, newest first (the caller has scoped the account)."""
    return Statement.objects.filter(account=account).order_by("-period_end", "-id")


def batch_list_for_user(*, user: User) -> QuerySet[StatementBatch]:
    return StatementBatch.objects.filter(batch_scope_q(user)).select_related("advisor__user", "created_by")


def batch_get_for_user(*, user: User, pk: int | str) -> StatementBatch:
    return get_object_or_404(batch_list_for_user(user=user), pk=pk)


def batch_statements(*, batch: StatementBatch) -> QuerySet[Statement]:
    """The batch's statements, failed first, then retrying and queued, then ready."""
    order = Case(
        When(status=Statement.Status.FAILED, then=Value(0)),
        When(status=Statement.Status.RETRYING, then=Value(1)),
        When(status=Statement.Status.QUEUED, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return (
        batch.statements.select_related("household", "account")
        .annotate(order=order)
        .order_by("order", "household__name", "account__name", "id")
    )
