"""Tax-loss harvesting's settings: a model's substitution pairs and the firm's thresholds
(the scan: `trading.services.harvest_proposals_create`; the engine: `portfolios.engine.harvest`)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from portfolios.models.fields import cash_field, weight_field
from portfolios.models.securities import ModelPortfolio, Security


class SubstitutionPair(models.Model):
    """In `model`, a loss harvested on `security` buys `substitute`: a similar, not substantially
    identical fund that holds the allocation while the 30-day wash-sale window runs. One
    direction per row (add the reverse pair to harvest the substitute back)."""

    model = models.ForeignKey(ModelPortfolio, on_delete=models.CASCADE, related_name="substitution_pairs")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="+")
    substitute = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="+")

    history = HistoricalRecords()

    class Meta:
        ordering = ["model", "security__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["model", "security"], name="portfolios_pair_unique_per_model"),
            models.CheckConstraint(condition=~Q(security=F("substitute")), name="portfolios_pair_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.security_id} -> {self.substitute_id} in model {self.model_id}"


class HarvestSettings(models.Model):
    """A firm's tax-loss harvesting settings. A position is harvested when the lots it would
    sell lose at least `loss_threshold_percent` of their cost each and `loss_threshold_amount`
    together. In automatic mode the harvest proposals are approved as they are made."""

    firm = models.OneToOneField("accounts.Firm", on_delete=models.PROTECT, related_name="harvest_settings")
    enabled = models.BooleanField(default=True, help_text="The daily scan harvests this firm's households.")
    loss_threshold_amount = cash_field(default=Decimal("1000.00"))
    loss_threshold_percent = weight_field(default=Decimal("0.10"), help_text="A fraction of the lot's cost.")
    automatic = models.BooleanField(default=False, help_text="Approve harvest proposals without the advisor.")

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "harvest settings"
        constraints = [
            models.CheckConstraint(condition=Q(loss_threshold_amount__gte=0), name="portfolios_harvest_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(loss_threshold_percent__gte=0, loss_threshold_percent__lt=1),
                name="portfolios_harvest_percent_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"Harvest settings of firm {self.firm_id}"
