"""Deposits and withdrawals through the bank adapter, as journal entries.

A deposit credits the account's cash only when the bank reports the transfer settled:
money that may still bounce is never invested. A withdrawal debits the cash at once, in
the same transaction that checks it is available (under the account's lock), so two
withdrawals, or a withdrawal and a buy, can never spend the same dollars; if the bank
fails or returns it, a reversing entry puts the cash back. Both must pass the funding
checks (`trading.checks.FUNDING_CHECKS`: KYC, AML, restrictions, agreements signed).

Cash-flow rebalancing: a settled deposit is invested in the underweight holdings
(`proposal_for_cash_flow`, approved at once for an account in automatic mode), and a
withdrawal the cash does not cover (`withdrawal_request`) waits as `awaiting_cash` while a
sell proposal of the overweight holdings raises it (`proposal_to_raise_cash`); the settlement
path sends it once that cash has settled (`withdrawals_release`); both in
`trading.services.withdrawals`.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import system_user
from kronos.db import create_or_winner
from kronos.errors import DomainError
from kronos.history import save_attributed
from portfolios import ledger
from portfolios.ledger import PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, RebalancingGroupMember
from trading.adapters.banking import TRANSFER_FAILED_STATES, get_banking
from trading.errors import TradingError
from trading.models import BankLink, CashTransfer, OutboxMessage
from trading.services.cash_flow import proposal_for_cash_flow
from trading.services.common import ZERO, cents, lock_account, relay_after_commit, run_funding_checks, withdrawable_cash
from trading.services.events import transfer_event

logger = logging.getLogger(__name__)
MAX_TRANSFER = Decimal("100000000")
D = CashTransfer.Direction


def validate_amount(amount: Any, currency: str, account: InvestmentAccount) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TradingError("The amount must be a number.", field="amount")
    if amount <= 0:
        raise TradingError("The amount must be more than zero.", field="amount")
    if amount != cents(amount):
        raise TradingError("The amount has at most 2 decimal places.", field="amount")
    if amount > MAX_TRANSFER:
        raise TradingError("The amount is too large for one transfer.", field="amount")
    if currency != account.base_currency:
        raise TradingError(f"The account holds {account.base_currency}; the amount is in {currency}.", field="amount")
    return amount


def locked_transfer(
    account: InvestmentAccount,
    direction: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str | None,
    acting_user: User,
) -> tuple[InvestmentAccount, CashTransfer, bool]:
    """Inside the caller's transaction: the account locked, and either the transfer already made
    under `idempotency_key` (True) or a new unsaved one (False), once the account is open and
    its funding hooks allow it."""
    account = lock_account(account)
    if idempotency_key:
        existing = CashTransfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return account, existing, True
    if account.status == InvestmentAccount.Status.CLOSED:
        raise TradingError("The account is closed.", field="account")
    run_funding_checks(account)
    transfer = CashTransfer(
        account=account,
        direction=direction,
        amount=amount,
        currency=currency,
        idempotency_key=idempotency_key or None,
        bank_link=account.bank_links.filter(is_active=True).first(),
        created_by=acting_user,
    )
    return account, transfer, False


def transfer_create(
    *,
    account: InvestmentAccount,
    direction: str,
    amount: Decimal,
    acting_user: User,
    currency: str = "USD",
    idempotency_key: str | None = None,
) -> CashTransfer:
    """Request a deposit or a withdrawal.

    Validated: a positive amount with at most 2 places in the account's currency, an open
    account, the funding hooks, and for a withdrawal that it is no more than the cash
    available (cash minus open buys' reservations minus unsettled sale proceeds). Guaranteed:
    one transfer per idempotency key; a withdrawal's cash is debited in the same
    transaction; the bank call is queued in the outbox."""
    if direction not in D.values:
        raise TradingError("Direction must be deposit or withdrawal.", field="direction")
    amount = validate_amount(amount, currency, account)
    if idempotency_key:
        existing = CashTransfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing

    def create() -> CashTransfer:
        locked, transfer, made_before = locked_transfer(
            account, direction, amount, currency, idempotency_key, acting_user
        )
        if made_before:
            return transfer
        if direction == D.WITHDRAWAL:
            available = withdrawable_cash(locked)
            if amount > available:
                raise TradingError(
                    f"Not enough cash to withdraw {amount:,.2f} {currency}: {max(available, ZERO):,.2f} is available.",
                    field="amount",
                    code="insufficient_cash",
                )
        save_attributed(transfer, acting_user=acting_user, reason=f"{direction} requested", validate=False)
        send_transfer(transfer, account=locked, acting_user=acting_user)
        return transfer

    return create_or_winner(create, lambda: made_under(idempotency_key))


def made_under(idempotency_key: str | None) -> CashTransfer | None:
    """The transfer a concurrent request made first under `idempotency_key`, if any."""
    return CashTransfer.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None


def send_transfer(
    transfer: CashTransfer, *, account: InvestmentAccount, acting_user: User, effective_date: date | None = None
) -> None:
    """Debit a withdrawal's cash (under the account's lock, checked by the caller) and queue
    the bank call in the outbox: the same for a withdrawal made at once and for one that
    waited for its sales."""
    if transfer.direction == D.WITHDRAWAL:
        transfer.entry = ledger.post_entry(
            kind=JournalEntry.Kind.WITHDRAWAL,
            postings=[
                PostingSpec.cash(ledger.client_book(account), -transfer.amount, transfer.currency),
                PostingSpec.cash(
                    ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK, firm=account.household.firm_id),
                    transfer.amount,
                    transfer.currency,
                ),
            ],
            effective_date=effective_date or timezone.localdate(transfer.created_at),
            memo="Withdrawal to the bank",
            acting_user=acting_user,
            idempotency_key=f"withdrawal:{transfer.pk}",
            reference_type="trading.transfer",
            reference_id=transfer.pk,
        )
        save_attributed(transfer, acting_user=acting_user, reason="cash debited", validate=False)
    OutboxMessage.objects.create(kind=OutboxMessage.Kind.BANK_TRANSFER, transfer=transfer)
    transfer_event(transfer)
    relay_after_commit()


@transaction.atomic
def transfer_bank_submit(*, transfer: CashTransfer, banking: Any, acting_user: User) -> CashTransfer:
    """Create the transfer at the bank (linking the account's bank first if needed) and apply
    the status it answers. The bank dedupes on our idempotency key, so a resend is safe."""
    transfer = (
        CashTransfer.objects.select_for_update(of=("self",)).select_related("account__household").get(pk=transfer.pk)
    )
    if transfer.bank_transfer_id:
        return transfer
    if transfer.bank_link is None:
        link = transfer.account.bank_links.filter(is_active=True).first()
        if link is None:
            linked = banking.link_account(owner=transfer.account.household.name)
            link = BankLink(
                account=transfer.account,
                bank_account_id=linked.account_id,
                mask=linked.mask,
                institution=linked.institution,
                created_by=acting_user,
            )
            save_attributed(link, acting_user=acting_user, reason="bank linked", validate=False)
        transfer.bank_link = link
    bank = banking.transfer_create(
        idempotency_key=f"kronos-transfer-{transfer.pk}",
        account_id=transfer.bank_link.bank_account_id,
        type="debit" if transfer.direction == D.DEPOSIT else "credit",
        amount=transfer.amount,
        description=transfer.direction,
    )
    transfer.bank_transfer_id = bank.id
    transfer.status = CashTransfer.Status.PENDING
    save_attributed(transfer, acting_user=acting_user, reason="sent to the bank", validate=False)
    transfer_event(transfer)
    return transfer_status_apply(
        transfer=transfer, bank_status=bank.status, reason=bank.failure_reason, acting_user=acting_user
    )


def transfer_status_apply(
    *, transfer: CashTransfer, bank_status: str, acting_user: User, reason: str = ""
) -> CashTransfer:
    """Apply the bank's status: settle a deposit into cash, or fail a transfer (a failed
    withdrawal's cash is put back). Idempotent: a transfer that ended stays as it is."""
    with transaction.atomic():
        transfer = (
            CashTransfer.objects.select_for_update(of=("self",))
            .select_related("account__household")
            .get(pk=transfer.pk)
        )
        if transfer.status in (CashTransfer.Status.SETTLED, CashTransfer.Status.FAILED):
            return transfer
        before = transfer.status
        account = transfer.account
        bank_book = ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK, firm=account.household.firm_id)
        if bank_status == "settled":
            if transfer.direction == D.DEPOSIT:
                transfer.entry = ledger.post_entry(
                    kind=JournalEntry.Kind.DEPOSIT,
                    postings=[
                        PostingSpec.cash(ledger.client_book(account), transfer.amount, transfer.currency),
                        PostingSpec.cash(bank_book, -transfer.amount, transfer.currency),
                    ],
                    effective_date=timezone.localdate(transfer.created_at),
                    memo="Deposit from the bank",
                    acting_user=acting_user,
                    idempotency_key=f"deposit:{transfer.pk}",
                    reference_type="trading.transfer",
                    reference_id=transfer.pk,
                )
            transfer.status = CashTransfer.Status.SETTLED
            if transfer.direction == D.DEPOSIT:
                _invest_deposit(transfer, acting_user=acting_user)
        elif bank_status in TRANSFER_FAILED_STATES:
            if transfer.direction == D.WITHDRAWAL and transfer.entry_id and transfer.reversal_entry_id is None:
                transfer.reversal_entry = ledger.post_entry(
                    kind=JournalEntry.Kind.REVERSAL,
                    postings=[
                        PostingSpec.cash(ledger.client_book(account), transfer.amount, transfer.currency),
                        PostingSpec.cash(bank_book, -transfer.amount, transfer.currency),
                    ],
                    effective_date=transfer.entry.effective_date,  # type: ignore[union-attr]
                    memo="Withdrawal failed at the bank: cash returned",
                    acting_user=acting_user,
                    idempotency_key=f"withdrawal-reversal:{transfer.pk}",
                    reference_type="trading.transfer",
                    reference_id=transfer.pk,
                    reverses=transfer.entry,
                )
            transfer.status = CashTransfer.Status.FAILED
            transfer.failure_reason = (reason or bank_status)[:255]
        else:
            transfer.status = CashTransfer.Status.PENDING
        save_attributed(transfer, acting_user=acting_user, reason=f"bank: {bank_status}", validate=False)
        if transfer.status != before:
            transfer_event(transfer)
        return transfer


