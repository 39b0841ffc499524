"""Securities, prices, model portfolios, investment accounts and their double-entry ledger.

Every model that holds client financial data carries `history = HistoricalRecords()`.
Writes go through `portfolios.services` and, for anything that moves cash or securities,
through `portfolios.ledger.post_entry` alone: `Position` and `CashBalance` are materialised
sums of `Posting`s, changed only by the ledger in the same transaction as the postings.

Decimal places, chosen once here:
- prices: 6 places (the adjusted closes in the shared data go down to 0.117203);
- share quantities: 9 places (what custodian APIs accept);
- cash amounts: 2 places;
- weights, thresholds and bands: fractions of 1 with 6 places (0.050000 is 5 points);
- cost per share: 6 places.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from simple_history.models import HistoricalRecords

PRICE_PLACES = 6
QUANTITY_PLACES = 9
CASH_PLACES = 2
WEIGHT_PLACES = 6

ZERO = Decimal(0)
ONE = Decimal(1)


def validate_positive(value: Decimal) -> None:
    if value is not None and value <= 0:
        raise ValidationError("Must be a positive number.", code="not_positive")


def validate_not_future(value) -> None:  # type: ignore[no-untyped-def]
    if value is not None and value > timezone.localdate():
        raise ValidationError("The date cannot be in the future.", code="future_date")


def weight_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=7, decimal_places=WEIGHT_PLACES, **kwargs)


def cash_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=18, decimal_places=CASH_PLACES, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=28, decimal_places=QUANTITY_PLACES, **kwargs)


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

    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="prices")
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


class ModelPortfolio(models.Model):
    """A firm's target allocation; targets plus `cash_target` sum to exactly 1."""

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="model_portfolios")
    name = models.CharField(max_length=120)
    risk_level = models.PositiveSmallIntegerField(help_text="1 (most conservative) to 10 (most aggressive).")
    cash_target = weight_field(default=ZERO, help_text="Target cash weight, a fraction of 1.")
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
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

    class BandMode(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute (points)"
        RELATIVE = "relative", "Relative (share of target)"

    class RebalanceMode(models.TextChoices):
        APPROVAL = "approval", "Advisor approves"
        AUTOMATIC = "automatic", "Automatic"

    IRA_TYPES = frozenset({"traditional_ira", "roth_ira", "rollover_ira", "sep_ira"})
    CUSTODIAL_TYPES = frozenset({"utma", "ugma"})

    class RebalanceSchedule(models.TextChoices):
        THRESHOLD = "threshold", "On drift only"
        MONTHLY = "monthly", "Monthly, and on drift"
        QUARTERLY = "quarterly", "Quarterly, and on drift"

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
    rebalance_mode = models.CharField(max_length=10, choices=RebalanceMode.choices, default=RebalanceMode.APPROVAL)
    rebalance_schedule = models.CharField(
        max_length=10,
        choices=RebalanceSchedule.choices,
        default=RebalanceSchedule.THRESHOLD,
        db_default=RebalanceSchedule.THRESHOLD,  # rows written by COPY (bulk books) name no value
        help_text="Calendar rebalancing: on the first business day of each month or quarter the account is "
        "brought to target whatever its drift; between those days (and always) the threshold applies.",
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


class LedgerBook(models.Model):
    """A book postings are made to: one per client account, plus firm/system books.

    Client books have `account` set; the others (the outside bank, the custodian's
    clearing account, fee income, opening-balance equity, ...) are identified by `code`
    and may belong to a firm.
    """

    class Kind(models.TextChoices):
        CLIENT = "client", "Client account"
        EXTERNAL_BANK = "external_bank", "External bank"
        CUSTODIAN_CLEARING = "custodian_clearing", "Custodian clearing"
        MARKET = "market", "Market (trade counterparty)"
        FEES_INCOME = "fees_income", "Fee income"
        OPENING_EQUITY = "opening_equity", "Opening-balance equity"
        TRANSFERS = "transfers", "Transfers from other firms"
        SUSPENSE = "suspense", "Suspense (adjustments)"
        CORPORATE_ACTIONS = "corporate_actions", "Corporate actions (paying agent)"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    account = models.OneToOneField(
        InvestmentAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="book"
    )
    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, null=True, blank=True, related_name="books")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="client") & Q(account__isnull=False)) | (~Q(kind="client") & Q(account__isnull=True)),
                name="portfolios_book_client_has_account",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_client(self) -> bool:
        return self.kind == self.Kind.CLIENT


