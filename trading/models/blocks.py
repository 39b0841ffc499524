"""Block orders: one security's same-side orders across accounts sent to the custodian as one
order, filled at an average price and allocated back to the accounts (`trading.services.blocks`).

Financial rows carry `history = HistoricalRecords()` and change only through `trading.services`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from portfolios.models import cash_field, quantity_field
from trading.models.common import ZERO, Side, price_field


class BlockOrder(models.Model):
    """The orders of one security and side, from many accounts of a firm, as one custodian order.

    Its child orders (`Order.block`) are never sent themselves: the block's client order id is the
    one the custodian sees, the same on every retry. Each fill is recorded once (`BlockExecution`);
    when the block ends (filled, or cancelled after part of it filled) the filled shares are
    allocated to the children pro rata by largest remainder at the average price
    (`portfolios.engine.allocation`), and each child's share is booked as that child's fill."""

    class Status(models.TextChoices):
        APPROVED = "approved", "Waiting to be sent"
        SUBMITTED = "submitted", "At the custodian"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    OPEN = frozenset({Status.APPROVED, Status.SUBMITTED, Status.PARTIALLY_FILLED})

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="block_orders")
    security = models.ForeignKey("portfolios.Security", on_delete=models.PROTECT, related_name="block_orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field(help_text="The sum of the child orders' quantities.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPROVED, db_index=True)
    status_reason = models.TextField(blank=True)
    client_order_id = models.CharField(max_length=64, unique=True, help_text="Ours; the same on every retry.")
    custodian_order_id = models.CharField(max_length=64, blank=True)
    estimated_price = price_field()
    filled_quantity = quantity_field(default=ZERO)
    filled_amount = cash_field(default=ZERO)
    average_price = price_field(null=True, blank=True)
    allocated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trading_block_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=models.F("quantity")),
                name="trading_block_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"Block {self.side} {self.quantity.normalize():f} {self.security_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class BlockExecution(models.Model):
    """A custodian fill of a block, recorded once (unique execution id); booked to the accounts
    only through the allocation."""

    block = models.ForeignKey(BlockOrder, on_delete=models.PROTECT, related_name="executions")
    execution_id = models.CharField(max_length=100, unique=True)
    quantity = quantity_field()
    price = price_field()
    amount = cash_field(help_text="quantity x price, rounded to cents half-even.")
    trade_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["block", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trading_block_execution_qty_gt_0"),
            models.CheckConstraint(condition=Q(price__gt=0), name="trading_block_execution_price_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}: {self.quantity} @ {self.price}"
