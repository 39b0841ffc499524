"""Each account's figures as of its last change: what the book, the household page and the
accounts API read instead of summing positions at prices on every request.

A derived row, never a record: `portfolios.figures.refresh_figures` recomputes it from
the ledger's balances, the model's targets and the last closes, and every service that moves one
of those calls it in the same transaction (the ledger's postings, account settings, model
targets, price imports, the nightly valuation). Rebuilding every row from the records gives the
same rows (`figures_stale` finds any that differ; the simulator checks it each night).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from portfolios.models.accounts import InvestmentAccount
from portfolios.models.fields import cash_field

#: Drift is a quotient: kept to 12 places, rounded half-even at `portfolios.figures` (display shows 2).
DRIFT_PLACES = 12


class AccountFigures(models.Model):
    account = models.OneToOneField(
        InvestmentAccount, on_delete=models.CASCADE, primary_key=True, related_name="figures"
    )
    currency = models.CharField(max_length=3)
    market_value = models.DecimalField(
        # quantity (9 places) x close (6 places): exact, never rounded here (quantise at display)
        max_digits=40,
        decimal_places=15,
        help_text="Securities at their last close, exact.",
    )
    cash = cash_field(help_text="Base-currency cash.")
    max_drift = models.DecimalField(
        max_digits=20,
        decimal_places=DRIFT_PLACES,
        null=True,
        help_text="Largest absolute drift from the model; null without one.",
    )
    breached = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "account figures"

    def __str__(self) -> str:
        return f"{self.account_id}: {self.total_value}"

    @property
    def total_value(self) -> Decimal:
        return self.market_value + self.cash
