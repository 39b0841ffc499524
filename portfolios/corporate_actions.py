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
  numerator / denominator, exactly. An account without fractional shares keeps the whole
  shares (ROUND_DOWN) and is paid the fraction as cash in lieu at the action's cash-in-lieu
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

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from kronos.history import attribute
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger import PostingSpec
from portfolios.models import (
    PRICE_PLACES,
    QUANTITY_PLACES,
    ZERO,
    CorporateAction,
    CorporateActionEntitlement,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    LotClosure,
    Posting,
    Price,
    Security,
    TaxLot,
)
from portfolios.services import to_cents as cents  # cash: 2 places, ROUND_HALF_EVEN

CENT = Decimal("0.01")
COST_QUANTUM = Decimal(1).scaleb(-6)
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
SHARE_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
WHOLE = Decimal(1)

SplitHandler = Callable[..., Any]
ReinvestmentHandler = Callable[..., Any]
_split_handlers: list[SplitHandler] = []
_reinvestment_handlers: list[ReinvestmentHandler] = []


def register_split_handler(handler: SplitHandler) -> None:
    """`handler(*, action, acting_user)` runs inside a split's transaction after the ledger and
    lots are adjusted (trading adjusts its open orders). Registered once per process."""
    if handler not in _split_handlers:
        _split_handlers.append(handler)


def register_reinvestment_handler(handler: ReinvestmentHandler) -> None:
    """`handler(*, entitlements, as_of, acting_user)` is given paid dividend entitlements of
    accounts that reinvest; it returns the ones it invested (they are then marked)."""
    if handler not in _reinvestment_handlers:
        _reinvestment_handlers.append(handler)


def _system_user() -> Any:
    from accounts.services import system_user

    return system_user()


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
    acting_user: Any,
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
    try:
        with transaction.atomic():
            action.save()
    except IntegrityError:
        if external_id:  # a concurrent import stored it first
            existing = CorporateAction.objects.filter(source=source, external_id=external_id).first()
            if existing is not None:
                return existing
        raise
    return action


def corporate_action_update(*, action: CorporateAction, acting_user: Any) -> CorporateAction:
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


def corporate_action_cancel(*, action: CorporateAction, acting_user: Any) -> CorporateAction:
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
    *, start: date, end: date, acting_user: Any = None, symbols: Iterable[str] | None = None
) -> ImportResult:
    """Read the dividends and splits with an ex-date in [start, end] from the configured
    market-data adapter for `symbols` (default: every security we know) and record the new ones
    (`corporate_action_create`, idempotent on the provider's id). An event for a security we do
    not know, or with terms the rules refuse, is skipped and named in the result."""
    from portfolios.adapters.market_data import get_provider

    acting_user = acting_user or _system_user()
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


# --- Processing ---------------------------------------------------------------------------------


