"""KYC, AML screening, risk profiles, suitability, restrictions and the firm's compliance rules.

Every model here holds personal or financial data, carries a history table and refuses
hard deletes (`kronos.retention.RetainedModel`): records end in a state instead.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from kronos.retention import RetainedModel


class RuleMode(models.TextChoices):
    """What a failed pre-trade rule does to the order."""

    HARD = "hard", "Hard: reject the order"
    SOFT = "soft", "Soft: send the order to compliance review"
    WARN = "warn", "Warn: show a warning only"
    OFF = "off", "Off"


def _mode(default: str, help_text: str) -> models.CharField:
    return models.CharField(max_length=4, choices=RuleMode.choices, default=default, help_text=help_text)


class ComplianceSettings(RetainedModel):
    """A firm's pre-trade rules: each hard, soft, warning-only or off, and the concentration limit."""

    firm = models.OneToOneField("accounts.Firm", on_delete=models.PROTECT, related_name="compliance_settings")
    kyc_mode = _mode(RuleMode.HARD, "Every owner of the account must be KYC-approved.")
    aml_mode = _mode(RuleMode.HARD, "No owner may have an open AML case.")
    account_restriction_mode = _mode(RuleMode.HARD, "The account must not be restricted.")
    restricted_security_mode = _mode(RuleMode.HARD, "The security must not be on the firm's restricted list.")
    suitability_mode = _mode(RuleMode.HARD, "The account's model must not be riskier than its owners' profile.")
    concentration_mode = _mode(RuleMode.SOFT, "One security may not exceed the limit after a buy.")
    funds_mode = _mode(RuleMode.HARD, "Enough cash for a buy, enough shares for a sell.")
    wash_sale_mode = _mode(RuleMode.WARN, "A buy within 30 days of a sale at a loss (or the reverse).")
    concentration_limit = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=Decimal("0.25"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1"))],
        help_text="Largest weight of one security in an account after a buy, a fraction of 1 (0.25 is 25%).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "compliance settings"
        verbose_name_plural = "compliance settings"
        permissions = [
            ("work_compliance_queues", "Can work the KYC, AML, suitability and order review queues"),
            ("view_audit_trail", "Can read and export the audit trail"),
        ]

    def __str__(self) -> str:
        return f"Compliance settings of {self.firm}"


class KYCVerification(RetainedModel):
    """An investor's identity verification with the KYC provider; one per investor, restartable.

    Each attempt gets a new `provider_reference`; the history table keeps every attempt.
    """

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        NEEDS_REVIEW = "needs_review", "Needs review"

    investor = models.OneToOneField("accounts.Investor", on_delete=models.PROTECT, related_name="kyc")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_STARTED, db_index=True)
    provider = models.CharField(max_length=20, default="sandbox")
    provider_reference = models.CharField(max_length=80, unique=True, null=True, blank=True)
    redirect_url = models.URLField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    provider_reason = models.CharField(max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "KYC verification"
        ordering = ["-updated_at", "id"]

    def __str__(self) -> str:
        return f"KYC of investor {self.investor_id}: {self.status}"


class WebhookEvent(models.Model):
    """Event ids of inbound webhooks already applied, so a replay changes nothing.

    No history table: an append-only log of inbound delivery ids, never changed.
    """

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=120)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="compliance_webhook_event_unique")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class WatchlistEntry(RetainedModel):
    """A person on a sanctions or PEP list, as imported by `import_watchlist`."""

    name = models.CharField(max_length=200)
    aliases = models.TextField(blank=True, help_text="Other names, separated by semicolons.")
    date_of_birth = models.DateField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    list_name = models.CharField(max_length=80)
    is_active = models.BooleanField(default=True)
    imported_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "watch list entries"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["list_name", "name", "date_of_birth"], name="compliance_watchlist_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.list_name})"

    @property
    def alias_list(self) -> list[str]:
        return [a.strip() for a in self.aliases.split(";") if a.strip()]


class AMLScreening(RetainedModel):
    """One screening of one investor against the watch list, with what it found."""

    class Trigger(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        SCHEDULED = "scheduled", "Scheduled rescreen"
        MANUAL = "manual", "Manual"

    investor = models.ForeignKey("accounts.Investor", on_delete=models.PROTECT, related_name="aml_screenings")
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    provider = models.CharField(max_length=20, default="sandbox")
    best_score = models.DecimalField(max_digits=5, decimal_places=1, default=Decimal("0"))
    matches = models.JSONField(default=list, blank=True)
    is_hit = models.BooleanField(default=False)
    screened_at = models.DateTimeField(auto_now_add=True, db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-screened_at", "-id"]

    def __str__(self) -> str:
        return f"Screening of investor {self.investor_id}: {self.best_score}"


class AMLCase(RetainedModel):
    """A possible watch-list match a compliance officer must clear; trading is frozen meanwhile."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared (false positive)"
        CONFIRMED = "confirmed", "Confirmed match"

    #: Statuses that freeze the investor's accounts.
    FREEZING = (Status.OPEN, Status.CONFIRMED)

    investor = models.ForeignKey("accounts.Investor", on_delete=models.PROTECT, related_name="aml_cases")
    screening = models.ForeignKey(AMLScreening, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    best_score = models.DecimalField(max_digits=5, decimal_places=1)
    matches = models.JSONField(default=list, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "AML case"
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor"], condition=Q(status="open"), name="compliance_one_open_aml_case_per_investor"
            )
        ]

    def __str__(self) -> str:
        return f"AML case {self.pk} ({self.status})"


class RiskProfile(RetainedModel):
    """An investor's answers to the risk questionnaire and the risk level (1-10) they score to.

    One row per investor; `version` counts completions and the history table keeps each one.
    """

    investor = models.OneToOneField("accounts.Investor", on_delete=models.PROTECT, related_name="risk_profile")
    answers = models.JSONField(default=dict)
    score = models.PositiveSmallIntegerField()
    risk_level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(10)])
    version = models.PositiveIntegerField(default=1)
    completed_at = models.DateTimeField()
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_level__gte=1, risk_level__lte=10), name="compliance_risk_level_1_10"
            )
        ]

    def __str__(self) -> str:
        return f"Risk profile of investor {self.investor_id}: level {self.risk_level} (v{self.version})"


class SuitabilityCase(RetainedModel):
    """An account whose model became riskier than its owners' profile (e.g. after a profile change)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="suitability_cases"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    model_risk_level = models.PositiveSmallIntegerField()
    owner_risk_level = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=255)
    opened_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(status="open"), name="compliance_one_open_suitability_case"
            )
        ]

    def __str__(self) -> str:
        return f"Suitability case {self.pk} ({self.status})"


class RestrictedSecurity(RetainedModel):
    """A security the firm's accounts may not trade (e.g. a firm insider holding); ends inactive."""

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="restricted_securities")
    security = models.ForeignKey("portfolios.Security", on_delete=models.PROTECT, related_name="restrictions")
    reason = models.CharField(max_length=255)
    is_active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "restricted securities"
        ordering = ["security__symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["firm", "security"], condition=Q(is_active=True), name="compliance_restricted_security_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.security} restricted at {self.firm}"
