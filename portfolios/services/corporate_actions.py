"""Corporate actions: cash dividends, splits and reverse splits (writes; the service module).

    corporate_action_create(*, security, kind, ex_date, acting_user, ...) -> CorporateAction
    corporate_actions_import(*, start, end, acting_user=None, symbols=None) -> ImportResult
    corporate_actions_process(*, as_of, acting_user=None) -> ProcessResult
    corporate_action_update(*, action, acting_user) -> CorporateAction
    corporate_action_cancel(*, action, acting_user) -> CorporateAction

The rules, stated once:
- **Eligibility** is fixed on the ex-date from the holders at the close of the business day
  before it: the shares of each client book's postings effective strictly before `ex_date`
  (the ledger keeps trade-date books, so a buy on the ex-date is not entitled and a sale on
  the ex-date still is). No postings fall on non-business days, so "before the ex-date" is
  the same as "on or before the previous business day".
- **Cash dividends**: on the ex-date one entitlement per eligible account (quantity x amount
  per share, rounded to cents ROUND_HALF_EVEN per account); on the pay date one journal entry
  per account (kind `dividend`: the account's cash +, the firm's corporate-actions book -),
  keyed `corpaction:<id>:pay:<account>` so a re-run posts nothing twice.
- **Splits and reverse splits** are applied on the ex-date: the new holding is the old one x
  numerator / denominator, exactly. An account without fractional shares (and holding none:
  one that holds a fraction, transferred in, keeps fractions as the custodian does) keeps the
  whole shares (ROUND_DOWN) and is paid the fraction as cash in lieu at the action's cash-in-lieu
  price (default: the ex-date close, else the last close before it divided by the ratio),
  rounded to cents ROUND_HALF_EVEN; an account with fractional shares keeps 9 places
  (ROUND_DOWN) and is paid what is below that the same way (nothing, in practice). One entry
  per account (kind `corporate_action`: the share difference and the cash in lieu against the
  corporate-actions book), keyed `corpaction:<id>:ex:<account>`. Every open tax lot acquired
  before the ex-date gets quantity x ratio and cost per share / ratio (6 places,
  ROUND_HALF_EVEN: the total cost is unchanged to the cent whenever the per-share cost divides
  exactly, and otherwise differs by at most quantity x 0.0000005); the fraction paid in lieu
  is relieved from the lots (highest cost first) as a sale at the cash-in-lieu price. Open
  orders are adjusted by the handlers registered with `register_split_handler` (trading
  registers its own at start-up: quantities x ratio, limit prices / ratio).
- Everything one action does on one day is one transaction, attributed to the acting user (a
  job's system user); the action's status says what is done, so re-running a day does nothing
  twice.

Dividend reinvestment: an account with `reinvest_dividends` gets `reinvest=True` on its
entitlement; after the pay date, `reinvestment_handlers` (registered with
`register_reinvestment_handler`) are given the paid entitlements not reinvested yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from accounts.services import system_user
from kronos.db import create_or_winner
from kronos.history import attribute
from portfolios.adapters.market_data import get_provider
from portfolios.errors import PortfoliosError
from portfolios.models import (
    PRICE_PLACES,
    CorporateAction,
    LedgerBook,
    Posting,
    Security,
)
from portfolios.services.common import PRICE_QUANTUM

SplitHandler = Callable[..., Any]
ReinvestmentHandler = Callable[..., Any]
split_handlers: list[SplitHandler] = []
reinvestment_handlers: list[ReinvestmentHandler] = []


def register_split_handler(handler: SplitHandler) -> None:
    """`handler(*, action, acting_user)` runs inside a split's transaction after the ledger and
    lots are adjusted (trading adjusts its open orders). Registered once per process."""
    if handler not in split_handlers:
        split_handlers.append(handler)


def register_reinvestment_handler(handler: ReinvestmentHandler) -> None:
    """`handler(*, entitlements, as_of, acting_user)` is given paid dividend entitlements of
    accounts that reinvest; it returns the ones it invested (they are then marked)."""
    if handler not in reinvestment_handlers:
        reinvestment_handlers.append(handler)


# --- Creating ---------------------------------------------------------------------------------


def _as_decimal(value: Any, *, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, float):
        raise PortfoliosError("Give decimals as strings or Decimal, never a float.", field=field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError as exc:
        raise PortfoliosError(f"'{value}' is not a number.", field=field) from exc
    if not result.is_finite():
        raise PortfoliosError(f"'{value}' is not a number.", field=field)
    return result


def _as_date(value: Any, *, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PortfoliosError(f"'{value}' is not a date (YYYY-MM-DD).", field=field) from exc


def _as_ratio(value: Any, *, field: str) -> int | None:
    if value in (None, ""):
        return None
    number = _as_decimal(value, field=field)
    if number is None or number != number.to_integral_value():
        raise PortfoliosError("The ratio's terms must be whole numbers (e.g. 3 for 2).", field=field)
    if number <= 0:
        raise PortfoliosError("The ratio must be greater than 0.", field=field)
    return int(number)


def corporate_action_create(
    *,
    security: Security | str,
    kind: str,
    ex_date: date | str,
    acting_user: User,
    record_date: date | str | None = None,
    pay_date: date | str | None = None,
    amount_per_share: Decimal | str | None = None,
    ratio_numerator: int | str | None = None,
    ratio_denominator: int | str | None = None,
    cash_in_lieu_price: Decimal | str | None = None,
    currency: str | None = None,
    source: str = "manual",
    external_id: str = "",
) -> CorporateAction:
    """Record an announced corporate action.

    Validated (a `PortfoliosError` naming the field, nothing written): a known security; a
    kind; a cash dividend has a positive amount per share (at most 6 places) and a pay date on
    or after the ex-date; a split has whole-number terms > 0 giving more shares (a reverse
    split fewer); a cash-in-lieu price, when given, is positive. Idempotent on
    (`source`, `external_id`): the provider's event id, so importing the same feed twice
    returns the first row. `kind` may be "split" for either direction when imported: it is
    set from the ratio.
    """
    if isinstance(security, str):
        found = Security.objects.filter(symbol=security.strip().upper()).first()
        if found is None:
            raise PortfoliosError(f"Unknown symbol: {security}.", field="security")
        security = found
    external_id = (external_id or "").strip()
    if external_id:
        existing = CorporateAction.objects.filter(source=source, external_id=external_id).first()
        if existing is not None:
            return existing
    if kind not in CorporateAction.Kind.values:
        raise PortfoliosError(f"'{kind}' is not a kind of corporate action.", field="kind")
    amount = _as_decimal(amount_per_share, field="amount_per_share")
    if amount is not None and amount != amount.quantize(PRICE_QUANTUM):
        raise PortfoliosError(
            f"The amount per share has more than {PRICE_PLACES} decimal places.", field="amount_per_share"
        )
    cil = _as_decimal(cash_in_lieu_price, field="cash_in_lieu_price")
    if cil is not None:
        if cil <= 0:
            raise PortfoliosError("The cash-in-lieu price must be positive.", field="cash_in_lieu_price")
        cil = cil.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    ex_day = _as_date(ex_date, field="ex_date")
    if ex_day is None:
        raise PortfoliosError("The ex-date is required.", field="ex_date")
    action = CorporateAction(
        security=security,
        kind=kind,
        ex_date=ex_day,
        record_date=_as_date(record_date, field="record_date"),
        pay_date=_as_date(pay_date, field="pay_date"),
        amount_per_share=amount,
        ratio_numerator=_as_ratio(ratio_numerator, field="ratio_numerator"),
        ratio_denominator=_as_ratio(ratio_denominator, field="ratio_denominator"),
        cash_in_lieu_price=cil,
        currency=(currency or security.currency).upper(),
        source=source,
        external_id=external_id,
    )
    if (
        kind != CorporateAction.Kind.CASH_DIVIDEND
        and source != "manual"
        and action.ratio_numerator
        and action.ratio_denominator
    ):
        # Providers say "split" for both directions; the ratio tells which.
        action.kind = (
            CorporateAction.Kind.SPLIT
            if action.ratio_numerator > action.ratio_denominator
            else CorporateAction.Kind.REVERSE_SPLIT
        )
    try:
        action.full_clean()
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    attribute(action, acting_user=acting_user, reason=f"corporate action announced ({source})")

    def create() -> CorporateAction:
        action.save()
        return action

    def winner() -> CorporateAction | None:
        # A concurrent import stored the provider's event first.
        return CorporateAction.objects.filter(source=source, external_id=external_id).first() if external_id else None

    return create_or_winner(create, winner)


def corporate_action_update(*, action: CorporateAction, acting_user: User) -> CorporateAction:
    """Save corrected terms of an action that has not been processed yet (validated as on create)."""
    with transaction.atomic():
        current = CorporateAction.objects.select_for_update().get(pk=action.pk)
        if current.status != CorporateAction.Status.ANNOUNCED:
            raise PortfoliosError(
                f"The action is {current.get_status_display().lower()}: it can no longer be changed.", field="status"
            )
        try:
            action.full_clean()
        except ValidationError as exc:
            raise PortfoliosError.from_validation(exc) from exc
        action.status = current.status
        attribute(action, acting_user=acting_user, reason="corporate action corrected")
        action.save()
    return action


def corporate_action_cancel(*, action: CorporateAction, acting_user: User) -> CorporateAction:
    """Cancel an action that has not been processed yet (a withdrawn announcement)."""
    with transaction.atomic():
        action = CorporateAction.objects.select_for_update().get(pk=action.pk)
        if action.status != CorporateAction.Status.ANNOUNCED:
            raise PortfoliosError(
                f"The action is {action.get_status_display().lower()}: only an announced one can be cancelled.",
                field="status",
            )
        action.status = CorporateAction.Status.CANCELLED
        attribute(action, acting_user=acting_user, reason="corporate action cancelled")
        action.save()
    return action


# --- Importing from the market-data provider ----------------------------------------------------


@dataclass
class ImportResult:
    received: int = 0
    created: int = 0
    skipped: list[str] = field(default_factory=list)


def corporate_actions_import(
    *, start: date, end: date, acting_user: User | None = None, symbols: Iterable[str] | None = None
) -> ImportResult:
    """Read the dividends and splits with an ex-date in [start, end] from the configured
    market-data adapter for `symbols` (default: every security we know) and record the new ones
    (`corporate_action_create`, idempotent on the provider's id). An event for a security we do
    not know, or with terms the rules refuse, is skipped and named in the result."""
    acting_user = acting_user or system_user()
    known = set(Security.objects.values_list("symbol", flat=True))
    wanted = sorted(known if symbols is None else {s.upper() for s in symbols} & known)
    result = ImportResult()
    if not wanted:
        return result
    provider = get_provider()
    events = provider.corporate_actions(wanted, start, end)
    result.received = len(events)
    before = CorporateAction.objects.count()
    for event in events:
        if event.symbol.upper() not in known:
            result.skipped.append(f"{event.external_id or event.symbol}: unknown symbol {event.symbol}")
            continue
        try:
            corporate_action_create(
                security=event.symbol,
                kind=event.kind,
                ex_date=event.ex_date,
                record_date=event.record_date,
                pay_date=event.pay_date,
                amount_per_share=event.amount_per_share,
                ratio_numerator=event.ratio_numerator,
                ratio_denominator=event.ratio_denominator,
                cash_in_lieu_price=event.cash_in_lieu_price,
                currency=event.currency,
                source=provider.name,
                external_id=event.external_id,
                acting_user=acting_user,
            )
        except PortfoliosError as exc:
            result.skipped.append(f"{event.external_id or event.symbol}: {exc.message}")
    result.created = CorporateAction.objects.count() - before
    return result


def holdings_before(*, security: Security, day: date) -> dict[int, Decimal]:
    """Each client account's shares of `security` at the close of the business day before `day`
    (postings effective strictly before it), non-zero ones only. One query."""
    rows = (
        Posting.objects.filter(book__kind=LedgerBook.Kind.CLIENT, security=security, entry__effective_date__lt=day)
        .values_list("book__account_id")
        .annotate(total=Sum("quantity"))
        .order_by()
    )
    return {account_id: total for account_id, total in rows if total}


def action_terms_for_custodian(action: CorporateAction) -> dict[str, str | None]:
    """The action's terms in the shape the sandbox custodian's `POST /v1/corporate-actions` takes
    (a real custodian learns them from its own feed; the sandbox is told)."""
    return {
        "id": f"{action.source}:{action.external_id or action.pk}",
        "type": "cash_dividend" if action.is_dividend else "split",
        "symbol": action.security.symbol,
        "ex_date": action.ex_date.isoformat(),
        "pay_date": action.pay_date.isoformat() if action.pay_date else None,
        "cash_amount": str(action.amount_per_share) if action.amount_per_share is not None else None,
        "split_to": str(action.ratio_numerator) if action.ratio_numerator else None,
        "split_from": str(action.ratio_denominator) if action.ratio_denominator else None,
        "cash_in_lieu_price": str(action.cash_in_lieu_price) if action.cash_in_lieu_price is not None else None,
    }
