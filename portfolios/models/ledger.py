"""The double-entry ledger (books, entries, postings), the balances it materialises (positions,
cash), tax lots and valuations."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
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
from portfolios.models.securities import Security


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
    # Wash sales: the replacement shares of a loss sale carry its disallowed loss in their cost
    # (already in cost_per_share; the amount is kept for reports) and its holding period
    # (`held_from`, earlier than `acquired_on`). A match covering part of a lot splits the
    # matched shares into their own lot, which names the lot of the purchase (`split_from`).
    wash_sale_adjustment = cash_field(default=ZERO, db_default=ZERO)
    held_from = models.DateField(null=True, blank=True)
    split_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="wash_sale_splits"
    )

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

    @property
    def purchase_id(self) -> int:
        """The purchase the shares came from (a lot split off by a wash sale keeps its purchase)."""
        return self.split_from_id or self.pk


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
    # The part of a loss disallowed by wash sales (>= 0): the sum of its WashSaleAdjustments.
    wash_sale_disallowed = cash_field(default=ZERO, db_default=ZERO)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-closed_on", "id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="portfolios_closure_quantity_gt_0")]
        indexes = [models.Index(fields=["closed_on"], name="portfolios_closure_date_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} of lot {self.lot_id}: gain {self.gain}"


class WashSaleAdjustment(models.Model):
    """Replacement shares bought within 30 days of a loss sale (`closure`), in any account of the
    household: the loss disallowed is added to `replacement`'s cost and the sold lot's holding
    period (`held_days`) to its holding period. Written once per (closure, replacement)."""

    closure = models.ForeignKey(LotClosure, on_delete=models.PROTECT, related_name="wash_sale_adjustments")
    replacement = models.ForeignKey(TaxLot, on_delete=models.PROTECT, related_name="wash_sale_adjustments")
    quantity = quantity_field()
    disallowed = cash_field()
    held_days = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["closure", "id"]
        constraints = [
            models.UniqueConstraint(fields=["closure", "replacement"], name="portfolios_wash_sale_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="portfolios_wash_sale_quantity_gt_0"),
            models.CheckConstraint(condition=Q(disallowed__gte=0), name="portfolios_wash_sale_disallowed_gte_0"),
        ]

    def __str__(self) -> str:
        return f"wash sale: {self.quantity} of closure {self.closure_id} into lot {self.replacement_id}"


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
