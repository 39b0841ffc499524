"""Scheduled jobs and what they produce: job runs and chunks, reconciliation breaks, fee billing.

A `JobRun` is unique per (job, business date), so two beat processes, a retried trigger or a
second run of the same night never do the work twice; its `JobChunk`s are unique per
(run, index), so a redelivered chunk task finds its chunk done and does nothing.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

ZERO = Decimal(0)


def money_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=18, decimal_places=2, **kwargs)


class JobRun(models.Model):
    """One run of a scheduled job for one business date."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial (some accounts failed)"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    job = models.CharField(max_length=60)
    business_date = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="[{account_id, firm_id, error}] or [{error}]")
    note = models.CharField(max_length=255, blank=True)
    then = models.JSONField(
        default=list, blank=True, help_text="The stages of the chain to start, in order, once this run has closed."
    )

    class Meta:
        ordering = ["-business_date", "-started_at", "job"]
        constraints = [
            models.UniqueConstraint(fields=["job", "business_date"], name="operations_jobrun_unique_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.business_date} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.RUNNING

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class JobChunk(models.Model):
    """A slice of a run's accounts; done exactly once (the chunk task locks and checks the row)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    account_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="operations_jobchunk_unique")]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.index}"


class ReconciliationBreak(models.Model):
    """A difference between our books and the custodian's for one asset of one account on one day."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="reconciliation_breaks"
    )
    business_date = models.DateField()
    asset = models.CharField(max_length=24, help_text="A symbol, or CASH:<currency>.")
    security = models.ForeignKey(
        "portfolios.Security", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, default="USD")
    ours = models.DecimalField(max_digits=28, decimal_places=9)
    theirs = models.DecimalField(max_digits=28, decimal_places=9)
    difference = models.DecimalField(max_digits=28, decimal_places=9, help_text="theirs - ours")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    adjustment_entry = models.ForeignKey(
        "portfolios.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-business_date", "account_id", "asset"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "business_date", "asset"], name="operations_break_unique_per_asset_day"
            ),
        ]
        indexes = [models.Index(fields=["status", "business_date"], name="operations_break_status_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.asset} {self.business_date}: {self.difference}"

    @property
    def is_cash(self) -> bool:
        return self.security_id is None


class FeeSchedule(models.Model):
    """A firm's advisory fee: flat or marginal tiers, in basis points a year; billed quarterly or
    monthly, in arrears (on the period just ended) or in advance (on the value at the start of
    the next period); optionally on the household's total (tiers reached by the billing group,
    the fee split back to its accounts), with a minimum annual fee and securities left out of
    the billable value."""

    class Method(models.TextChoices):
        FLAT = "flat", "Flat rate"
        TIERED = "tiered", "Tiered (marginal)"

    class Basis(models.TextChoices):
        AVERAGE_DAILY_BALANCE = "average_daily_balance", "Average daily balance"
        PERIOD_END = "period_end", "Period-end value"

    class Timing(models.TextChoices):
        ARREARS = "arrears", "In arrears"
        ADVANCE = "advance", "In advance"

    class Cycle(models.TextChoices):
        QUARTERLY = "quarterly", "Quarterly"
        MONTHLY = "monthly", "Monthly"

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="fee_schedules")
    name = models.CharField(max_length=120)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.FLAT)
    flat_bps = models.DecimalField(
        max_digits=8, decimal_places=4, default=ZERO, help_text="Basis points a year (flat method)."
    )
    basis = models.CharField(max_length=24, choices=Basis.choices, default=Basis.AVERAGE_DAILY_BALANCE)
    timing = models.CharField(max_length=10, choices=Timing.choices, default=Timing.ARREARS)
    cycle = models.CharField(max_length=10, choices=Cycle.choices, default=Cycle.QUARTERLY)
    aggregate_household = models.BooleanField(
        default=False, help_text="Tiers on the household's billed accounts together; the fee split back pro rata."
    )
    minimum_annual_fee = money_field(default=ZERO, help_text="The least a billing group pays a year.")
    excluded_securities = models.ManyToManyField(
        "portfolios.Security", blank=True, related_name="+", help_text="Holdings left out of the billable value."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[excluded_securities])

    class Meta:
        ordering = ["firm", "name"]
        constraints = [
            models.UniqueConstraint(fields=["firm", "name"], name="operations_feeschedule_name_unique"),
            models.CheckConstraint(condition=Q(flat_bps__gte=0), name="operations_feeschedule_bps_gte_0"),
            models.CheckConstraint(condition=Q(minimum_annual_fee__gte=0), name="operations_feeschedule_minimum_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name


class FeeTier(models.Model):
    """A marginal tier: `bps` a year on the assets between the previous tier's bound and `up_to`.

    `up_to` is cumulative (1,000,000 then 5,000,000); null is the top tier (no upper bound).
    """

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="tiers")
    up_to = money_field(null=True, blank=True)
    bps = models.DecimalField(max_digits=8, decimal_places=4)

    history = HistoricalRecords()

    class Meta:
        ordering = ["schedule", models.F("up_to").asc(nulls_last=True)]
        constraints = [
            models.CheckConstraint(condition=Q(bps__gte=0), name="operations_feetier_bps_gte_0"),
            models.CheckConstraint(
                condition=Q(up_to__isnull=True) | Q(up_to__gt=0), name="operations_feetier_up_to_gt_0"
            ),
            models.UniqueConstraint(fields=["schedule", "up_to"], name="operations_feetier_unique_bound"),
        ]

    def __str__(self) -> str:
        return f"{self.bps} bps up to {self.up_to or '∞'}"


class FeeAssignment(models.Model):
    """Which fee schedule a household is billed on (its accounts are billed each on its own basis)."""

    household = models.OneToOneField("accounts.Household", on_delete=models.PROTECT, related_name="fee_assignment")
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.PROTECT, related_name="assignments")

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.household_id} -> {self.schedule_id}"


