"""Helpers shared by the trading services: hooks, prices, buying power, business days."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Greatest
from django.utils.module_loading import import_string

from kronos.relay import enqueue_after_commit
from portfolios.models import CashBalance, InvestmentAccount, Position, Price, Security
from trading.checks import FUNDING_CHECKS, PRETRADE_CHECKS
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES
from trading.models import CashTransfer, Execution, Order, Side

ZERO = Decimal(0)
CENTS = Decimal("0.01")
QUANTITY = Decimal("0.000000001")
PRICE = Decimal("0.000001")
MONEY = DecimalField(max_digits=20, decimal_places=2)


def cents(value: Decimal) -> Decimal:
    """Cash rounding place: cents, half-even."""
    return value.quantize(CENTS, rounding=ROUND_HALF_EVEN)


def cents_up(value: Decimal) -> Decimal:
    """Reservation rounding place: a buy reserves whole cents rounded up, never short."""
    return value.quantize(CENTS, rounding=ROUND_CEILING)


def is_weekday(day: date) -> bool:
    """The default business calendar: Monday to Friday (no exchange holidays)."""
    return day.weekday() < 5


def business_calendar() -> Callable[[date], bool]:
    """`settings.TRADING_BUSINESS_CALENDAR` — the import string of a function date -> bool
    (True on a business day) — or weekdays only. A market holiday calendar plugs in here
    without trading importing the app that owns it."""
    path = getattr(settings, "TRADING_BUSINESS_CALENDAR", "")
    return import_string(path) if path else is_weekday


def add_business_days(day: date, days: int, *, is_business_day: Callable[[date], bool] | None = None) -> date:
    """`day` plus `days` business days of the configured calendar (settlement: T+1)."""
    is_business_day = is_business_day or business_calendar()
    current = day
    left = days
    guard = 0
    while left > 0:
        current += timedelta(days=1)
        guard += 1
        if guard > 366 * 2:
            raise TradingError("The business calendar has no business day within two years.")
        if is_business_day(current):
            left -= 1
    return current


def latest_price(security: Security) -> Decimal | None:
    return Price.objects.filter(security=security).order_by("-date").values_list("close", flat=True).first()


def latest_prices(security_ids: Iterable[int]) -> dict[int, Decimal]:
    """The latest close of each security, in one query."""
    ids = list(set(security_ids))
    if not ids:
        return {}
    rows = Price.objects.filter(security_id__in=ids).order_by("security_id", "-date").distinct("security_id")
    return {p.security_id: p.close for p in rows}


def cash_balance(account: InvestmentAccount) -> Decimal:
    amount = (
        CashBalance.objects.filter(account=account, currency=account.base_currency)
        .values_list("amount", flat=True)
        .first()
    )
    return amount if amount is not None else ZERO


def open_buy_reservations(account: InvestmentAccount) -> Decimal:
    """Cash still held back by open buy orders (reserved minus what has filled)."""
    held = Order.objects.filter(account=account, side=Side.BUY, status__in=OPEN_STATES).aggregate(
        held=Sum(
            Greatest(F("reserved_amount") - F("filled_amount"), Value(ZERO, output_field=MONEY)), output_field=MONEY
        )
    )["held"]
    return held if held is not None else ZERO


def held_for_withdrawals(account: InvestmentAccount) -> Decimal:
    """Cash promised to withdrawals that wait for their sales (`awaiting_cash`): held back from
    buys and other withdrawals, so the proceeds raised for one are not spent on something else."""
    return (
        CashTransfer.objects.filter(account=account, status=CashTransfer.Status.AWAITING_CASH).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )


def held_for_withdrawals_of(account_ids: Iterable[int]) -> dict[int, Decimal]:
    """`held_for_withdrawals` of many accounts, one query (accounts holding nothing left out)."""
    rows = (
        CashTransfer.objects.filter(account_id__in=list(account_ids), status=CashTransfer.Status.AWAITING_CASH)
        .values("account_id")
        .annotate(total=Sum("amount"))
    )
    return {r["account_id"]: r["total"] for r in rows if r["total"]}


def unsettled_sale_proceeds(account: InvestmentAccount) -> Decimal:
    return (
        Execution.objects.filter(order__account=account, order__side=Side.SELL, settled_at__isnull=True).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )


def buying_power(account: InvestmentAccount) -> Decimal:
    """Cash a new buy may use: the balance minus what open buys have reserved and what
    withdrawals waiting for their sales hold."""
    return cash_balance(account) - open_buy_reservations(account) - held_for_withdrawals(account)


def withdrawable_cash(account: InvestmentAccount) -> Decimal:
    """Cash that may leave the firm: buying power minus sale proceeds that have not settled.
    Pending withdrawals are already debited when requested, so they are not counted twice;
    withdrawals awaiting cash are not debited yet and are held back (in `buying_power`)."""
    return buying_power(account) - unsettled_sale_proceeds(account)


def sellable_quantity(account: InvestmentAccount, security: Security) -> Decimal:
    """Shares held minus what open sell orders will still sell."""
    held = Position.objects.filter(account=account, security=security).values_list("quantity", flat=True).first()
    # Open sells are few per security (one SUM would need the amount orders' quantity rounding
    # in SQL); reading them keeps the rounding in one named place.
    pending = ZERO
    for quantity, filled, amount, price in Order.objects.filter(
        account=account, security=security, side=Side.SELL, status__in=OPEN_STATES
    ).values_list("quantity", "filled_quantity", "amount", "estimated_price"):
        total = quantity if quantity is not None else (amount / price).quantize(QUANTITY)
        pending += max(total - filled, ZERO)
    return (held or ZERO) - pending


def lock_account(account: InvestmentAccount) -> InvestmentAccount:
    """Take the account's row lock (the ledger's per-account lock too): serialises every
    check-then-write on one account's cash or shares."""
    return (
        InvestmentAccount.objects.select_for_update(of=("self",)).select_related("household__firm").get(pk=account.pk)
    )