@dataclass
class ProcessResult:
    dividends_entitled: int = 0
    entitlements: int = 0
    dividends_paid: int = 0
    payments: int = 0
    splits_applied: int = 0
    accounts_adjusted: int = 0
    reinvested: int = 0
    failed: int = 0
    actions: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_counts(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


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


def corporate_actions_process(*, as_of: date, acting_user: Any = None) -> ProcessResult:
    """Process every action due on or before `as_of` that is not done yet, oldest ex-date first:
    ex-dates (dividend entitlements; splits applied) and then pay dates (dividends posted), and
    hand paid entitlements of reinvesting accounts to the reinvestment handlers.

    Each action's ex-date work and its pay-date work are each one transaction with the action
    locked; the action's status records what is done, so a second call for the same day (or a
    later one) does nothing twice. An action the rules refuse (say, no price for its cash in
    lieu) writes nothing, is named in `errors` and is tried again by the next call; the others
    go on. Returns the counts."""
    acting_user = acting_user or _system_user()
    result = ProcessResult()
    due = list(
        CorporateAction.objects.filter(status=CorporateAction.Status.ANNOUNCED, ex_date__lte=as_of)
        .select_related("security")
        .order_by("ex_date", "id")
    )
    for action in due:
        try:
            with transaction.atomic():
                locked = CorporateAction.objects.select_for_update().select_related("security").get(pk=action.pk)
                if locked.status != CorporateAction.Status.ANNOUNCED:
                    continue
                if locked.is_dividend:
                    result.entitlements += _dividend_entitle(locked, acting_user=acting_user)
                    result.dividends_entitled += 1
                else:
                    result.accounts_adjusted += _split_apply(locked, acting_user=acting_user)
                    result.splits_applied += 1
                result.actions.append(locked.pk)
        except PortfoliosError as exc:
            # Nothing of this action was written; it stays announced and is tried again next time.
            result.failed += 1
            result.errors.append(f"{action}: {exc.message}")
    payable = list(
        CorporateAction.objects.filter(
            kind=CorporateAction.Kind.CASH_DIVIDEND, status=CorporateAction.Status.ENTITLED, pay_date__lte=as_of
        ).order_by("pay_date", "id")
    )
    for action in payable:
        try:
            with transaction.atomic():
                locked = CorporateAction.objects.select_for_update().select_related("security").get(pk=action.pk)
                if locked.status != CorporateAction.Status.ENTITLED:
                    continue
                result.payments += _dividend_pay(locked, acting_user=acting_user)
                result.dividends_paid += 1
                if locked.pk not in result.actions:
                    result.actions.append(locked.pk)
        except PortfoliosError as exc:
            result.failed += 1
            result.errors.append(f"{action}: {exc.message}")
    result.reinvested = reinvest_pending(as_of=as_of, acting_user=acting_user)
    return result


def _firm_ids(account_ids: Iterable[int]) -> dict[int, int]:
    return dict(InvestmentAccount.objects.filter(pk__in=list(account_ids)).values_list("pk", "household__firm_id"))


def _dividend_entitle(action: CorporateAction, *, acting_user: Any) -> int:
    held = holdings_before(security=action.security, day=action.ex_date)
    reinvesting = set(
        InvestmentAccount.objects.filter(pk__in=list(held), reinvest_dividends=True).values_list("pk", flat=True)
    )
    assert action.amount_per_share is not None
    rows = [
        CorporateActionEntitlement(
            action=action,
            account_id=account_id,
            quantity=quantity,
            amount=cents(quantity * action.amount_per_share),
            reinvest=account_id in reinvesting,
        )
        for account_id, quantity in sorted(held.items())
        if quantity > 0
    ]
    reason = f"ex-date of {action.describe()} #{action.pk}"
    bulk_create_with_history(rows, CorporateActionEntitlement, default_user=acting_user, default_change_reason=reason)
    action.status = CorporateAction.Status.ENTITLED
    action.processed_at = timezone.now()
    attribute(action, acting_user=acting_user, reason=reason)
    action.save(update_fields=["status", "processed_at"])
    return len(rows)


def _dividend_pay(action: CorporateAction, *, acting_user: Any) -> int:
    assert action.pay_date is not None
    entitlements = list(
        action.entitlements.select_related("account__household")
        .filter(status=CorporateActionEntitlement.Status.ENTITLED)
        .order_by("account_id")
    )
    memo = f"{action.security.symbol} {action.describe()} (ex {action.ex_date})"
    specs = []
    payable = [e for e in entitlements if e.amount > 0]
    books = ledger.client_books([e.account for e in payable])
    agents: dict[int, LedgerBook] = {}
    for e in payable:
        firm_id = e.account.household.firm_id
        if firm_id not in agents:
            agents[firm_id] = ledger.system_book(LedgerBook.Kind.CORPORATE_ACTIONS, firm=firm_id)
        specs.append(
            ledger.EntrySpec(
                kind=JournalEntry.Kind.DIVIDEND,
                postings=[
                    PostingSpec.cash(books[e.account_id], e.amount, action.currency),
                    PostingSpec.cash(agents[firm_id], -e.amount, action.currency),
                ],
                effective_date=action.pay_date,
                memo=memo,
                idempotency_key=f"corpaction:{action.pk}:pay:{e.account_id}",
                reference_type="portfolios.corporateaction",
                reference_id=action.pk,
            )
        )
    posted = ledger.post_entries_bulk(specs, acting_user=acting_user) if specs else []
    entries = {e.account_id: p.entry for e, p in zip(payable, posted, strict=True)}
    for e in entitlements:
        e.status = CorporateActionEntitlement.Status.PAID
        e.entry = entries.get(e.account_id)
    reason = f"pay date of {action.describe()} #{action.pk}"
    if entitlements:
        bulk_update_with_history(
            entitlements,
            CorporateActionEntitlement,
            ["status", "entry"],
            default_user=acting_user,
            default_change_reason=reason,
        )
    action.status = CorporateAction.Status.PAID
    action.paid_at = timezone.now()
    attribute(action, acting_user=acting_user, reason=reason)
    action.save(update_fields=["status", "paid_at"])
    return len(specs)


def cash_in_lieu_price(action: CorporateAction) -> Decimal:
    """The action's price for fractional shares: given, else the ex-date close, else the last
    close before the ex-date divided by the ratio (6 places, ROUND_HALF_EVEN)."""
    if action.cash_in_lieu_price is not None:
        return action.cash_in_lieu_price
    on_day = Price.objects.filter(security=action.security, date=action.ex_date).values_list("close", flat=True).first()
    if on_day is not None:
        return on_day
    before = (
        Price.objects.filter(security=action.security, date__lt=action.ex_date)
        .order_by("-date")
        .values_list("close", flat=True)
        .first()
    )
    if before is None:
        raise PortfoliosError(
            f"No price of {action.security.symbol} to pay fractional shares at: give the cash-in-lieu price.",
            field="cash_in_lieu_price",
        )
    assert action.ratio_numerator and action.ratio_denominator
    return (before * action.ratio_denominator / action.ratio_numerator).quantize(
        PRICE_QUANTUM, rounding=ROUND_HALF_EVEN
    )


@dataclass(frozen=True, slots=True)
class SplitOutcome:
    """One account's split: `new_quantity` kept, `fraction` paid as `cash_in_lieu`."""

    quantity: Decimal
    new_quantity: Decimal
    fraction: Decimal
    cash_in_lieu: Decimal


def split_outcome(
    quantity: Decimal, *, numerator: int, denominator: int, fractional_shares: bool, price: Decimal
) -> SplitOutcome:
    """The pure rule (see the module docstring): exact ratio, whole shares kept ROUND_DOWN (9
    places for fractional accounts), the rest paid at `price`, rounded to cents ROUND_HALF_EVEN."""
    exact = quantity * numerator / denominator
    kept = exact.quantize(SHARE_QUANTUM if fractional_shares else WHOLE, rounding=ROUND_DOWN)
    fraction = exact - kept
    return SplitOutcome(
        quantity=quantity,
        new_quantity=kept,
        fraction=fraction,
        cash_in_lieu=cents(fraction * price) if fraction else ZERO,
    )


def _split_apply(action: CorporateAction, *, acting_user: Any) -> int:
    num, den = action.ratio_numerator, action.ratio_denominator
    assert num and den
    held = holdings_before(security=action.security, day=action.ex_date)
    accounts = {
        a.pk: a for a in InvestmentAccount.objects.filter(pk__in=list(held)).select_related("household").order_by("pk")
    }
    outcomes: dict[int, SplitOutcome] = {}
    price: Decimal | None = None
    for account_id, quantity in sorted(held.items()):
        if quantity <= 0:
            continue
        exact = quantity * num / den
        needs_price = exact != exact.quantize(SHARE_QUANTUM if accounts[account_id].fractional_shares else WHOLE)
        if needs_price and price is None:
            price = cash_in_lieu_price(action)
        outcomes[account_id] = split_outcome(
            quantity,
            numerator=num,
            denominator=den,
            fractional_shares=accounts[account_id].fractional_shares,
            price=price or ZERO,
        )
    if price is not None and action.cash_in_lieu_price is None:
        action.cash_in_lieu_price = price
    memo_head = f"{action.security.symbol} {action.describe()}"
    books = ledger.client_books(accounts.values())
    agents: dict[int, LedgerBook] = {}
    specs = []
    for account_id, outcome in outcomes.items():
        firm_id = accounts[account_id].household.firm_id
        if firm_id not in agents:
            agents[firm_id] = ledger.system_book(LedgerBook.Kind.CORPORATE_ACTIONS, firm=firm_id)
        book, agent = books[account_id], agents[firm_id]
        delta = outcome.new_quantity - outcome.quantity
        postings = []
        if delta:
            postings += [
                PostingSpec.shares(book, action.security, delta),
                PostingSpec.shares(agent, action.security, -delta),
            ]
        if outcome.cash_in_lieu:
            postings += [
                PostingSpec.cash(book, outcome.cash_in_lieu, action.currency),
                PostingSpec.cash(agent, -outcome.cash_in_lieu, action.currency),
            ]
        if not postings:
            continue
        memo = f"{memo_head}: {outcome.quantity.normalize():f} -> {outcome.new_quantity.normalize():f}"
        if outcome.cash_in_lieu:
            memo += f", cash in lieu of {outcome.fraction.normalize():f} at {price}"
        specs.append(
            (
                account_id,
                ledger.EntrySpec(
                    kind=JournalEntry.Kind.CORPORATE_ACTION,
                    postings=postings,
                    effective_date=action.ex_date,
                    memo=memo,
                    idempotency_key=f"corpaction:{action.pk}:ex:{account_id}",
                    reference_type="portfolios.corporateaction",
                    reference_id=action.pk,
                ),
            )
        )
    posted = ledger.post_entries_bulk([s for _, s in specs], acting_user=acting_user) if specs else []
    entries = {account_id: p.entry for (account_id, _), p in zip(specs, posted, strict=True)}
    reason = f"{action.describe()} #{action.pk}"
    _split_lots(action, outcomes, entries, price=price, acting_user=acting_user, reason=reason)
    bulk_create_with_history(
        [
            CorporateActionEntitlement(
                action=action,
                account_id=account_id,
                quantity=o.quantity,
                new_quantity=o.new_quantity,
                fraction=o.fraction,
                cash_in_lieu=o.cash_in_lieu,
                status=CorporateActionEntitlement.Status.APPLIED,
                entry=entries.get(account_id),
            )
            for account_id, o in outcomes.items()
        ],
        CorporateActionEntitlement,
        default_user=acting_user,
        default_change_reason=reason,
    )
    for handler in _split_handlers:
        handler(action=action, acting_user=acting_user)
    action.status = CorporateAction.Status.APPLIED
    action.processed_at = timezone.now()
    attribute(action, acting_user=acting_user, reason=f"applied: {reason}")
    action.save(update_fields=["status", "processed_at", "cash_in_lieu_price"])
    return len(outcomes)


def _split_lots(
    action: CorporateAction,
    outcomes: dict[int, SplitOutcome],
    entries: dict[int, JournalEntry | None],
    *,
    price: Decimal | None,
    acting_user: Any,
    reason: str,
) -> None:
    """Every open lot acquired before the ex-date: quantity x ratio, cost per share / ratio; then
    the fraction paid in lieu relieved from the account's lots, highest cost first, as a sale."""
    num, den = action.ratio_numerator, action.ratio_denominator
    assert num and den
    lots = list(
        TaxLot.objects.select_for_update()
        .filter(security=action.security, account_id__in=list(outcomes), quantity__gt=0, acquired_on__lt=action.ex_date)
        .order_by("account_id", "-cost_per_share", "acquired_on", "id")
    )
    by_account: dict[int, list[TaxLot]] = defaultdict(list)
    for lot in lots:
        lot.quantity = lot.quantity * num / den
        lot.original_quantity = lot.original_quantity * num / den
        lot.cost_per_share = (lot.cost_per_share * den / num).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
        by_account[lot.account_id].append(lot)
    closures: list[LotClosure] = []
    for account_id, outcome in outcomes.items():
        # Below a billionth of a share (a fractional account's remainder) no lot can record it.
        remaining = outcome.fraction.quantize(SHARE_QUANTUM, rounding=ROUND_HALF_EVEN)
        unallocated = outcome.cash_in_lieu
        for lot in by_account.get(account_id, []):
            if remaining <= 0:
                break
            take = min(lot.quantity, remaining)
            remaining -= take
            # Cash in lieu is a sale of the fraction: each lot's proceeds to cents (ROUND_HALF_EVEN),
            # the last lot's being what is left, so the proceeds add up to the cash paid.
            proceeds = cents(take * (price or ZERO)) if remaining > 0 else unallocated
            unallocated -= proceeds
            cost = cents(take * lot.cost_per_share)
            closures.append(
                LotClosure(
                    lot=lot,
                    quantity=take,
                    proceeds=proceeds,
                    cost=cost,
                    gain=proceeds - cost,
                    closed_on=action.ex_date,
                    entry=entries.get(account_id),
                )
            )
            lot.quantity -= take
            if lot.quantity == 0:
                lot.closed_on = action.ex_date
    for lot in lots:
        # Quantities keep 9 places; a split's product of two integers over one never needs more
        # unless the denominator has factors other than 2 and 5 -- then ROUND_DOWN, the remainder
        # being below a billionth of a share.
        lot.quantity = lot.quantity.quantize(SHARE_QUANTUM, rounding=ROUND_DOWN)
        lot.original_quantity = max(lot.original_quantity.quantize(SHARE_QUANTUM, rounding=ROUND_DOWN), lot.quantity)
    if lots:
        bulk_update_with_history(
            lots,
            TaxLot,
            ["quantity", "original_quantity", "cost_per_share", "closed_on"],
            default_user=acting_user,
            default_change_reason=reason,
        )
    if closures:
        bulk_create_with_history(closures, LotClosure, default_user=acting_user, default_change_reason=reason)


# --- Reinvestment -------------------------------------------------------------------------------


def reinvest_pending(*, as_of: date, acting_user: Any = None) -> int:
    """Hand the paid, not yet reinvested dividend entitlements of reinvesting accounts (pay date
    on or before `as_of`) to the registered reinvestment handlers; mark the ones they invested.
    Without a handler (none registered) they stay pending, and are offered again next time."""
    if not _reinvestment_handlers:
        return 0
    acting_user = acting_user or _system_user()
    pending = list(
        CorporateActionEntitlement.objects.filter(
            reinvest=True,
            reinvested_at__isnull=True,
            status=CorporateActionEntitlement.Status.PAID,
            action__pay_date__lte=as_of,
            amount__gt=0,
        )
        .select_related("action__security", "account")
        .order_by("account_id", "id")
    )
    if not pending:
        return 0
    done: set[int] = set()
    for handler in _reinvestment_handlers:
        invested = handler(entitlements=[e for e in pending if e.pk not in done], as_of=as_of, acting_user=acting_user)
        done.update(e.pk for e in invested or [])
    marked = [e for e in pending if e.pk in done]
    now = timezone.now()
    for e in marked:
        e.reinvested_at = now
    if marked:
        bulk_update_with_history(
            marked,
            CorporateActionEntitlement,
            ["reinvested_at"],
            default_user=acting_user,
            default_change_reason="dividend reinvested",
        )
    return len(marked)


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


__all__ = [
    "ImportResult",
    "ProcessResult",
    "SplitOutcome",
    "action_terms_for_custodian",
    "cash_in_lieu_price",
    "corporate_action_cancel",
    "corporate_action_create",
    "corporate_action_update",
    "corporate_actions_import",
    "corporate_actions_process",
    "holdings_before",
    "register_reinvestment_handler",
    "register_split_handler",
    "reinvest_pending",
    "split_outcome",
]