class AccountBilling(models.Model):
    """How one account is billed when not simply as its household: its own schedule, left out of
    billing altogether, or its fee paid from another account of the household."""

    account = models.OneToOneField("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="billing")
    schedule = models.ForeignKey(
        FeeSchedule, on_delete=models.PROTECT, null=True, blank=True, related_name="account_assignments"
    )
    excluded = models.BooleanField(default=False, help_text="Never billed, nor counted in the household's total.")
    paid_from = models.ForeignKey(
        "portfolios.InvestmentAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The household account its fee is debited from (itself when empty).",
    )

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_from__isnull=True) | ~Q(paid_from=models.F("account")),
                name="operations_accountbilling_payer_other",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} billing"


class BillingSettings(models.Model):
    """A firm's billing policy: whether money withdrawn from an account billed in advance earns
    back the unused part of its fee (a credit on the next bill)."""

    firm = models.OneToOneField("accounts.Firm", on_delete=models.PROTECT, related_name="billing_settings")
    credit_withdrawals = models.BooleanField(default=False)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.firm_id} billing settings"


class BillingRun(models.Model):
    """The fee billing of one firm after one period ended (`period_start`..`period_end`, a quarter
    or a month by `cycle`): the period's fees in arrears and the next period's in advance;
    previewed (draft), then approved and debited."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (preview)"
        APPROVED = "approved", "Approved and debited"

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="billing_runs")
    cycle = models.CharField(max_length=10, choices=FeeSchedule.Cycle.choices, default=FeeSchedule.Cycle.QUARTERLY)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    total = money_field(default=ZERO)
    charge_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_start", "firm"]
        constraints = [
            models.UniqueConstraint(
                fields=["firm", "cycle", "period_start"], name="operations_billingrun_unique_period"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="operations_billingrun_period_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.firm_id} {self.period_start}..{self.period_end} {self.status}"

    @property
    def period_label(self) -> str:
        if self.cycle == FeeSchedule.Cycle.MONTHLY:
            return f"{self.period_start.year}-{self.period_start.month:02d}"
        return f"{self.period_start.year}Q{(self.period_start.month - 1) // 3 + 1}"


class FeeCharge(models.Model):
    """One account's fee for one period (`period_start`..`period_end`, in arrears or in advance),
    with its calculation; unique per account and period start."""

    class Status(models.TextChoices):
        PREVIEW = "preview", "Preview"
        AWAITING_CASH = "awaiting_cash", "Awaiting cash from sales"
        DEBITED = "debited", "Debited"
        FAILED = "failed", "Not debited"

    billing_run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="charges")
    account = models.ForeignKey("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="fee_charges")
    paid_from = models.ForeignKey(
        "portfolios.InvestmentAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The account debited, when not the billed account itself.",
    )
    period_start = models.DateField()
    period_end = models.DateField(null=True, blank=True)
    timing = models.CharField(max_length=10, choices=FeeSchedule.Timing.choices, default=FeeSchedule.Timing.ARREARS)
    credit = money_field(default=ZERO, help_text="Withdrawal credits taken off this fee (see calculation).")
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.PROTECT, related_name="+")
    basis_kind = models.CharField(max_length=24, choices=FeeSchedule.Basis.choices)
    basis_amount = money_field(help_text="The assets the fee is charged on (unrounded basis shown to cents).")
    annual_fee = models.DecimalField(max_digits=24, decimal_places=8, help_text="Annual fee on the basis, unrounded.")
    effective_bps = models.DecimalField(max_digits=12, decimal_places=6)
    days_billed = models.PositiveSmallIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    days_in_year = models.PositiveSmallIntegerField()
    amount = money_field(help_text="The fee, rounded to cents half-even.")
    currency = models.CharField(max_length=3, default="USD")
    calculation = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEW)
    error = models.CharField(max_length=255, blank=True)
    entry = models.ForeignKey(
        "portfolios.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: The sell proposal raising the fee of an account whose cash did not cover it (`awaiting_cash`).
    proposal = models.ForeignKey(
        "trading.RebalanceProposal", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["billing_run", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period_start"], name="operations_feecharge_unique_quarter"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="operations_feecharge_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period_start}: {self.amount}"

    @property
    def debited_account_id(self) -> int:
        return self.paid_from_id or self.account_id
