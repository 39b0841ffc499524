"""The scheduled jobs, each a thin composition of other apps' services (operations is the top app).

The nightly chain for a business date is `services.nightly.NIGHTLY`: prices -> corporate actions ->
valuations -> drift scan -> household rebalancing -> settlement -> reconciliation. The other apps'
services are imported and called with their own types (mypy checks each call and what comes back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Exists, OuterRef

from accounts.models import User
from compliance.services import aml_rescreen_all
from operations import alerts
from operations.jobs import ChunkOutcome, Stage, register
from operations.models import FeeCharge, JobRun, ReconciliationBreak
from operations.services.billing import billing_previews_create
from operations.services.fee_collection import fee_charges_release
from operations.services.reconciliation import reconcile_accounts
from portfolios.models import InvestmentAccount, RebalancingGroup
from portfolios.services import (
    corporate_actions_import,
    corporate_actions_process,
    prices_ingest,
    valuation_snapshots_write,
)
from trading.models import CashTransfer, RebalanceProposal
from trading.services import (
    add_business_days,
    group_snapshots,
    household_rebalance_propose,
    proposal_approve,
    proposal_create_for_accounts,
    settlement_run,
    withdrawals_release,
)

logger = logging.getLogger(__name__)

#: The corporate actions imported each night: ex-dates from a week back (a missed night catches
#: up) to a month ahead (announcements arrive before their ex-date).
CORPORATE_ACTIONS_BACK_DAYS = 7
CORPORATE_ACTIONS_AHEAD_DAYS = 31
#: Rebalancing groups whose inputs the household stage reads together (`group_snapshots`).
GROUP_BATCH = 200


def _open_accounts(business_date: date) -> list[int]:
    return list(
        InvestmentAccount.objects.exclude(status=InvestmentAccount.Status.CLOSED)
        .filter(opened_on__lte=business_date)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _open_harvest(account: OuterRef, business_date: date) -> Exists:
    """The account has a tax-loss harvest proposal of the day (the 16:30 scan's) waiting for its
    advisor. An older one is the drift scan's to replace: the harvest scan makes a new one each
    day while the loss lasts, so a stale one never holds the account back."""
    return Exists(
        RebalanceProposal.objects.filter(
            account_id=account,
            status=RebalanceProposal.Status.PROPOSED,
            harvest__isnull=False,
            as_of=business_date,
        )
    )


def _modelled_accounts(business_date: date) -> list[int]:
    """Open accounts with a model, less those raising cash for a withdrawal or a fee (their sale
    proposal is their rebalance in flight, and the raised cash is spoken for), those in an
    active rebalancing group (the group is rebalanced as a whole, `household_rebalancing_step`)
    and those whose harvest proposal of the day waits for the advisor (a new proposal would
    expire it)."""

    return list(
        InvestmentAccount.objects.filter(status=InvestmentAccount.Status.OPEN, model__isnull=False)
        .filter(opened_on__lte=business_date)
        .exclude(transfers__status=CashTransfer.Status.AWAITING_CASH)
        .exclude(fee_charges__status=FeeCharge.Status.AWAITING_CASH)
        .exclude(rebalancing_membership__group__is_active=True)
        .exclude(_open_harvest(OuterRef("pk"), business_date))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _firms(account_ids: Sequence[int]) -> dict[int, int]:
    return dict(InvestmentAccount.objects.filter(pk__in=account_ids).values_list("pk", "household__firm_id"))


R = TypeVar("R")


def per_account(
    fn: Callable[[list[int]], R], account_ids: Sequence[int], outcome: ChunkOutcome, *, label: str
) -> list[R]:
    """Run `fn` on the whole chunk in a savepoint; if it fails, run it account by account so one
    bad account is recorded as failed and the rest are done. Returns the results."""
    try:
        with transaction.atomic():
            result = fn(list(account_ids))
        outcome.add(label, len(account_ids))
        return [result]
    except Exception:
        logger.info("chunk failed as a whole; retrying account by account", exc_info=True)
    firms = _firms(account_ids)
    results: list[R] = []
    for account_id in account_ids:
        try:
            with transaction.atomic():
                results.append(fn([account_id]))
            outcome.add(label)
        except Exception as exc:  # noqa: BLE001 -- recorded per account, the others go on
            outcome.fail(account_id=account_id, firm_id=firms.get(account_id), error=f"{type(exc).__name__}: {exc}")
    return results


# --- Stages ---------------------------------------------------------------------------------


def prices_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    result = prices_ingest(as_of=business_date)
    outcome = ChunkOutcome()
    outcome.add("rows", result.rows)
    outcome.add("inserted", result.inserted)
    outcome.add("changed", result.changed)
    return outcome


def corporate_actions_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    """Import the provider's dividends and splits around the day, then process the day's ex-dates
    and pay dates (before valuations, so the night's values and the drift scan see them). A
    provider that cannot be reached is recorded as an error; actions already known are still
    processed."""
    outcome = ChunkOutcome()
    try:
        imported = corporate_actions_import(
            start=business_date - timedelta(days=CORPORATE_ACTIONS_BACK_DAYS),
            end=business_date + timedelta(days=CORPORATE_ACTIONS_AHEAD_DAYS),
            acting_user=acting_user,
        )
        outcome.add("imported", imported.created)
        for skipped in imported.skipped:
            outcome.errors.append({"account_id": None, "firm_id": None, "error": f"not imported: {skipped}"[:500]})
    except Exception as exc:  # noqa: BLE001 -- the provider's outage must not stop the known actions
        outcome.fail(account_id=None, error=f"corporate actions not imported: {type(exc).__name__}: {exc}")
    result = corporate_actions_process(as_of=business_date, acting_user=acting_user)
    for key, value in result.as_counts().items():
        if key != "failed":
            outcome.add(key, value)
    for error in result.errors:
        outcome.fail(account_id=None, error=f"corporate action not processed: {error}")
    return outcome


def valuations_chunk(*, account_ids: Sequence[int], business_date: date, acting_user: User) -> ChunkOutcome:
    outcome = ChunkOutcome()
    results = per_account(
        lambda ids: valuation_snapshots_write(as_of=business_date, account_ids=ids, acting_user=acting_user),
        account_ids,
        outcome,
        label="accounts",
    )
    outcome.add("written", sum(results))
    return outcome


def drift_scan_chunk(*, account_ids: Sequence[int], business_date: date, acting_user: User) -> ChunkOutcome:
    """Proposals for the chunk in bulk (trading's proposal service runs portfolios' rebalancing
    workflow over it); automatic-mode accounts' needed proposals are approved (orders go out
    through the outbox) when the pre-trade checks let them, otherwise they are left for the
    advisor."""
    outcome = ChunkOutcome()
    proposals = [
        p
        for chunk in per_account(
            lambda ids: proposal_create_for_accounts(
                account_ids=ids, acting_user=acting_user, as_of=business_date, scheduled=True
            ),
            account_ids,
            outcome,
            label="accounts",
        )
        for p in chunk
    ]
    needed = [p for p in proposals if p.needed]
    outcome.add("proposals", len(proposals))
    outcome.add("needed", len(needed))
    _approve_automatic(needed, outcome, acting_user=acting_user)
    return outcome


def _approve_automatic(needed: Sequence[RebalanceProposal], outcome: ChunkOutcome, *, acting_user: User) -> None:
    """Approve the proposals of automatic-mode accounts (orders go out through the outbox) when
    the pre-trade checks let them; a refused one is left for the advisor, with the reason."""
    automatic = set(
        InvestmentAccount.objects.filter(
            pk__in=[p.account_id for p in needed], rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC
        ).values_list("pk", flat=True)
    )
    if automatic:
        for proposal in needed:
            if proposal.account_id not in automatic or proposal.status != RebalanceProposal.Status.PROPOSED:
                continue
            try:
                with transaction.atomic():
                    proposal_approve(proposal=proposal, acting_user=acting_user)
                outcome.add("auto_approved")
            except Exception as exc:  # noqa: BLE001 -- refused by checks: left for the advisor
                outcome.add("left_for_advisor")
                outcome.errors.append(
                    {"account_id": proposal.account_id, "firm_id": None, "error": f"not auto-approved: {exc}"}
                )


def household_rebalancing_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    """Each active rebalancing group brought to its model as a whole
    (`trading.services.household_rebalance_propose`): one proposal per account that trades,
    approved at once for automatic-mode accounts. A group is passed over while one of its
    accounts raises cash for a withdrawal or a fee, or has a harvest proposal waiting (the
    same rules as the drift scan's); each group in its own savepoint, a failing one recorded."""
    outcome = ChunkOutcome()
    busy = InvestmentAccount.objects.filter(rebalancing_membership__group=OuterRef("pk")).filter(
        Exists(CashTransfer.objects.filter(account=OuterRef("pk"), status=CashTransfer.Status.AWAITING_CASH))
        | Exists(FeeCharge.objects.filter(account=OuterRef("pk"), status=FeeCharge.Status.AWAITING_CASH))
        | _open_harvest(OuterRef("pk"), business_date)
    )
    groups = (
        RebalancingGroup.objects.filter(is_active=True, members__account__status=InvestmentAccount.Status.OPEN)
        .annotate(busy=Exists(busy))
        .select_related("model")
        .distinct()
        .order_by("pk")
    )
    ready = []
    for group in groups:
        if group.busy:
            outcome.add("groups_waiting")
        else:
            ready.append(group)
    for start in range(0, len(ready), GROUP_BATCH):
        batch = ready[start : start + GROUP_BATCH]
        try:  # the batch's inputs in a fixed number of queries; a failing read falls back to each group's own
            prepared = group_snapshots(batch, as_of=business_date)
        except Exception:
            logger.warning("household stage: reading a batch of %s groups failed", len(batch), exc_info=True)
            prepared = {}
        for group in batch:
            try:
                with transaction.atomic():
                    made = household_rebalance_propose(
                        group=group, acting_user=acting_user, as_of=business_date, prepared=prepared.get(group.pk)
                    )
            except Exception as exc:  # noqa: BLE001 -- recorded per group, the others go on
                outcome.fail(account_id=None, firm_id=None, error=f"group {group.pk}: {type(exc).__name__}: {exc}")
                continue
            outcome.add("groups")
            outcome.add("proposals", len(made.proposals))
            _approve_automatic(made.proposals, outcome, acting_user=acting_user)
    return outcome


def settlement_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    """Settle the day's trades, then pay out what waited for their cash: withdrawals and fees
    whose sales have settled (`withdrawals_release`, `services.fee_charges_release`), dated the
    next business day — the money leaves then, and tonight's reconciliation compares the books
    with the custodian's statement as of today."""
    settled = settlement_run(as_of=business_date, acting_user=acting_user)
    outcome = ChunkOutcome()
    leaves = add_business_days(business_date, 1)
    released = {
        **withdrawals_release(acting_user=acting_user, effective_date=leaves),
        **fee_charges_release(acting_user=acting_user, effective_date=leaves),
    }
    for key, value in released.items():
        outcome.add(key, value)
    outcome.add("settled", settled)
    return outcome


def reconciliation_chunk(*, account_ids: Sequence[int], business_date: date, acting_user: User) -> ChunkOutcome:
    return reconcile_accounts(account_ids=account_ids, business_date=business_date, acting_user=acting_user)


def reconciliation_after(run: JobRun) -> None:
    breaks = list(
        ReconciliationBreak.objects.filter(
            business_date=run.business_date, status=ReconciliationBreak.Status.OPEN
        ).order_by("account_id", "asset")
    )
    alerts.breaks_found(run.business_date, breaks)


def aml_rescreen_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    outcome = ChunkOutcome()
    for key, value in aml_rescreen_all().items():
        outcome.add(key, value)
    return outcome


def billing_step(*, business_date: date, acting_user: User) -> ChunkOutcome:
    return billing_previews_create(as_of=business_date, acting_user=acting_user)


register(Stage("prices", single=prices_step))
register(Stage("corporate_actions", single=corporate_actions_step))
register(Stage("valuations", accounts=_open_accounts, chunk=valuations_chunk))
register(Stage("drift_scan", accounts=_modelled_accounts, chunk=drift_scan_chunk))
register(Stage("household_rebalancing", single=household_rebalancing_step))
register(Stage("settlement", single=settlement_step))
register(Stage("reconciliation", accounts=_open_accounts, chunk=reconciliation_chunk, after=reconciliation_after))
register(Stage("aml_rescreen", trading_days_only=False, single=aml_rescreen_step))
register(Stage("billing", trading_days_only=False, single=billing_step))
