"""Bank links and cash transfers (deposits and withdrawals)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from portfolios.models import cash_field
from trading.models.proposals import RebalanceProposal


class BankLink(models.Model):
    """An investor's external bank account linked to an investment account for transfers."""

    account = models.ForeignKey("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="bank_links")
    bank_account_id = models.CharField(max_length=64)
    mask = models.CharField(max_length=8, blank=True)
    institution = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.institution} ····{self.mask}"


class CashTransfer(models.Model):
    """A deposit or withdrawal through the bank.

    A deposit credits the account's cash when the bank reports it settled (money the firm
    does not have yet is never invested). A withdrawal debits the cash at once, when it is
    requested, so the same dollars cannot be withdrawn or spent twice; a failed or
    returned withdrawal is reversed. A withdrawal larger than the cash waits as
    `awaiting_cash`, its cash held back from buys and other withdrawals, while `proposal`
    sells holdings to raise it; it is debited and sent once that cash has settled.
    """

    class Direction(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AWAITING_CASH = "awaiting_cash", "Awaiting cash from sales"
        PENDING = "pending", "Pending at the bank"
        SETTLED = "settled", "Settled"
        FAILED = "failed", "Failed"

    account = models.ForeignKey("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="transfers")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    amount = cash_field()
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    #: The sell proposal raising the cash of a withdrawal that waits for it (`awaiting_cash`).
    proposal = models.ForeignKey(
        RebalanceProposal, on_delete=models.PROTECT, null=True, blank=True, related_name="cash_transfers"
    )
    bank_link = models.ForeignKey(BankLink, on_delete=models.PROTECT, null=True, blank=True, related_name="transfers")
    bank_transfer_id = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    entry = models.ForeignKey(
        "portfolios.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reversal_entry = models.ForeignKey(
        "portfolios.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    failure_reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="trading_transfer_amount_gt_0")]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.currency} ({self.status})"
