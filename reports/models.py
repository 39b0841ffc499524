"""Statements and reports: the firm's branding, each statement (an account's quarter) or
performance report (a household's), and the batches that generate them.

A statement is a row from the moment it is asked for (`queued`) until its PDF is kept in the
household's documents (`ready`, with the document, the as-of date of its data and the PDF's
SHA-256) or it has failed after its retries (`failed`, with the error shown). A batch is the set of
statements one request or the quarter-end job asked for, with its done / failed / total counts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from kronos.retention import RetainedModel

#: Largest logo kept (bytes): it is embedded in every PDF.
LOGO_MAX_BYTES = 256 * 1024


class FirmBranding(models.Model):
    """What the firm's statements and reports carry: its name as printed, a logo and disclosures."""

    firm = models.OneToOneField("accounts.Firm", on_delete=models.PROTECT, related_name="branding")
    display_name = models.CharField(
        max_length=200, blank=True, help_text="The name printed on statements (the firm's name when blank)."
    )
    logo = models.BinaryField(blank=True, default=b"", help_text="PNG or JPEG, embedded in each PDF.")
    logo_content_type = models.CharField(max_length=20, blank=True)
    accent_color = models.CharField(
        max_length=7,
        default="#1f3a5f",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #RRGGBB.")],
        help_text="Headings and rules, as #RRGGBB.",
    )
    disclosures = models.TextField(
        blank=True, help_text="Printed at the end of every statement and report (blank lines separate paragraphs)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["logo"])

    class Meta:
        verbose_name = "firm branding"
        verbose_name_plural = "firm branding"

    def __str__(self) -> str:
        return f"Branding of {self.firm_id}"


class StatementKind(models.TextChoices):
    STATEMENT = "statement", "Quarterly account statement"
    PERFORMANCE_REPORT = "performance_report", "Household performance report"


class StatementBatch(RetainedModel):
    """The statements and reports one request (or the quarter-end job) asked for."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DONE_WITH_FAILURES = "done_with_failures", "Done, with failures"

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="statement_batches")
    advisor = models.ForeignKey(
        "accounts.Advisor",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statement_batches",
        help_text="The advisor's book only; blank for the whole firm.",
    )
    period_end = models.DateField()
    scheduled = models.BooleanField(default=False, help_text="Started by the quarter-end job.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    statements: models.ManyToManyField[Statement, Any] = models.ManyToManyField(
        "Statement", related_name="batches", blank=True
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "statement batches"
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=models.F("total")), name="reports_batch_done_lte_total"),
            models.CheckConstraint(
                condition=Q(failed__lte=models.F("total") - models.F("done")), name="reports_batch_failed_lte_rest"
            ),
        ]

    def __str__(self) -> str:
        return f"Statements to {self.period_end} ({self.done}/{self.total})"

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed


class Statement(RetainedModel):
    """One account's statement for the quarter to `period_end`, or one household's performance
    report (`account` blank), and where it stands."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RETRYING = "retrying", "Failed, retrying"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=StatementKind.choices, default=StatementKind.STATEMENT)
    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey("accounts.Household", on_delete=models.PROTECT, related_name="statements")
    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, null=True, blank=True, related_name="statements"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    document = models.OneToOneField(
        "onboarding.HouseholdDocument", on_delete=models.PROTECT, null=True, blank=True, related_name="statement"
    )
    as_of = models.DateField(null=True, blank=True, help_text="The date of the data the PDF shows.")
    sha256 = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_end", "household_id", "account_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "period_end"],
                condition=Q(account__isnull=False),
                name="reports_one_statement_per_account_period",
            ),
            models.UniqueConstraint(
                fields=["household", "kind", "period_end"],
                condition=Q(account__isnull=True),
                name="reports_one_report_per_household_period",
            ),
            models.CheckConstraint(
                condition=(Q(kind="statement") & Q(account__isnull=False))
                | (Q(kind="performance_report") & Q(account__isnull=True)),
                name="reports_statement_kind_matches_subject",
            ),
            models.CheckConstraint(
                condition=~Q(status="ready") | (Q(document__isnull=False) & Q(as_of__isnull=False)),
                name="reports_ready_has_document",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="reports_statement_period_order"
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="reports_statement_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.account_id or self.household_id} to {self.period_end}"