class JournalEntry(models.Model):
    """One balanced movement of cash and/or securities: its postings sum to zero per asset.

    Entries are never changed or deleted once posted; a mistake is undone by a reversing
    entry (`reverses`).
    """

    class Kind(models.TextChoices):
        OPENING_BALANCE = "opening_balance", "Opening balance"
        TRANSFER_IN = "transfer_in", "Transfer in"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        TRADE = "trade", "Trade"
        SETTLEMENT = "settlement", "Settlement"
        FEE = "fee", "Fee"
        DIVIDEND = "dividend", "Dividend"
        CORPORATE_ACTION = "corporate_action", "Corporate action (split)"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Reversal"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    memo = models.CharField(max_length=255, blank=True)
    effective_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    reference_type = models.CharField(max_length=40, blank=True, help_text="e.g. trading.order, trading.transfer")
    reference_id = models.CharField(max_length=64, blank=True)
    reverses = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-effective_date", "-id"]
        verbose_name_plural = "journal entries"
        indexes = [
            models.Index(fields=["reference_type", "reference_id"], name="portfolios_entry_reference_idx"),
            models.Index(fields=["effective_date"], name="portfolios_entry_date_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.effective_date}"


class Posting(models.Model):
    """One leg of a journal entry: `quantity` of an asset added to (+) or taken from (-) a book.

    The asset is a security (`security` set; quantity in shares, up to 9 places) or cash
    (`security` null; quantity is the amount in `currency`, at most 2 places).
    """

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    book = models.ForeignKey(LedgerBook, on_delete=models.PROTECT, related_name="postings")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, null=True, blank=True, related_name="postings")
    currency = models.CharField(max_length=3, default="USD")
    quantity = quantity_field()
    price = models.DecimalField(
        max_digits=20, decimal_places=PRICE_PLACES, null=True, blank=True, help_text="Trade price, informational."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["entry", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="portfolios_posting_quantity_not_zero"),
        ]
        indexes = [models.Index(fields=["book", "security"], name="portfolios_posting_book_asset")]

    def __str__(self) -> str:
        return f"{self.book_id} {self.security_id or self.currency} {self.quantity}"


class Position(models.Model):
    """An account's holding of a security: the sum of its postings (materialised by the ledger)."""

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="positions")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="positions")
    quantity = quantity_field(default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "security__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["account", "security"], name="portfolios_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.security_id} {self.quantity}"


class CashBalance(models.Model):
    """An account's cash in a currency: the sum of its cash postings (materialised by the ledger)."""

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="cash_balances")
    currency = models.CharField(max_length=3, default="USD")
    amount = cash_field(default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["account", "currency"], name="portfolios_cash_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.currency} {self.amount}"


class TaxLot(models.Model):
    """Shares bought (or transferred in) together at one cost; `quantity` is what remains open."""

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="lots")
    security = models.ForeignKey(Security, on_delete=models.PROTECT, related_name="lots")
    quantity = quantity_field()
    original_quantity = quantity_field()
    cost_per_share = models.DecimalField(max_digits=20, decimal_places=6)
    acquired_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="lots")

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "security", "acquired_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="portfolios_lot_quantity_gte_0"),
            models.CheckConstraint(condition=Q(original_quantity__gt=0), name="portfolios_lot_original_gt_0"),
            models.CheckConstraint(
                condition=Q(quantity__lte=models.F("original_quantity")), name="portfolios_lot_quantity_lte_original"
            ),
            models.CheckConstraint(condition=Q(cost_per_share__gte=0), name="portfolios_lot_cost_gte_0"),
        ]
        indexes = [models.Index(fields=["account", "security", "closed_on"], name="portfolios_lot_open_idx")]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.quantity} {self.security_id} @ {self.cost_per_share}"


class LotClosure(models.Model):
    """Shares of a lot sold (or transferred out), with the gain realised."""

    lot = models.ForeignKey(TaxLot, on_delete=models.PROTECT, related_name="closures")
    quantity = quantity_field()
    proceeds = cash_field()
    cost = cash_field()
    gain = cash_field()
    closed_on = models.DateField()
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="lot_closures"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-closed_on", "id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="portfolios_closure_quantity_gt_0")]
        indexes = [models.Index(fields=["closed_on"], name="portfolios_closure_date_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} of lot {self.lot_id}: gain {self.gain}"


class ValuationSnapshot(models.Model):
    """An account's value at a day's close, for performance: market value + cash, and the day's flows."""

    account = models.ForeignKey(InvestmentAccount, on_delete=models.PROTECT, related_name="valuations")
    date = models.DateField()
    market_value = cash_field(help_text="Securities at the day's close.")
    cash = cash_field()
    net_external_flow = cash_field(default=ZERO, help_text="Deposits (+) and withdrawals (-) that day.")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account", "date"]
        constraints = [models.UniqueConstraint(fields=["account", "date"], name="portfolios_valuation_unique_per_day")]
        indexes = [models.Index(fields=["date"], name="portfolios_valuation_date_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.date} {self.total_value}"

    @property
    def total_value(self) -> Decimal:
        return self.market_value + self.cash


# --- Corporate actions -------------------------------------------------------------------------


class CorporateAction(models.Model):
    """A cash dividend, split or reverse split of a security, as announced by the provider (or
    entered by operations). Processed by `portfolios.corporate_actions`.

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
