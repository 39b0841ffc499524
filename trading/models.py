"""Orders, their checks and executions, rebalance proposals, cash transfers, and the
outbox and webhook log that make talking to the custodian and the bank exactly-once.

Financial rows carry `history = HistoricalRecords()` and change only through
`trading.services`. The outbox and the webhook log are infrastructure: append-mostly
rows whose status is the only thing that changes.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from portfolios.models import cash_field, quantity_field
from trading.lifecycle import END_STATES, OrderStatus

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

ZERO = Decimal(0)


def price_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=20, decimal_places=6, **kwargs)


def drift_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=9, decimal_places=6, **kwargs)


class SnapshotJSONField(models.JSONField):
    """A JSONField that bulk inserts as VALUES with one binary jsonb parameter per row.

    Django's PostgreSQL bulk insert otherwise packs every column into a text array for
    UNNEST, and quoting large JSON documents into an array literal (and PostgreSQL parsing
    it back) was most of the cost of writing a chunk of proposals. A field with its own
    placeholder opts its model out of UNNEST; nothing else changes."""

    def get_placeholder(self, value, compiler, connection) -> str:  # type: ignore[no-untyped-def]
        return "%s"


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class RebalanceProposal(models.Model):
    """The rebalancing workflow's result for one account: inputs, drift and the proposed trades."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        DISCARDED = "discarded", "Discarded"
        EXPIRED = "expired", "Expired"

    # Indexed by (account, status) below -- the lookups are "this account's proposals" and
    # "its open ones" -- so neither column has an index of its own: two fewer indexes to keep
    # up on every write of the nightly scan, and its expiry UPDATE always finds the account's
    # open proposals through that one index (a status index could lead it to every open
    # proposal of the book, chunk after chunk).
    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="rebalance_proposals", db_index=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    needed = models.BooleanField(help_text="False when every holding is inside its band.")
    as_of = models.DateField()
    run_key = models.CharField(
        max_length=80,
        unique=True,
        null=True,
        blank=True,
        help_text="Set by the scheduled job (account and date) so a rerun makes no second proposal.",
    )
    inputs = SnapshotJSONField(default=dict, help_text="The snapshot the engine saw (decimals as strings).")
    drift_before = SnapshotJSONField(default=list)
    drift_after = SnapshotJSONField(default=list)
    max_drift_before = drift_field(default=ZERO)
    max_drift_after = drift_field(null=True, blank=True)
    estimated_cost = cash_field(default=ZERO)
    realised_gain = cash_field(default=ZERO)
    notes = SnapshotJSONField(default=list)
    # Nothing looks proposals up by who made or decided them (users are never deleted), so
    # these keys have no index to keep up on the nightly scan's writes.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    # The inputs, drift and notes are written once and never change: the row keeps them;
    # history rows (one per status move) carry the rest, not a second copy of the JSON. The
    # history keeps the indexes the audit trail reads by (object id, date, acting user, and the
    # account its firm scope joins through), not the model's others: the nightly scan writes a
    # history row per account per night, and each index is one more write for each.
    history = HistoricalRecords(
        excluded_fields=["inputs", "drift_before", "drift_after", "notes"],
        no_db_index=["run_key", "created_at", "created_by", "decided_by"],
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status"], name="trading_prop_acct_status")]

    def __str__(self) -> str:
        return f"Proposal {self.pk} for account {self.account_id} ({self.status})"


class ProposalTrade(models.Model):
    """One proposed trade; approving the proposal turns each into an order."""

    proposal = models.ForeignKey(RebalanceProposal, on_delete=models.CASCADE, related_name="trades")
    security = models.ForeignKey("portfolios.Security", on_delete=models.PROTECT, related_name="+")
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    price = price_field()
    estimated_amount = cash_field()
    realised_gain = cash_field(default=ZERO)
    position = models.PositiveSmallIntegerField(default=0, help_text="Sells first, then buys.")

    # About ten trades per proposal a night: the history keeps the audit trail's indexes (see
    # RebalanceProposal.history), the proposal its firm scope joins through, not the security.
    history = HistoricalRecords(no_db_index=["security"])

    class Meta:
        ordering = ["proposal", "position", "id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="trading_proposal_trade_qty_gt_0")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol}"


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
    proposal = models.ForeignKey(
        RebalanceProposal, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
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


class OutboxMessage(models.Model):
    """A call to make to the custodian or the bank, written in the same transaction as the
    change that needs it, and sent afterwards by the relay: a crash or an outage between
    the commit and the call loses nothing, and the call's own id makes a resend harmless."""

    class Kind(models.TextChoices):
        SUBMIT_ORDER = "submit_order", "Submit order"
        CANCEL_ORDER = "cancel_order", "Cancel order"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Gave up"
        SKIPPED = "skipped", "No longer needed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="outbox")
    transfer = models.ForeignKey(CashTransfer, on_delete=models.PROTECT, null=True, blank=True, related_name="outbox")
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
