"""Firms (the tenants), their advisors and the households they advise."""

from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models.users import User
from kronos.retention import RetainedModel


class Firm(RetainedModel):
    """A registered investment advisory firm: the tenant everything else belongs to."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York")
    base_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Advisor(RetainedModel):
    """An advisor of a firm; manages a book of households."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="advisor")
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="advisors")
    crd_number = models.CharField("CRD number", max_length=20, blank=True)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.get_full_name()


class Household(RetainedModel):
    """A client of the firm: one or more investors who share an advisor and accounts."""

    class Status(models.TextChoices):
        PROSPECT = "prospect", "Prospect"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="households")
    name = models.CharField(max_length=200)
    advisor = models.ForeignKey(Advisor, on_delete=models.PROTECT, related_name="households")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["firm", "name"], name="accounts_household_name_unique_in_firm")]

    def __str__(self) -> str:
        return self.name