def _invest_deposit(transfer: CashTransfer, *, acting_user: User) -> None:
    """A settled deposit is invested in the account's underweight holdings: a cash-flow proposal
    (approved at once in automatic mode). Planning is not the deposit's business: a plan that
    cannot be made is logged and the deposit still settles (the nightly scan sees the cash).
    An account in an active rebalancing group is measured with its household, not alone: the
    nightly household stage invests its deposit, in that account, with the group's plan."""
    if RebalancingGroupMember.objects.filter(account_id=transfer.account_id, group__is_active=True).exists():
        return
    try:
        with transaction.atomic():
            proposal_for_cash_flow(
                account=transfer.account, amount=transfer.amount, acting_user=acting_user, flow_in_cash=True
            )
    except DomainError:
        logger.warning("deposit %s not invested", transfer.pk, exc_info=True)


def transfers_poll(*, banking: Any = None, acting_user: User | None = None, limit: int = 500) -> int:
    """Ask the bank about transfers still pending there and apply the answers (a job)."""
    banking = banking or get_banking()
    acting_user = acting_user or system_user()
    changed = 0
    pending = CashTransfer.objects.filter(status=CashTransfer.Status.PENDING).exclude(bank_transfer_id="")[:limit]
    for transfer in pending:
        bank = banking.transfer_get(transfer.bank_transfer_id)
        if bank.status != "pending":
            transfer_status_apply(
                transfer=transfer, bank_status=bank.status, reason=bank.failure_reason, acting_user=acting_user
            )
            changed += 1
    return changed
