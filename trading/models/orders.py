"""Orders, their pre-trade check results, executions (fills) and refused fills.

Financial rows carry `history = HistoricalRecords()` and change only through
`trading.services`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from portfolios.models import cash_field, quantity_field
from trading.lifecycle import END_STATES, OrderStatus
from trading.models.common import ZERO, Side, price_field
from trading.models.proposals import RebalanceProposal

#: The states whose reason the order tables print as text (see `Order.shows_reason`).
REASON_STATES = frozenset(
    {
        OrderStatus.PENDING_REVIEW,
        OrderStatus.AWAITING_FUNDS,
        OrderStatus.REJECTED,
        OrderStatus.FAILED,
        OrderStatus.CANCELLED,
    }
)


class Order(models.Model):
    """An instruction to buy or sell a security for an account, from draft to an end state."""

    class OrderType(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"

    class Source(models.TextChoices):
        ADVISOR = "advisor", "Advisor (page)"
        PROPOSAL = "proposal", "Rebalance proposal"
        API = "api", "API"
        JOB = "job", "Scheduled job"

    account = models.ForeignKey("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="orders")
    security = models.ForeignKey("portfolios.Security", on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=6, choices=OrderType.choices, default=OrderType.MARKET)
    quantity = quantity_field(null=True, blank=True, help_text="Shares; empty for an amount order until it fills.")
    amount = cash_field(null=True, blank=True, help_text="An amount (notional) order's cash value.")
    limit_price = price_field(null=True, blank=True)
    estimated_price = price_field(help_text="The latest price when the order was made.")
    reserved_amount = cash_field(default=ZERO, help_text="Cash held back for a buy until it fills or ends.")
    status = models.CharField(
        max_length=20, choices=[(s.value, s.label) for s in OrderStatus], default=OrderStatus.DRAFT, db_index=True
    )
    status_reason = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    client_order_id = models.CharField(max_length=64, unique=True, help_text="Ours; the same on every retry.")
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    custodian_order_id = models.CharField(max_length=64, blank=True)
    filled_quantity = quantity_field(default=ZERO)
    filled_amount = cash_field(default=ZERO)
    average_price = price_field(null=True, blank=True)
    realised_gain = cash_field(default=ZERO)
    # A sell's tax lots when it names them: {"method": "specific", "lots": [{"id": 1, "quantity": "5"}]}
    # or {"method": "fifo"} (hifo, tax_optimised, fifo); null = the account's lot relief method.
    lot_selection = models.JSONField(null=True, blank=True)
    proposal = models.ForeignKey(
        RebalanceProposal, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    block = models.ForeignKey(
        "trading.BlockOrder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        help_text="The block order that carries this order to the custodian (it is not sent itself).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status"], name="trading_order_acct_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__isnull=False) | Q(amount__isnull=False), name="trading_order_quantity_or_amount"
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(quantity__gt=0), name="trading_order_quantity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="trading_order_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=~Q(order_type="limit") | Q(limit_price__gt=0), name="trading_order_limit_has_price"
            ),
            models.CheckConstraint(condition=Q(filled_quantity__gte=0), name="trading_order_filled_gte_0"),
            models.CheckConstraint(condition=Q(reserved_amount__gte=0), name="trading_order_reserved_gte_0"),
        ]

    def __str__(self) -> str:
        what = self.quantity if self.quantity is not None else f"${self.amount} of"
        return f"{self.side} {what} {self.security_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status not in END_STATES

    @property
    def status_label(self) -> str:
        return OrderStatus(self.status).label

    @property
    def shows_reason(self) -> bool:
        """Whether the order pages print `status_reason` beside the status: why an order waits
        for review, was rejected, failed or was cancelled is something the advisor must read
        (a routine note such as "accepted by the custodian" stays out of the way)."""
        return bool(self.status_reason) and self.status in REASON_STATES


class OrderCheck(models.Model):
    """One pre-trade check's result for an order, kept with the order for the audit trail."""

    class Outcome(models.TextChoices):
        PASS = "pass", "Pass"
        WARN = "warn", "Warn"
        FAIL = "fail", "Fail"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="checks")
    rule = models.CharField(max_length=100)
    outcome = models.CharField(max_length=4, choices=Outcome.choices)
    hard = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.outcome}"


class Execution(models.Model):
    """A fill reported by the custodian: applied to the ledger exactly once (unique execution id)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="executions")
    execution_id = models.CharField(max_length=100, unique=True)
    quantity = quantity_field()
    price = price_field()
    amount = cash_field(help_text="quantity x price, rounded to cents half-even.")
    trade_date = models.DateField()
    settle_date = models.DateField()
    settled_at = models.DateTimeField(null=True, blank=True)
    realised_gain = cash_field(default=ZERO)
    entry = models.ForeignKey("portfolios.JournalEntry", on_delete=models.PROTECT, related_name="+")
    settlement_entry = models.ForeignKey(
        "portfolios.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["settled_at", "settle_date"], name="trading_exec_unsettled")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trading_execution_qty_gt_0"),
            models.CheckConstraint(condition=Q(price__gt=0), name="trading_execution_price_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}: {self.quantity} @ {self.price}"


class FillAnomaly(models.Model):
    """A custodian fill refused and booked nowhere: more than the order's remaining quantity,
    or for an order that had ended or was never sent. Operations compare it with the custodian
    and resolve it (the history keeps who did what); the ledger stays as it was."""

    class Reason(models.TextChoices):
        OVERFILL = "overfill", "More than the order's remaining quantity"
        ORDER_ENDED = "order_ended", "The order had already ended"
        NOT_SENT = "not_sent", "The order was never sent to the custodian"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fill_anomalies")
    execution_id = models.CharField(max_length=100, unique=True, help_text="The custodian's id of the refused fill.")
    event_id = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    quantity = quantity_field()
    price = price_field()
    trade_date = models.DateField()
    order_status = models.CharField(max_length=20, help_text="The order's status when the fill arrived.")
    order_quantity = quantity_field(null=True, blank=True)
    filled_before = quantity_field(help_text="Shares already filled when the fill arrived.")
    detail = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "fill anomalies"

    def __str__(self) -> str:
        return f"Refused fill {self.execution_id} on order {self.order_id} ({self.reason})"
