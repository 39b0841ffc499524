"""Household rebalancing groups: several accounts of one household managed to one model as a whole
(`portfolios.engine.household`; proposals made by `trading.services.household_rebalance_propose`)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from portfolios.models.accounts import InvestmentAccount
from portfolios.models.fields import weight_field
from portfolios.models.securities import ModelPortfolio


class RebalancingGroup(models.Model):
    """A household's accounts rebalanced together to one model: the household's allocation is
    brought to the model, trading where it costs the least tax."""

    household = models.ForeignKey("accounts.Household", on_delete=models.PROTECT, related_name="rebalancing_groups")
    name = models.CharField(max_length=120)
    model = models.ForeignKey(ModelPortfolio, on_delete=models.PROTECT, related_name="rebalancing_groups")
    drift_threshold = weight_field(default=Decimal("0.05"), help_text="The group's absolute band, a fraction of 1.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["household", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["household", "name"], name="portfolios_group_name_unique_in_household"),
            models.CheckConstraint(
                condition=Q(drift_threshold__gt=0, drift_threshold__lte=1), name="portfolios_group_threshold_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.household_id})"


class RebalancingGroupMember(models.Model):
    """An account's place in a group; an account belongs to one group at most."""

    group = models.ForeignKey(RebalancingGroup, on_delete=models.PROTECT, related_name="members")
    account = models.OneToOneField(InvestmentAccount, on_delete=models.PROTECT, related_name="rebalancing_membership")

    history = HistoricalRecords()

    class Meta:
        ordering = ["group", "account"]

    def __str__(self) -> str:
        return f"{self.account_id} in group {self.group_id}"
