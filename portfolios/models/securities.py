"""Securities, their prices, and the firms' model portfolios of them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from simple_history.models import HistoricalRecords

from portfolios.models.fields import (
    PRICE_PLACES,
    ZERO,
    validate_not_future,
    validate_positive,
    weight_field,
)


class AssetClass(models.TextChoices):
    US_EQUITY = "us_equity", "US equity"
    INTL_EQUITY = "intl_equity", "International equity"
    BONDS = "bonds", "Bonds"
    CASH_EQUIVALENT = "cash_equivalent", "Cash equivalent"
    REAL_ESTATE = "real_estate", "Real estate"
    COMMODITIES = "commodities", "Commodities"
    OTHER = "other", "Other"


class Security(models.Model):
    """A tradable instrument, identified by its upper-case ticker."""

    symbol = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200, blank=True)
    asset_class = models.CharField(max_length=20, choices=AssetClass.choices, default=AssetClass.US_EQUITY)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True, help_text="Inactive securities are held but never bought.")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["symbol"]
        verbose_name_plural = "securities"
        constraints = [
            models.CheckConstraint(condition=Q(symbol=Upper("symbol")), name="portfolios_security_symbol_upper"),
            models.CheckConstraint(condition=~Q(symbol=""), name="portfolios_security_symbol_not_empty"),
        ]

    def __str__(self) -> str:
        return self.symbol


class Price(models.Model):
    """A security's (adjusted) close on a day.

    No history table: prices are public market data re-importable from the provider, not
    client financial records; a corrected close simply replaces the day's row (`source`
    and `updated_at` say where and when it came from).
    """

    # No index of its own (the (security, date) unique index leads with it) and no database
    # foreign-key trigger: a price import writes a million rows, and the per-row check cost more
    # than the rows; every writer takes the ids from `security_ids_for` (one check per security),
    # and securities are never deleted (PROTECT here, and no service deletes one).
    security = models.ForeignKey(
        Security, on_delete=models.PROTECT, related_name="prices", db_index=False, db_constraint=False
    )
    date = models.DateField(validators=[validate_not_future])
    close = models.DecimalField(max_digits=20, decimal_places=PRICE_PLACES, validators=[validate_positive])
    source = models.CharField(max_length=40, default="manual")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["security", "-date"]
        constraints = [
            models.UniqueConstraint(fields=["security", "date"], name="portfolios_price_unique_per_day"),
            models.CheckConstraint(condition=Q(close__gt=0), name="portfolios_price_close_positive"),
        ]
        indexes = [models.Index(fields=["date"], name="portfolios_price_date_idx")]

    def __str__(self) -> str:
        return f"{self.security_id} {self.date} {self.close}"


class Benchmark(models.Model):
    """What a portfolio's returns are compared with: one security's price return, or a blend of
    several rebalanced to their weights at each month end (`components`, weights summing to 1).

    Chosen per model portfolio, and overridden per household or account; without any choice the
    firm-wide benchmark of settings.PORTFOLIOS_BENCHMARK applies."""

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="benchmarks")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["firm", "name"]
        constraints = [models.UniqueConstraint(fields=["firm", "name"], name="portfolios_benchmark_name_unique")]

    def __str__(self) -> str:
        return self.name


class BenchmarkComponent(models.Model):
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="components")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="+")
    weight = weight_field(help_text="A fraction of 1; a benchmark's weights sum to 1.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["benchmark", "-weight", "security_id"]
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "security"], name="portfolios_benchmark_component_unique"),
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lte=1), name="portfolios_benchmark_component_weight_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.benchmark_id}: {self.weight} {self.security_id}"


class ModelPortfolio(models.Model):
    """A firm's target allocation; targets plus `cash_target` sum to exactly 1."""

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="model_portfolios")
    name = models.CharField(max_length=120)
    risk_level = models.PositiveSmallIntegerField(help_text="1 (most conservative) to 10 (most aggressive).")
    cash_target = weight_field(default=ZERO, help_text="Target cash weight, a fraction of 1.")
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    benchmark = models.ForeignKey(
        Benchmark,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="models",
        help_text="What the model's accounts are compared with (the firm-wide benchmark when empty).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["risk_level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["firm", "name"], name="portfolios_model_name_unique_in_firm"),
            models.CheckConstraint(
                condition=Q(risk_level__gte=1, risk_level__lte=10), name="portfolios_model_risk_level_1_10"
            ),
            models.CheckConstraint(
                condition=Q(cash_target__gte=0, cash_target__lte=1), name="portfolios_model_cash_target_0_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ModelTarget(models.Model):
    """One security's weight in a model (a fraction of 1)."""

    model = models.ForeignKey(ModelPortfolio, on_delete=models.CASCADE, related_name="targets")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="model_targets")
    weight = weight_field()

    history = HistoricalRecords()

    class Meta:
        ordering = ["model", "-weight", "security__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["model", "security"], name="portfolios_target_unique_per_model"),
            models.CheckConstraint(condition=Q(weight__gt=0, weight__lte=1), name="portfolios_target_weight_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.security_id}: {self.weight}"


class HouseholdBenchmark(models.Model):
    """A household's chosen benchmark: its household performance, and its accounts without their own."""

    household = models.OneToOneField("accounts.Household", on_delete=models.PROTECT, related_name="benchmark_choice")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="households")

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.household_id} -> {self.benchmark_id}"
