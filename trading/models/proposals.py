"""Rebalance proposals and their trades."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from portfolios.models import cash_field, quantity_field
from trading.drift_documents import DRIFT_DERIVED, derived_drift, join_inputs
from trading.models.common import ZERO, Side, SnapshotJSONField, drift_field, price_field
from trading.packed_trades import unpack


class RebalanceProposal(models.Model):
    """The rebalancing workflow's result for one account: inputs, drift and the proposed trades."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        DISCARDED = "discarded", "Discarded"
        EXPIRED = "expired", "Expired"

    # Indexed by (account, status) below -- the lookups are "this account's proposals" and
    # "its open ones" -- so neither column has an index of its own: two fewer indexes to keep
    # up on every write of the nightly scan, and its expiry UPDATE always finds the account's
    # open proposals through that one index (a status index could lead it to every open
    # proposal of the book, chunk after chunk).
    account = models.ForeignKey(
        "portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="rebalance_proposals", db_index=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    needed = models.BooleanField(help_text="False when every holding is inside its band.")
    as_of = models.DateField()
    # Unique by a constraint rather than `unique=True`, which on PostgreSQL also builds a second,
    # pattern-matching (LIKE) index that no query uses: one index fewer to write a night.
    run_key = models.CharField(
        max_length=80,
        null=True,
        blank=True,
        help_text="Set by the scheduled job (account and date) so a rerun makes no second proposal.",
    )
    # What the engine saw, in one of two forms (`inputs` gives either as one document): the
    # nightly scan's proposals reference it -- the account's part (`inputs_ref`, without the day
    # and the prices) and the prices (`prices_ref`, with the day) as shared `ProposalDocument`s,
    # so the nights that plan from the same holdings store them once -- and the rest keep it
    # inline here (the ORM path, slim records, and proposals made before the references).
    inline_inputs = SnapshotJSONField(
        default=dict, db_column="inputs", help_text="The snapshot the engine saw (decimals as strings), inline."
    )
    inputs_ref = models.ForeignKey(
        "trading.ProposalDocument", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    prices_ref = models.ForeignKey(
        "trading.ProposalDocument", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    drift_before = SnapshotJSONField(default=list)
    drift_after = SnapshotJSONField(default=list)
    max_drift_before = drift_field(default=ZERO)
    max_drift_after = drift_field(null=True, blank=True)
    estimated_cost = cash_field(default=ZERO)
    realised_gain = cash_field(default=ZERO)
    notes = SnapshotJSONField(default=list)
    # The nightly scan's proposals keep their trades here, packed (`trading.packed_trades`): a
    # proposal a night per account out of its bands, about seven trades each, every night its
    # plan moves with the prices. As rows (ProposalTrade) they were half of what a night stored;
    # packed, a tenth. The other proposals (advisors', cash flows', harvests', households') keep
    # rows. `trade_list` reads either.
    packed_trades = models.TextField(blank=True, default="", db_column="trades_packed")
    # The open proposal of the account this one expired when it was written (each night's
    # supersedes the last): the expiry's record. Its '+' history row carries it, so the expired
    # proposal's status move needs no history row of its own -- the same user, time and
    # transaction, named here (a second expired at once, which one row cannot name, gets its
    # '~' row "superseded").
    supersedes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # Nothing looks proposals up by who made or decided them (users are never deleted), so
    # these keys have no index to keep up on the nightly scan's writes.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    # The inputs, drift, notes, trades and figures are written once and never change: the row
    # keeps them; history rows (one per status move) carry what moves -- the status and who
    # decided when -- with the account (the firm scope) and the acting user and time, not a
    # second copy of the rest (what the proposal was is its row). The history keeps the
    # indexes the audit trail reads by (object id, date, acting user, and the
    # account its firm scope joins through), not the model's others: the nightly scan writes a
    # history row per account per night, and each index is one more write for each.
    history = HistoricalRecords(
        excluded_fields=[
            "inline_inputs",
            "inputs_ref",
            "prices_ref",
            "drift_before",
            "drift_after",
            "notes",
            "packed_trades",
            "needed",
            "as_of",
            "run_key",
            "max_drift_before",
            "max_drift_after",
            "estimated_cost",
            "realised_gain",
            "created_by",
            "created_at",
        ],
        no_db_index=["decided_by", "supersedes"],
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status"], name="trading_prop_acct_status")]
        constraints = [models.UniqueConstraint(fields=["run_key"], name="trading_proposal_run_key_unique")]

    def __str__(self) -> str:
        return f"Proposal {self.pk} for account {self.account_id} ({self.status})"

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """The snapshot the engine saw, as one document (`join_inputs` of its references, or
        inline). Select its references with it where many are read (`INPUTS_RELATED`)."""
        account_part, prices = self.inputs_ref, self.prices_ref
        if account_part is not None and prices is not None:
            return join_inputs(account_part.document, prices.document)
        return self.inline_inputs or {}

    @cached_property
    def trade_list(self) -> list[ProposalTrade]:
        """Its trades in order (sells first): unpacked (unsaved ProposalTrade instances, no id)
        when the nightly scan packed them, else its rows (prefetch `trades` where many are read)."""
        if self.packed_trades:
            return unpack(self, ProposalTrade)
        return list(self.trades.all())

    @cached_property
    def drift_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The drift rows before and after its trades: as stored, or derived again from its
        inputs and trades when it keeps only those (`trading.drift_documents`). Reads its
        trades (prefetch them where many are shown)."""
        if (self.inputs or {}).get("drift") == DRIFT_DERIVED:
            return derived_drift(self.inputs, self.trade_list)
        return self.drift_before, self.drift_after

    @property
    def drift_before_rows(self) -> list[dict[str, Any]]:
        return self.drift_rows[0]

    @property
    def drift_after_rows(self) -> list[dict[str, Any]]:
        return self.drift_rows[1]


INPUTS_RELATED = ("inputs_ref", "prices_ref")  # select_related() these to read many proposals' inputs


class ProposalDocument(models.Model):
    """A part of proposals' inputs stored once and referenced (`RebalanceProposal.inputs_ref`,
    `prices_ref`): an account's holdings, cash, targets and settings without the day's prices
    (the same every night until the account trades or its model changes), or a night's prices
    with its date (shared by the accounts holding the same securities). Keyed by the SHA-256 of
    its JSON text, written once and never changed -- no history of its own: the proposals that
    reference it carry the audit trail. Holds no name or identifier of an account or a firm."""

    digest = models.BinaryField(max_length=32, unique=True)
    document = SnapshotJSONField()

    def __str__(self) -> str:
        return f"Proposal document {self.pk}"


class ProposalTrade(models.Model):
    """One proposed trade; approving the proposal turns each into an order."""

    proposal = models.ForeignKey(RebalanceProposal, on_delete=models.CASCADE, related_name="trades")
    security = models.ForeignKey("portfolios.Security", on_delete=models.PROTECT, related_name="+")
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = quantity_field()
    price = price_field()
    estimated_amount = cash_field()
    realised_gain = cash_field(default=ZERO)
    position = models.PositiveSmallIntegerField(default=0, help_text="Sells first, then buys.")

    # About ten trades per proposal a night. Their history starts at their first change (the
    # proposal's '+' row records their writing; `proposal_store`'s docstring). It keeps the audit
    # trail's indexes (see RebalanceProposal.history), the proposal its firm scope joins
    # through, not the security.
    history = HistoricalRecords(no_db_index=["security"])

    class Meta:
        ordering = ["proposal", "position", "id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="trading_proposal_trade_qty_gt_0")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol}"


class HarvestRecord(models.Model):
    """A rebalance proposal made by tax-loss harvesting: its account, the tax year and the loss it
    set out to realise (the realised loss is its sells' executions). Harvested losses per
    account and year are read from here (`trading.selectors.harvested_losses`)."""

    proposal = models.OneToOneField(RebalanceProposal, on_delete=models.PROTECT, related_name="harvest")
    account = models.ForeignKey("portfolios.InvestmentAccount", on_delete=models.PROTECT, related_name="harvests")
    year = models.PositiveSmallIntegerField()
    estimated_loss = cash_field(help_text="The loss the harvest's sells were to realise (positive).")
    substitutes = models.JSONField(default=dict, help_text="Symbol sold -> substitute bought.")
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "year"], name="trading_harvest_acct_year")]

    def __str__(self) -> str:
        return f"Harvest of {self.estimated_loss} for account {self.account_id} ({self.year})"
