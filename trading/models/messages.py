"""The outbox and webhook log that make talking to the custodian and the bank exactly-once, and
the account-opening requests sent to the custodian. Infrastructure: append-mostly rows whose
status is the only thing that changes."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from trading.models.orders import Order
from trading.models.transfers import CashTransfer


class OutboxMessage(models.Model):
    """A call to make to the custodian or the bank, written in the same transaction as the
    change that needs it, and sent afterwards by the relay: a crash or an outage between
    the commit and the call loses nothing, and the call's own id makes a resend harmless."""

    class Kind(models.TextChoices):
        SUBMIT_ORDER = "submit_order", "Submit order"
        CANCEL_ORDER = "cancel_order", "Cancel order"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        SUBMIT_BLOCK = "submit_block", "Submit block order"
        ACCOUNT_SETTINGS = "account_settings", "Account settings"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Gave up"
        SKIPPED = "skipped", "No longer needed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="outbox")
    block = models.ForeignKey(
        "trading.BlockOrder", on_delete=models.PROTECT, null=True, blank=True, related_name="outbox"
    )
    transfer = models.ForeignKey(CashTransfer, on_delete=models.PROTECT, null=True, blank=True, related_name="outbox")
    # An account's settings the custodian keeps too (whether it trades fractional shares).
    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, null=True, blank=True, related_name="outbox"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="trading_outbox_due")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class WebhookEvent(models.Model):
    """Every webhook event received, once: the unique event id is the dedupe."""

    source = models.CharField(max_length=20, default="custodian")
    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=40)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class CustodianAccountRequest(models.Model):
    """A request to the custodian to open an account; it answers later, by signed webhook
    (`account.opened`), with the account number. One per account: the request id is the
    custodian's idempotency key, so asking again never opens a second account."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        OPENED = "opened", "Opened"
        FAILED = "failed", "Failed (will be asked again)"
        REJECTED = "rejected", "Rejected by the custodian"

    account = models.OneToOneField(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="custodian_request"
    )
    request_id = models.CharField(max_length=80, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Opening of account {self.account_id}: {self.status}"