def relay_after_commit() -> None:
    """Ask a worker to relay the outbox once the transaction commits (once per transaction, through
    `kronos.relay`); the periodic relay is the safety net. `TRADING_RELAY_ON_COMMIT = False` (tests,
    the simulator) leaves it to the periodic relay."""
    if getattr(settings, "TRADING_RELAY_ON_COMMIT", True):
        enqueue_after_commit("trading.relay_outbox", once=True)


# --- cross-app controls (typed slots in trading/checks.py; trading never imports compliance) ------


@dataclass(frozen=True)
class OrderIntent:
    """What the pre-trade checks see of an order about to be made."""

    account: InvestmentAccount
    security: Security
    side: str
    quantity: Decimal | None
    amount: Decimal | None
    price: Decimal
    source: str
    order_type: str = "market"
    limit_price: Decimal | None = None
    #: For a rebalance proposal's buy: the proceeds of the proposal's own sells not yet spent by
    #: its earlier buys. The buy waits for them (status awaiting_funds), so the funds check counts
    #: them as buying power.
    pending_proceeds: Decimal = ZERO
    #: Shared by the orders one approval makes under the account's lock, in one transaction: the
    #: checks may keep what they read of the account there for the next order (None: nothing kept).
    context: dict[Any, Any] | None = field(default=None, compare=False, hash=False, repr=False)
    #: A sell's validated lot selection (None: the account's lot relief method): the wash-sale
    #: check prices the loss of the lots it would sell.
    lot_selection: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckOutcome:
    rule: str
    outcome: str
    hard: bool
    message: str


def run_pretrade_checks(intent: OrderIntent) -> list[CheckOutcome]:
    results: list[CheckOutcome] = []
    for check in PRETRADE_CHECKS.checks():
        for r in check(intent):
            outcome = r.outcome if r.outcome in ("pass", "warn", "fail") else "fail"
            results.append(CheckOutcome(rule=r.rule[:100], outcome=outcome, hard=r.hard, message=r.message))
    return results


def run_funding_checks(account: InvestmentAccount) -> None:
    """Raise TradingError unless every check in `trading.checks.FUNDING_CHECKS` lets the account
    move money (each returns (ok, the reason when not))."""
    for check in FUNDING_CHECKS.checks():
        ok, reason = check(account)
        if not ok:
            raise TradingError(reason or "The account may not be funded or withdrawn from now.", code="not_allowed")
