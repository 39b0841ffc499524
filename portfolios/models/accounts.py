"""Investment accounts, their owners and beneficiaries."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from portfolios.models.fields import (
    ZERO,
    cash_field,
    weight_field,
)
from portfolios.models.securities import ModelPortfolio

#: An account's rebalancing settings: what the settings page, the API and `account_update`
#: change, and what the engine's snapshot carries. The one list of them.
ACCOUNT_SETTINGS = (
    "drift_threshold",
    "band_mode",
    "relative_band",
    "cash_reserve",
    "min_trade_amount",
    "fractional_shares",
    "rebalance_mode",
    "reinvest_dividends",
    "rebalance_schedule",
    "lot_relief_method",
)


class InvestmentAccount(models.Model):
    """A custodial account of a household, with its model and rebalancing settings."""

    class AccountType(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        JOINT = "joint", "Joint"
        TRADITIONAL_IRA = "traditional_ira", "Traditional IRA"
        ROTH_IRA = "roth_ira", "Roth IRA"
        ROLLOVER_IRA = "rollover_ira", "Rollover IRA"
        SEP_IRA = "sep_ira", "SEP IRA"
        TRUST = "trust", "Trust"
        UTMA = "utma", "UTMA (custodial)"
        UGMA = "ugma", "UGMA (custodial)"
        ENTITY = "entity", "Entity (corporation, LLC, partnership)"
        PLAN_401K = "401k", "401(k)"

    class BandMode(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute (points)"
        RELATIVE = "relative", "Relative (share of target)"

    class RebalanceMode(models.TextChoices):
        APPROVAL = "approval", "Advisor approves"
        AUTOMATIC = "automatic", "Automatic"

    IRA_TYPES = frozenset({"traditional_ira", "roth_ira", "rollover_ira", "sep_ira"})
    #: Accounts whose sales are not taxed when made: every IRA and a 401(k). Household
    #: rebalancing sells there first and puts tax-inefficient classes there first.
    TAX_DEFERRED_TYPES = IRA_TYPES | frozenset({"401k"})
    CUSTODIAL_TYPES = frozenset({"utma", "ugma"})

    class RebalanceSchedule(models.TextChoices):
        THRESHOLD = "threshold", "On drift only"
        MONTHLY = "monthly", "Monthly, and on drift"
        QUARTERLY = "quarterly", "Quarterly, and on drift"

    class LotReliefMethod(models.TextChoices):
        HIFO = "hifo", "Highest cost first"
        TAX_OPTIMISED = "tax_optimised", "Tax-optimised (losses, then long-term gains, then short-term gains)"
        FIFO = "fifo", "First in, first out"

    class Status(models.TextChoices):
        PENDING = "pending", "Opening at the custodian"
        OPEN = "open", "Open"
        RESTRICTED = "restricted", "Restricted"
        CLOSED = "closed", "Closed"

    household = models.ForeignKey("accounts.Household", on_delete=models.PROTECT, related_name="investment_accounts")
    name = models.CharField(max_length=120)
    account_type = models.CharField(max_length=20, choices=AccountType.choices, default=AccountType.INDIVIDUAL)
    custodian_account_number = models.CharField(
        max_length=40,
        unique=True,
        null=True,
        blank=True,
        help_text="Given by the custodian when it opens the account (empty while it is opening).",
    )
    base_currency = models.CharField(max_length=3, default="USD")
    model = models.ForeignKey(ModelPortfolio, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts")
    benchmark = models.ForeignKey(
        "portfolios.Benchmark",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        help_text="Overrides the household's and the model's benchmark.",
    )
    drift_threshold = weight_field(default=Decimal("0.05"), help_text="Absolute band, a fraction of 1.")
    band_mode = models.CharField(max_length=10, choices=BandMode.choices, default=BandMode.ABSOLUTE)
    relative_band = weight_field(default=Decimal("0.25"), help_text="Relative band, a fraction of the target.")
    cash_reserve = weight_field(default=ZERO, help_text="Cash kept aside, a fraction of the account's value.")
    min_trade_amount = cash_field(default=ZERO, help_text="Smallest trade, in the base currency.")
    fractional_shares = models.BooleanField(default=False)
    # db_default: bulk COPYs of accounts (demo.scale, the demo) that name their columns still work.
    reinvest_dividends = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Invest cash dividends through the cash-flow path when they are paid.",
    )
    yearly_gains_budget = cash_field(
        null=True,
        blank=True,
        help_text="The largest net realised gain a calendar year may reach through the platform's tax trades "
        "(harvesting); empty for no limit.",
    )
    rebalance_mode = models.CharField(max_length=10, choices=RebalanceMode.choices, default=RebalanceMode.APPROVAL)
    rebalance_schedule = models.CharField(
        max_length=10,
        choices=RebalanceSchedule.choices,
        default=RebalanceSchedule.THRESHOLD,
        db_default=RebalanceSchedule.THRESHOLD,  # rows written by COPY (bulk books) name no value
        help_text="Calendar rebalancing: on the first business day of each month or quarter the account is "
        "brought to target whatever its drift; between those days (and always) the threshold applies.",
    )
    lot_relief_method = models.CharField(
        max_length=16,
        choices=LotReliefMethod.choices,
        default=LotReliefMethod.HIFO,
        db_default=LotReliefMethod.HIFO,  # rows written by COPY (bulk books) name no value
        help_text="Which tax lots a sale relieves when the order names none (portfolios.engine.lots.relief_order).",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField(default=timezone.localdate)
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["household__name", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(drift_threshold__gt=0, drift_threshold__lte=1), name="portfolios_account_threshold_0_1"
            ),
            models.CheckConstraint(
                condition=Q(relative_band__gt=0, relative_band__lte=1), name="portfolios_account_relative_band_0_1"
            ),
            models.CheckConstraint(
                condition=Q(cash_reserve__gte=0, cash_reserve__lt=1), name="portfolios_account_cash_reserve_0_1"
            ),
            models.CheckConstraint(condition=Q(min_trade_amount__gte=0), name="portfolios_account_min_trade_gte_0"),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="portfolios_account_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.custodian_account_number or 'opening'})"

    @property
    def is_ira(self) -> bool:
        return self.account_type in self.IRA_TYPES

    @property
    def is_tax_deferred(self) -> bool:
        return self.account_type in self.TAX_DEFERRED_TYPES


class AccountOwner(models.Model):
    """An investor who owns (or, for a custodial account, is the custodian or the minor of) an account."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        CUSTODIAN = "custodian", "Custodian"
        MINOR = "minor", "Minor (beneficial owner)"
        TRUSTEE = "trustee", "Trustee"
        SIGNER = "signer", "Authorized signer"

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="owners")
    investor = models.ForeignKey("accounts.Investor", on_delete=models.PROTECT, related_name="account_ownerships")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.OWNER)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "investor"], name="portfolios_owner_unique")]

    def __str__(self) -> str:
        return f"{self.investor_id} {self.role} of {self.account_id}"


class Beneficiary(models.Model):
    """A beneficiary of an IRA (or another account that names them): primary shares sum to 100."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary"
        CONTINGENT = "contingent", "Contingent"

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="beneficiaries")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100)
    share_percent = models.DecimalField(max_digits=5, decimal_places=2)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PRIMARY)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "kind", "id"]
        verbose_name_plural = "beneficiaries"
        constraints = [
            models.CheckConstraint(
                condition=Q(share_percent__gt=0, share_percent__lte=100), name="portfolios_beneficiary_share_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.share_percent}%)"


# --- The ledger --------------------------------------------------------------------------------
