"""Corporate actions (dividends, splits) and each account's entitlement to one."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from portfolios.models.accounts import InvestmentAccount
from portfolios.models.fields import (
    PRICE_PLACES,
    ZERO,
    cash_field,
    quantity_field,
)
from portfolios.models.ledger import JournalEntry
from portfolios.models.securities import Security


class CorporateAction(models.Model):
    """A cash dividend, split or reverse split of a security, as announced by the provider (or
    entered by operations). Processed by `portfolios.services.corporate_actions`.

    Eligibility: the holders at the close of the business day before the ex-date, i.e. the
    shares of every client book's postings effective strictly before `ex_date` (trade-date
    books: a buy on the ex-date is not entitled, a sale on the ex-date still is).

    A split's ratio is exact: `ratio_numerator` new shares for every `ratio_denominator` old
    ones (a 3-for-2 split is 3/2, a 1-for-10 reverse split is 1/10).
    """

    class Kind(models.TextChoices):
        CASH_DIVIDEND = "cash_dividend", "Cash dividend"
        SPLIT = "split", "Split"
        REVERSE_SPLIT = "reverse_split", "Reverse split"

    class Status(models.TextChoices):
        ANNOUNCED = "announced", "Announced"
        ENTITLED = "entitled", "Entitlements recorded (ex-date done)"
        PAID = "paid", "Paid"
        APPLIED = "applied", "Applied"
        CANCELLED = "cancelled", "Cancelled"

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="corporate_actions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ex_date = models.DateField(help_text="The first day the security trades without the dividend or at the new ratio.")
    record_date = models.DateField(null=True, blank=True)
    pay_date = models.DateField(null=True, blank=True, help_text="Cash dividends: the day the cash is paid.")
    amount_per_share = models.DecimalField(
        max_digits=20, decimal_places=PRICE_PLACES, null=True, blank=True, help_text="Cash dividends: per share."
    )
    currency = models.CharField(max_length=3, default="USD")
    ratio_numerator = models.PositiveIntegerField(null=True, blank=True, help_text="Splits: new shares ...")
    ratio_denominator = models.PositiveIntegerField(null=True, blank=True, help_text="... for this many old shares.")
    cash_in_lieu_price = models.DecimalField(
        max_digits=20,
        decimal_places=PRICE_PLACES,
        null=True,
        blank=True,
        help_text="Splits: the price fractional shares are paid at (default: the ex-date close).",
    )
    source = models.CharField(max_length=40, default="manual")
    external_id = models.CharField(max_length=100, blank=True, help_text="The provider's id of the event.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ANNOUNCED)
    processed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-ex_date", "security__symbol", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="portfolios_corpaction_unique_external_id",
            ),
            models.CheckConstraint(
                condition=~Q(kind="cash_dividend")
                | (Q(amount_per_share__gt=0) & Q(pay_date__isnull=False) & Q(pay_date__gte=models.F("ex_date"))),
                name="portfolios_corpaction_dividend_terms",
            ),
            models.CheckConstraint(
                condition=Q(kind="cash_dividend")
                | (
                    Q(ratio_numerator__gt=0)
                    & Q(ratio_denominator__gt=0)
                    & ~Q(ratio_numerator=models.F("ratio_denominator"))
                ),
                name="portfolios_corpaction_split_ratio",
            ),
            models.CheckConstraint(
                condition=Q(cash_in_lieu_price__isnull=True) | Q(cash_in_lieu_price__gt=0),
                name="portfolios_corpaction_cil_price_gt_0",
            ),
        ]
        indexes = [models.Index(fields=["status", "ex_date"], name="portfolios_corpaction_due_idx")]

    def __str__(self) -> str:
        return f"{self.security} {self.describe()} ex {self.ex_date}"

    @property
    def is_dividend(self) -> bool:
        return self.kind == self.Kind.CASH_DIVIDEND

    def describe(self) -> str:
        if self.is_dividend:
            amount = self.amount_per_share.normalize() if self.amount_per_share is not None else "?"
            return f"cash dividend {amount:f} {self.currency}" if amount != "?" else "cash dividend"
        return f"{self.ratio_numerator}-for-{self.ratio_denominator} {self.get_kind_display().lower()}"

    def clean(self) -> None:
        """The terms a kind needs, with errors on the fields (the admin form shows them)."""
        errors: dict[str, str] = {}
        if self.is_dividend:
            if self.amount_per_share is None or self.amount_per_share <= 0:
                errors["amount_per_share"] = "A cash dividend needs a positive amount per share."
            if self.pay_date is None:
                errors["pay_date"] = "A cash dividend needs a pay date."
            elif self.ex_date and self.pay_date < self.ex_date:
                errors["pay_date"] = "The pay date cannot be before the ex-date."
            if self.ratio_numerator or self.ratio_denominator:
                errors["ratio_numerator"] = "A cash dividend has no split ratio."
        elif self.kind in (self.Kind.SPLIT, self.Kind.REVERSE_SPLIT):
            num, den = self.ratio_numerator, self.ratio_denominator
            if not num or num <= 0:
                errors["ratio_numerator"] = "The ratio must be greater than 0: give the new shares (a whole number)."
            if not den or den <= 0:
                errors["ratio_denominator"] = "The ratio must be greater than 0: give the old shares (a whole number)."
            if num and den and num > 0 and den > 0:
                if num == den:
                    errors["ratio_numerator"] = "A 1-for-1 ratio changes nothing."
                elif self.kind == self.Kind.SPLIT and num < den:
                    errors["kind"] = f"{num}-for-{den} gives fewer shares: that is a reverse split."
                elif self.kind == self.Kind.REVERSE_SPLIT and num > den:
                    errors["kind"] = f"{num}-for-{den} gives more shares: that is a split, not a reverse split."
            if self.amount_per_share is not None:
                errors["amount_per_share"] = "A split has no amount per share."
            if self.pay_date and self.ex_date and self.pay_date < self.ex_date:
                errors["pay_date"] = "The pay date cannot be before the ex-date."
        if self.record_date and self.ex_date and self.record_date < self.ex_date - timedelta(days=7):
            errors["record_date"] = "The record date is more than a week before the ex-date."
        if errors:
            raise ValidationError(errors)


class CorporateActionEntitlement(models.Model):
    """What one account gets from one corporate action: recorded on the ex-date from its holding
    at the close of the day before, posted (a dividend's cash) on the pay date."""

    class Status(models.TextChoices):
        ENTITLED = "entitled", "Entitled"
        PAID = "paid", "Paid"
        APPLIED = "applied", "Applied"

    action = models.ForeignKey(CorporateAction, on_delete=models.PROTECT, related_name="entitlements")
    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="corporate_actions")
    quantity = quantity_field(help_text="Shares held at the close of the business day before the ex-date.")
    new_quantity = quantity_field(null=True, blank=True, help_text="Splits: shares held after the split.")
    fraction = quantity_field(default=ZERO, help_text="Splits: the fractional share paid as cash in lieu.")
    amount = cash_field(default=ZERO, help_text="Dividends: the cash the account is paid.")
    cash_in_lieu = cash_field(default=ZERO)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ENTITLED)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reinvest = models.BooleanField(default=False)
    reinvested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["action", "account"]
        constraints = [
            models.UniqueConstraint(fields=["action", "account"], name="portfolios_entitlement_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="portfolios_entitlement_quantity_gt_0"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="portfolios_entitlement_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.action_id} on {self.quantity}"
