"""Processing corporate actions day by day: dividend entitlements on the ex-date and payments on
the pay date, splits (`corporate_action_splits`), and the handing of paid dividends to
reinvestment. The rules are in `portfolios.services.corporate_actions`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from accounts.services import system_user
from kronos.history import attribute
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger.posting import PostingSpec
from portfolios.models import (
    CorporateAction,
    CorporateActionEntitlement,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
)
from portfolios.services.common import to_cents as cents
from portfolios.services.corporate_action_splits import split_apply
from portfolios.services.corporate_actions import holdings_before, reinvestment_handlers

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


def corporate_actions_process(*, as_of: date, acting_user: User | None = None) -> ProcessResult:
    """Process every action due on or before `as_of` that is not done yet, oldest ex-date first:
    ex-dates (dividend entitlements; splits applied) and then pay dates (dividends posted), and
    hand paid entitlements of reinvesting accounts to the reinvestment handlers.

    Each action's ex-date work and its pay-date work are each one transaction with the action
    locked; the action's status records what is done, so a second call for the same day (or a
    later one) does nothing twice. An action the rules refuse (say, no price for its cash in
    lieu) writes nothing, is named in `errors` and is tried again by the next call; the others
    go on. Returns the counts."""
    acting_user = acting_user or system_user()
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
                    result.accounts_adjusted += split_apply(locked, acting_user=acting_user)
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


def _dividend_entitle(action: CorporateAction, *, acting_user: User) -> int:
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


def _dividend_pay(action: CorporateAction, *, acting_user: User) -> int:
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


# --- Reinvestment -------------------------------------------------------------------------------


def reinvest_pending(*, as_of: date, acting_user: User | None = None) -> int:
    """Hand the paid, not yet reinvested dividend entitlements of reinvesting accounts (pay date
    on or before `as_of`) to the registered reinvestment handlers; mark the ones they invested.
    Without a handler (none registered) they stay pending, and are offered again next time."""
    if not reinvestment_handlers:
        return 0
    acting_user = acting_user or system_user()
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
    for handler in reinvestment_handlers:
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
