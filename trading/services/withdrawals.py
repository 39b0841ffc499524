"""Withdrawals that may raise their cash: one the cash does not cover waits as `awaiting_cash`
while a sell proposal of the overweight holdings raises it, and the settlement path sends it once
that cash has settled (`withdrawals_release`). The transfer itself is `trading.services.transfers`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import system_user
from kronos.db import create_or_winner
from kronos.history import save_attributed
from portfolios.models import InvestmentAccount
from trading.models import CashTransfer
from trading.services.cash_flow import proposal_to_raise_cash
from trading.services.common import ZERO, lock_account, withdrawable_cash
from trading.services.events import transfer_event
from trading.services.proposals import cash_raise_shortfall
from trading.services.transfers import D, locked_transfer, made_under, send_transfer, transfer_create, validate_amount


def withdrawal_request(
    *,
    account: InvestmentAccount,
    amount: Decimal,
    acting_user: User,
    currency: str | None = None,
    idempotency_key: str | None = None,
    approve: bool = False,
) -> tuple[CashTransfer, Any]:
    """A withdrawal that may raise its cash. When the account's withdrawable cash covers it, the
    withdrawal itself (`transfer_create`). When it does not, the difference is raised by a sell
    proposal of the most overweight holdings (`proposal_to_raise_cash`: tax-aware, whole shares,
    `RAISE_BUFFER` above the shortfall; approved at once when `approve` — the caller may trade
    the account — or the account is automatic, else left for the advisor), and the withdrawal
    waits as `awaiting_cash`, linked to it, its amount held back from buys and other
    withdrawals; `withdrawals_release` debits and sends it once the sales have settled.

    Validated as `transfer_create`, plus: no more than the account is worth, and sales that
    can raise the shortfall — else `TradingError` on `amount` and nothing is written.
    Guaranteed: one transfer (and so one proposal) per idempotency key. Returns (transfer, the
    proposal raising its cash or None)."""
    currency = currency or account.base_currency
    amount = validate_amount(amount, currency, account)
    if idempotency_key:
        existing = CashTransfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, existing.proposal
    if amount <= withdrawable_cash(account):
        transfer = transfer_create(
            account=account,
            direction=D.WITHDRAWAL,
            amount=amount,
            currency=currency,
            acting_user=acting_user,
            idempotency_key=idempotency_key,
        )
        return transfer, transfer.proposal

    def create() -> tuple[CashTransfer, Any]:
        locked, transfer, made_before = locked_transfer(
            account, D.WITHDRAWAL, amount, currency, idempotency_key, acting_user
        )
        if made_before:
            return transfer, transfer.proposal
        if amount <= withdrawable_cash(locked):  # the cash arrived meanwhile
            save_attributed(transfer, acting_user=acting_user, reason="withdrawal requested", validate=False)
            send_transfer(transfer, account=locked, acting_user=acting_user)
            return transfer, None
        transfer.proposal = proposal_to_raise_cash(
            account=locked, amount=amount, acting_user=acting_user, approve=approve
        )
        transfer.status = CashTransfer.Status.AWAITING_CASH
        save_attributed(transfer, acting_user=acting_user, reason="withdrawal requested: raising cash", validate=False)
        transfer_event(transfer)
        return transfer, transfer.proposal

    def winner() -> tuple[CashTransfer, Any] | None:
        existing = made_under(idempotency_key)
        return (existing, existing.proposal) if existing is not None else None

    return create_or_winner(create, winner)


def withdrawals_release(
    *, acting_user: User | None = None, account_ids: list[int] | None = None, effective_date: date | None = None
) -> dict[str, int]:
    """Send the withdrawals awaiting cash whose sales have brought it (the nightly settlement step
    runs this after settling the day's trades): under each account's lock, oldest first, a
    withdrawal the withdrawable cash covers (its own hold counted back) is debited and queued for
    the bank, as `transfer_create` does at once, its entry dated `effective_date` (today unless
    given: the settlement step gives the next business day, the day the money leaves, so the
    night's reconciliation compares what the custodian knows). One whose sales are over without raising enough — the
    proposal discarded or expired, or every order ended and settled — fails with the reason,
    nothing debited. Idempotent: a released or failed withdrawal no longer waits."""
    acting_user = acting_user or system_user()
    waiting = CashTransfer.objects.filter(status=CashTransfer.Status.AWAITING_CASH)
    if account_ids is not None:
        waiting = waiting.filter(account_id__in=account_ids)
    counts = {"withdrawals_sent": 0, "withdrawals_failed": 0}
    for account_id in sorted(set(waiting.values_list("account_id", flat=True))):
        with transaction.atomic():
            account = lock_account(InvestmentAccount(pk=account_id))
            transfers = list(
                CashTransfer.objects.select_for_update(of=("self",))
                .select_related("proposal")
                .filter(account_id=account_id, status=CashTransfer.Status.AWAITING_CASH)
                .order_by("created_at", "id")
            )
            free = withdrawable_cash(account) + sum((t.amount for t in transfers), ZERO)
            for transfer in transfers:
                if transfer.amount <= free:
                    free -= transfer.amount
                    transfer.status = CashTransfer.Status.REQUESTED
                    save_attributed(transfer, acting_user=acting_user, reason="cash raised", validate=False)
                    send_transfer(
                        transfer,
                        account=account,
                        acting_user=acting_user,
                        effective_date=effective_date or timezone.localdate(),
                    )
                    counts["withdrawals_sent"] += 1
                    continue
                reason = cash_raise_shortfall(proposal=transfer.proposal, amount=transfer.amount, available=free)  # type: ignore[arg-type]
                if reason is None:
                    break  # its sales are still going: it, and the ones after it, wait
                transfer.status = CashTransfer.Status.FAILED
                transfer.failure_reason = reason[:255]
                save_attributed(transfer, acting_user=acting_user, reason="cash not raised", validate=False)
                transfer_event(transfer)
                counts["withdrawals_failed"] += 1
    return counts
