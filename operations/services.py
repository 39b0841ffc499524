"""Writes of operations: reconciliation breaks and their resolution, fee schedules and billing,
and queueing the nightly job by hand.

Every service validates first, runs in one transaction, records the acting user on the
history rows and raises `OperationsError` with a readable message. Money moves only through
`portfolios.ledger.post_entry` (an adjustment for a resolved break, a fee for a bill).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.events import EventSpec, events_emit_bulk
from accounts.models import Firm, Household
from kronos.api.fields import money_dict
from kronos.history import save_attributed
from operations import fees
from operations.errors import OperationsError
from operations.jobs import ChunkOutcome
from operations.models import BillingRun, FeeAssignment, FeeCharge, FeeSchedule, FeeTier, ReconciliationBreak
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger import EntrySpec, PostingSpec, bulk
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, Posting, Security, ValuationSnapshot

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CASH_PREFIX = "CASH:"
APPROVE_BATCH = 5000  # fee entries per ledger.post_entries_bulk call


# --- Reconciliation ---------------------------------------------------------------------------


def book_holdings_as_of(*, account_ids: Sequence[int], as_of: date) -> dict[int, dict[str, Decimal]]:
    """Our books per account as of a day's end: {asset: quantity}, assets are symbols or CASH:<ccy>.

    One query for any number of accounts: the sums of client-book postings effective on or
    before `as_of` (the materialised balances are today's; a statement is as of a date).
    """
    holdings: dict[int, dict[str, Decimal]] = {a: {} for a in account_ids}
    rows = (
        Posting.objects.filter(
            book__kind=LedgerBook.Kind.CLIENT, book__account_id__in=account_ids, entry__effective_date__lte=as_of
        )
        .values_list("book__account_id", "security__symbol", "currency")
        .annotate(total=Sum("quantity"))
        .order_by()
    )
    for account_id, symbol, currency, total in rows:
        if total:
            holdings[account_id][symbol or f"{CASH_PREFIX}{currency}"] = total
    return holdings


def _statement_holdings(statement: Any, currency: str) -> dict[str, Decimal]:
    theirs = {symbol.upper(): Decimal(q) for symbol, q in statement.positions.items() if Decimal(q) != 0}
    if Decimal(statement.cash) != 0:
        theirs[f"{CASH_PREFIX}{currency}"] = Decimal(statement.cash)
    return theirs


def reconcile_accounts(
    *, account_ids: Sequence[int], business_date: date, acting_user: Any, custodian: Any = None
) -> ChunkOutcome:
    """Compare our books with the custodian's statement for each account as of `business_date`;
    record every difference as an open `ReconciliationBreak` (once per account, day and asset).

    The statements come in one positions-and-balances file for the chunk when the custodian
    offers one (`statements`); an account the file leaves out, or every account when the file
    cannot be had, is asked for on its own. A custodian error for one account is recorded
    against it; the others go on.
    """
    from trading.adapters.custodian import CustodianError, get_custodian

    custodian = custodian or get_custodian()
    outcome = ChunkOutcome()
    accounts = list(InvestmentAccount.objects.filter(pk__in=account_ids).select_related("household").order_by("pk"))
    statements: dict[str, Any] = {}
    many = getattr(custodian, "statements", None)
    if many is not None and accounts:
        try:
            statements = many(
                [a.custodian_account_number for a in accounts if a.custodian_account_number], business_date
            )
        except CustodianError as exc:
            logger.info("statements file not available; asking account by account: %s", exc)
    ours_by_account = book_holdings_as_of(account_ids=[a.pk for a in accounts], as_of=business_date)
    existing = set(
        ReconciliationBreak.objects.filter(account_id__in=account_ids, business_date=business_date).values_list(
            "account_id", "asset"
        )
    )
    securities = dict(Security.objects.values_list("symbol", "pk"))
    new: list[ReconciliationBreak] = []
    ready: list[EventSpec] = []
    for account in accounts:
        try:
            statement = statements.get(account.custodian_account_number or "") or custodian.statement(
                account.custodian_account_number, business_date
            )
        except CustodianError as exc:
            outcome.fail(account_id=account.pk, firm_id=account.household.firm_id, error=str(exc))
            continue
        ours = ours_by_account.get(account.pk, {})
        theirs = _statement_holdings(statement, account.base_currency)
        outcome.add("accounts")
        account_breaks = 0
        for asset in sorted(set(ours) | set(theirs)):
            our_qty, their_qty = ours.get(asset, ZERO), theirs.get(asset, ZERO)
            if our_qty == their_qty or (account.pk, asset) in existing:
                continue
            is_cash = asset.startswith(CASH_PREFIX)
            new.append(
                ReconciliationBreak(
                    account=account,
                    business_date=business_date,
                    asset=asset,
                    security_id=None if is_cash else securities.get(asset),
                    currency=asset[len(CASH_PREFIX) :] if is_cash else account.base_currency,
                    ours=our_qty,
                    theirs=their_qty,
                    difference=their_qty - our_qty,
                )
            )
            account_breaks += 1
        outcome.add("clean" if not account_breaks else "with_breaks")
        ready.append(
            EventSpec(
                kind="statement.ready",
                firm_id=account.household.firm_id,
                household_id=account.household_id,
                account_id=account.pk,
                subject_type="account",
                subject_id=account.pk,
                payload={"account": account.pk, "business_date": business_date, "breaks": account_breaks},
            )
        )
    events_emit_bulk(ready)
    if new:
        bulk_create_with_history(
            new, ReconciliationBreak, default_user=acting_user, default_change_reason="reconciliation"
        )
    outcome.add("breaks", len(new))
    return outcome


@transaction.atomic
def break_resolve(*, brk: ReconciliationBreak, note: str, acting_user: Any, adjust: bool = True) -> ReconciliationBreak:
    """Resolve a break with a note. With `adjust`, our books are brought to the custodian's figure
    by ONE adjustment journal entry against the firm's suspense book (idempotent per break);
    without it (e.g. the custodian was wrong), only the note is recorded.

    Refuses an empty note, a break already resolved, and an adjustment the ledger refuses.
    """
    note = (note or "").strip()
    if not note:
        raise OperationsError("Say how the break was resolved.", field="note")
    brk = (
        ReconciliationBreak.objects.select_for_update(of=("self",))
        .select_related("account__household", "security")
        .get(pk=brk.pk)
    )
    if brk.status == ReconciliationBreak.Status.RESOLVED:
        raise OperationsError("This break is already resolved.")
    entry: JournalEntry | None = None
    if adjust and brk.difference != 0:
        account = brk.account
        client = ledger.client_book(account)
        suspense = ledger.system_book(LedgerBook.Kind.SUSPENSE, firm=account.household.firm)
        diff = brk.difference
        if brk.security is not None:
            postings = [
                PostingSpec.shares(client, brk.security, diff),
                PostingSpec.shares(suspense, brk.security, -diff),
            ]
        else:
            postings = [PostingSpec.cash(client, diff, brk.currency), PostingSpec.cash(suspense, -diff, brk.currency)]
        try:
            entry = ledger.post_entry(
                kind=JournalEntry.Kind.ADJUSTMENT,
                postings=postings,
                effective_date=brk.business_date,
                acting_user=acting_user,
                memo=f"Reconciliation adjustment: {brk.asset} {note}"[:255],
                idempotency_key=f"recon-break:{brk.pk}",
                reference_type="operations.reconciliationbreak",
                reference_id=brk.pk,
            )
        except PortfoliosError as exc:
            raise OperationsError(f"The adjustment was refused: {exc.message}") from exc
    brk.status = ReconciliationBreak.Status.RESOLVED
    brk.note = note
    brk.resolved_by = acting_user
    brk.resolved_at = timezone.now()
    brk.adjustment_entry = entry
    return save_attributed(brk, acting_user=acting_user, reason="break resolved")


# --- Fee schedules ----------------------------------------------------------------------------


@transaction.atomic
def fee_schedule_create(
    *,
    firm: Firm,
    name: str,
    acting_user: Any,
    method: str = FeeSchedule.Method.FLAT,
    flat_bps: Decimal = ZERO,
    tiers: Iterable[tuple[Decimal | None, Decimal]] = (),
    basis: str = FeeSchedule.Basis.AVERAGE_DAILY_BALANCE,
) -> FeeSchedule:
    """A flat or marginal-tiered schedule. Tiers are (cumulative upper bound or None, bps a year),
    strictly increasing bounds, exactly one unbounded top tier; rates are 0 to 10,000 bps."""
    tier_list = [(None if up is None else Decimal(up), Decimal(bps)) for up, bps in tiers]
    if method == FeeSchedule.Method.TIERED:
        if not tier_list:
            raise OperationsError("A tiered schedule needs tiers.", field="tiers")
        bounds = [up for up, _ in tier_list if up is not None]
        if sum(1 for up, _ in tier_list if up is None) != 1 or tier_list[-1][0] is not None:
            raise OperationsError("The last tier, and only it, must have no upper bound.", field="tiers")
        if bounds != sorted(set(bounds)) or any(b <= 0 for b in bounds):
            raise OperationsError("Tier bounds must be positive and increase.", field="tiers")
    rates = [bps for _, bps in tier_list] + [Decimal(flat_bps)]
    if any(r < 0 or r > 10000 for r in rates):
        raise OperationsError("A rate must be between 0 and 10,000 basis points.", field="flat_bps")
    schedule = FeeSchedule(firm=firm, name=name.strip(), method=method, flat_bps=Decimal(flat_bps), basis=basis)
    try:
        save_attributed(schedule, acting_user=acting_user, reason="fee schedule created")
    except ValidationError as exc:
        raise OperationsError.from_validation(exc) from exc
    if method == FeeSchedule.Method.TIERED:
        bulk_create_with_history(
            [FeeTier(schedule=schedule, up_to=up, bps=bps) for up, bps in tier_list],
            FeeTier,
            default_user=acting_user,
            default_change_reason="fee schedule created",
        )
    return schedule


@transaction.atomic
def fee_schedule_assign(*, household: Household, schedule: FeeSchedule, acting_user: Any) -> FeeAssignment:
    if schedule.firm_id != household.firm_id:
        raise OperationsError("The fee schedule belongs to another firm.", field="schedule")
    assignment = FeeAssignment.objects.select_for_update().filter(household=household).first()
    if assignment is None:
        assignment = FeeAssignment(household=household, schedule=schedule)
    assignment.schedule = schedule
    return save_attributed(assignment, acting_user=acting_user, reason="fee schedule assigned")


def schedule_tiers(schedule: FeeSchedule) -> list[fees.Tier]:
    if schedule.method == FeeSchedule.Method.FLAT:
        return [fees.Tier(up_to=None, bps=schedule.flat_bps)]
    return [fees.Tier(up_to=t.up_to, bps=t.bps) for t in schedule.tiers.all()]


# --- Billing ----------------------------------------------------------------------------------

BILLING_CHUNK = 2000


def _values_by_account(account_ids: Sequence[int], first: date, last: date) -> dict[int, dict[date, Decimal]]:
    """Valuations (market value + cash) in [first, last] per account, in one query."""
    values: dict[int, dict[date, Decimal]] = defaultdict(dict)
    for account_id, day, mv, cash in (
        ValuationSnapshot.objects.filter(account_id__in=account_ids, date__gte=first, date__lte=last)
        .values_list("account_id", "date", "market_value", "cash")
        .order_by()
    ):
        values[account_id][day] = mv + cash
    return values


def fee_for_account(
    *,
    schedule: FeeSchedule,
    tiers: Sequence[fees.Tier],
    period_start: date,
    period_end: date,
    opened_on: date,
    closed_on: date | None,
    values: dict[date, Decimal],
    opening: Decimal,
) -> tuple[fees.FeeCalc, date, date]:
    first, last, days = fees.billed_days(period_start, period_end, opened_on, closed_on)
    if not days:
        basis = ZERO
    elif schedule.basis == FeeSchedule.Basis.PERIOD_END:
        upto = [d for d in values if d <= last]
        basis = values[max(upto)] if upto else opening
    else:
        opening_value = opening
        earlier = [d for d in values if d < first]
        if earlier:
            opening_value = values[max(earlier)]
        basis = fees.average_daily_balance(values, first, last, opening=opening_value)
    calc = fees.quarterly_fee(
        tiers=tiers, basis=basis, period_start=period_start, period_end=period_end, days_billed=days
    )
    return calc, first, last


def billing_run_preview(*, firm: Firm, period_start: date, acting_user: Any) -> BillingRun:
    """Compute (or recompute, while still a draft) the quarter's fee for every account of the firm
    whose household has a fee schedule and that was open in the quarter.

    Refuses a quarter that has not ended and one already approved. Accounts already charged for
    the quarter (by any run) are never charged again: FeeCharge is unique per account and quarter.
    """
    q_start, q_end = fees.quarter_of(period_start)
    if q_start != period_start:
        raise OperationsError("A billing period starts on the first day of a quarter.", field="period_start")
    if q_end >= timezone.localdate():
        raise OperationsError("Fees are billed in arrears: this quarter has not ended yet.", field="period_start")
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().filter(firm=firm, period_start=q_start).first()
        if run is not None and run.status == BillingRun.Status.APPROVED:
            raise OperationsError("This quarter has already been billed.", field="period_start")
        if run is None:
            try:
                with transaction.atomic():
                    run = save_attributed(
                        BillingRun(firm=firm, period_start=q_start, period_end=q_end, created_by=acting_user),
                        acting_user=acting_user,
                        reason="billing preview",
                    )
            except IntegrityError as exc:
                raise OperationsError("A billing run for this quarter is being created.") from exc
        assignments = {
            a.household_id: a.schedule
            for a in FeeAssignment.objects.filter(household__firm=firm, schedule__is_active=True)
            .select_related("schedule")
            .prefetch_related("schedule__tiers")
        }
        tiers_by_schedule = {s.pk: schedule_tiers(s) for s in assignments.values()}
        accounts = list(
            InvestmentAccount.objects.filter(household_id__in=list(assignments), opened_on__lte=q_end)
            .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=q_start))
            .order_by("pk")
            .values_list("pk", "household_id", "opened_on", "closed_on", "base_currency")
        )
        existing = {
            c.account_id: c
            for c in FeeCharge.objects.filter(period_start=q_start, account_id__in=[a[0] for a in accounts])
        }
        new: list[FeeCharge] = []
        changed: list[FeeCharge] = []
        for i in range(0, len(accounts), BILLING_CHUNK):
            chunk = accounts[i : i + BILLING_CHUNK]
            # Ten days before the quarter give the value carried into its first (weekend/holiday) days.
            values = _values_by_account([a[0] for a in chunk], q_start - timedelta(days=10), q_end)
            for account_id, household_id, opened_on, closed_on, currency in chunk:
                charge = existing.get(account_id)
                if charge is not None and (
                    charge.status != FeeCharge.Status.PREVIEW or charge.billing_run_id != run.pk
                ):
                    continue  # billed already (or by another run): never twice
                schedule = assignments[household_id]
                calc, first, last = fee_for_account(
                    schedule=schedule,
                    tiers=tiers_by_schedule[schedule.pk],
                    period_start=q_start,
                    period_end=q_end,
                    opened_on=opened_on,
                    closed_on=closed_on,
                    values=values.get(account_id, {}),
                    opening=ZERO,
                )
                fields = {
                    "schedule": schedule,
                    "basis_kind": schedule.basis,
                    "basis_amount": fees.round_fee(calc.basis),
                    "annual_fee": calc.annual_fee.quantize(Decimal("0.00000001")),
                    "effective_bps": calc.effective_bps,
                    "days_billed": calc.days_billed,
                    "days_in_period": calc.days_in_period,
                    "days_in_year": calc.days_in_year,
                    "amount": calc.amount,
                    "currency": currency,
                    "calculation": {
                        "first_day": first.isoformat(),
                        "last_day": last.isoformat(),
                        "basis": str(calc.basis),
                        "slices": list(calc.slices),
                        "formula": f"{calc.annual_fee} x {calc.days_billed} / {calc.days_in_year}",
                    },
                }
                if charge is None:
                    new.append(FeeCharge(billing_run=run, account_id=account_id, period_start=q_start, **fields))
                else:
                    for key, value in fields.items():
                        setattr(charge, key, value)
                    changed.append(charge)
        bulk.create_with_history(new, FeeCharge, acting_user=acting_user, reason="billing preview")
        if changed:
            ledger.bulk_update_rows_with_history(
                FeeCharge,
                changed,
                [
                    "schedule",
                    "basis_kind",
                    "basis_amount",
                    "annual_fee",
                    "effective_bps",
                    "days_billed",
                    "days_in_period",
                    "days_in_year",
                    "amount",
                    "currency",
                    "calculation",
                ],
                acting_user=acting_user,
                reason="billing preview",
            )
        totals = run.charges.aggregate(total=Sum("amount"))
        run.total = totals["total"] or ZERO
        run.charge_count = run.charges.count()
        return save_attributed(run, acting_user=acting_user, reason="billing preview", validate=False)


def billing_run_approve(*, run: BillingRun, acting_user: Any, effective_date: date | None = None) -> BillingRun:
    """Debit each previewed fee: one journal entry per charge, cash from the client's account to
    the firm's fee-income book, idempotent per charge, posted in bulk (ledger.post_entries_bulk,
    APPROVE_BATCH entries a call, all in this one transaction). A charge the ledger refuses (not
    enough cash: a fully invested account) has its cash raised by a sell proposal, approved at once
    (`trading.services.proposal_to_raise_cash`), and waits as `awaiting_cash` until
    `fee_charges_release` debits it; one whose cash cannot be raised is marked not debited with
    the reason. The others go on. Approving twice debits nothing twice."""
    effective_date = effective_date or timezone.localdate()
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().select_related("firm").get(pk=run.pk)
        if run.status == BillingRun.Status.APPROVED:
            raise OperationsError("This billing run is already approved.")
        income = ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=run.firm)
        charges = list(
            run.charges.filter(status=FeeCharge.Status.PREVIEW).select_related("account").order_by("account_id")
        )
        books = ledger.client_books([c.account for c in charges])
        done: list[FeeCharge] = [c for c in charges if c.amount <= 0]
        for charge in done:
            charge.status = FeeCharge.Status.DEBITED
        billable = [c for c in charges if c.amount > 0]
        for start in range(0, len(billable), APPROVE_BATCH):
            batch = billable[start : start + APPROVE_BATCH]
            posted = ledger.post_entries_bulk(
                [
                    EntrySpec(
                        kind=JournalEntry.Kind.FEE,
                        postings=[
                            PostingSpec.cash(books[charge.account_id], -charge.amount, charge.currency),
                            PostingSpec.cash(income, charge.amount, charge.currency),
                        ],
                        effective_date=effective_date,
                        memo=f"Advisory fee {run.period_label}",
                        idempotency_key=f"fee:{charge.account_id}:{charge.period_start.isoformat()}",
                        reference_type="operations.feecharge",
                        reference_id=charge.pk,
                    )
                    for charge in batch
                ],
                acting_user=acting_user,
                skip_refused=True,  # not enough cash: that charge fails with the reason, the others go on
            )
            for charge, outcome in zip(batch, posted, strict=True):
                if outcome.entry is not None:
                    charge.entry = outcome.entry
                    charge.status = FeeCharge.Status.DEBITED
                else:
                    _fee_raise_cash(charge, refused=outcome.error, acting_user=acting_user)
                done.append(charge)
        if done:
            ledger.bulk_update_rows_with_history(
                FeeCharge,
                done,
                ["status", "error", "entry", "proposal"],
                acting_user=acting_user,
                reason="billing approved",
            )
            events_emit_bulk([_fee_event(charge, run) for charge in done if charge.amount > 0])
        run.status = BillingRun.Status.APPROVED
        run.approved_by = acting_user
        run.approved_at = timezone.now()
        run.total = run.charges.filter(status=FeeCharge.Status.DEBITED).aggregate(total=Sum("amount"))["total"] or ZERO
        return save_attributed(run, acting_user=acting_user, reason="billing approved", validate=False)


def _fee_raise_cash(charge: FeeCharge, *, refused: str, acting_user: Any) -> None:
    """A fee the account's cash does not cover: sell to raise it (in a savepoint, so a raise that
    cannot be made writes nothing), or mark the charge not debited with both reasons."""
    from trading.errors import TradingError
    from trading.services import proposal_to_raise_cash
    from trading.services.common import lock_account

    try:
        with transaction.atomic():
            account = lock_account(charge.account)
            charge.proposal = proposal_to_raise_cash(
                account=account, amount=charge.amount, acting_user=acting_user, approve=True
            )
    except TradingError as exc:
        charge.proposal = None
        charge.status = FeeCharge.Status.FAILED
        charge.error = f"{refused} {exc.message}"[:255]
        return
    charge.status = FeeCharge.Status.AWAITING_CASH
    charge.error = f"Not enough cash: selling to raise it (proposal {charge.proposal.pk})."[:255]


def fee_charges_release(
    *, acting_user: Any, account_ids: Sequence[int] | None = None, effective_date: date | None = None
) -> dict[str, int]:
    """Debit the fees awaiting cash whose sales have brought it (the nightly settlement step runs
    this after settling the day's trades): under each account's lock, a fee the withdrawable cash
    covers is posted with the entry key it would have had at approval (so never twice), dated
    `effective_date` (today unless given; the settlement step gives the next business day, as for
    withdrawals), and its run's total updated; one whose sales are over without raising enough is marked not debited with the
    reason. Idempotent: a debited or failed charge no longer waits."""
    from trading.services.common import lock_account, withdrawable_cash
    from trading.services.proposals import cash_raise_shortfall

    waiting = FeeCharge.objects.filter(status=FeeCharge.Status.AWAITING_CASH)
    if account_ids is not None:
        waiting = waiting.filter(account_id__in=account_ids)
    counts = {"fees_debited": 0, "fees_failed": 0}
    for charge_id, account_id in list(waiting.order_by("account_id", "id").values_list("id", "account_id")):
        with transaction.atomic():
            account = lock_account(InvestmentAccount(pk=account_id))
            charge = (
                FeeCharge.objects.select_for_update(of=("self",))
                .select_related("billing_run", "proposal__account", "account")
                .get(pk=charge_id)
            )
            if charge.status != FeeCharge.Status.AWAITING_CASH:
                continue
            available = withdrawable_cash(account)
            if charge.amount <= available:
                run = charge.billing_run
                charge.entry = ledger.post_entry(
                    kind=JournalEntry.Kind.FEE,
                    postings=[
                        PostingSpec.cash(ledger.client_book(account), -charge.amount, charge.currency),
                        PostingSpec.cash(
                            ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=run.firm_id),
                            charge.amount,
                            charge.currency,
                        ),
                    ],
                    effective_date=effective_date or timezone.localdate(),
                    memo=f"Advisory fee {run.period_label}",
                    acting_user=acting_user,
                    idempotency_key=f"fee:{charge.account_id}:{charge.period_start.isoformat()}",
                    reference_type="operations.feecharge",
                    reference_id=charge.pk,
                )
                charge.status = FeeCharge.Status.DEBITED
                charge.error = ""
                counts["fees_debited"] += 1
            else:
                reason = cash_raise_shortfall(proposal=charge.proposal, amount=charge.amount, available=available)  # type: ignore[arg-type]
                if reason is None:
                    continue
                charge.status = FeeCharge.Status.FAILED
                charge.error = reason[:255]
                counts["fees_failed"] += 1
            save_attributed(charge, acting_user=acting_user, reason="fee cash raised", validate=False)
            run = BillingRun.objects.select_for_update().get(pk=charge.billing_run_id)
            run.total = (
                run.charges.filter(status=FeeCharge.Status.DEBITED).aggregate(total=Sum("amount"))["total"] or ZERO
            )
            save_attributed(run, acting_user=acting_user, reason="fee cash raised", validate=False)
            events_emit_bulk([_fee_event(charge, run)])
    return counts


def _fee_event(charge: FeeCharge, run: BillingRun) -> EventSpec:
    return EventSpec(
        kind="fee.charged",
        firm_id=run.firm_id,
        household_id=charge.account.household_id,
        account_id=charge.account_id,
        subject_type="fee_charge",
        subject_id=charge.pk,
        payload={
            "fee_charge": charge.pk,
            "account": charge.account_id,
            "billing_run": run.pk,
            "period_start": charge.period_start,
            "amount": money_dict(charge.amount, charge.currency),
            "status": charge.status,
            "error": charge.error,
        },
    )


def billing_previews_create(*, as_of: date, acting_user: Any) -> ChunkOutcome:
    """The quarterly job: a draft billing run of the previous quarter for every firm with schedules."""
    start, _ = fees.previous_quarter(as_of)
    outcome = ChunkOutcome()
    for firm in Firm.objects.filter(fee_schedules__assignments__isnull=False).distinct().order_by("pk"):
        try:
            with transaction.atomic():
                run = billing_run_preview(firm=firm, period_start=start, acting_user=acting_user)
            outcome.add("runs")
            outcome.add("charges", run.charge_count)
        except OperationsError:
            outcome.add("skipped")  # already billed: nothing to do
    return outcome


# --- Running the nightly job by hand -----------------------------------------------------------

RUN_NOW_HOLD_SECONDS = 600


@dataclass(frozen=True)
class RunNowResult:
    """What "Run now" did: `queued` is True only for the click that queued the job."""

    queued: bool
    business_date: date
    message: str


def nightly_run_now(*, acting_user: Any, business_date: date | None = None) -> RunNowResult:
    """Queue the nightly chain (prices -> ... -> reconciliation) for the firm's business date now,
    as beat would at 17:30, for operations staff who cannot wait for the schedule.

    Idempotent: when the day's chain has started (its first stage has a run, running or
    finished) nothing is queued; a click while an earlier click's task waits for a worker is
    refused by a short hold in the shared cache (an atomic add). Past the hold, a second task
    would still do nothing twice: each stage runs once per business date (`jobs.start_job`).
    The web process only queues; the worker does the work."""
    from operations import tasks
    from operations.jobs import _queue_options
    from operations.models import JobRun
    from operations.stages import NIGHTLY

    day = business_date or timezone.localdate()
    first = JobRun.objects.filter(job=NIGHTLY[0], business_date=day).first()
    if first is not None:
        state = "is running" if not first.is_finished else f"ran ({first.get_status_display().lower()})"
        return RunNowResult(False, day, f"The nightly job for {day:%Y-%m-%d} already {state}; nothing was queued.")
    hold = f"operations:run-now:nightly:{day.isoformat()}"
    if not cache.add(hold, str(getattr(acting_user, "pk", "")), RUN_NOW_HOLD_SECONDS):
        return RunNowResult(
            False, day, f"The nightly job for {day:%Y-%m-%d} is already queued; nothing more was queued."
        )
    options = _queue_options()
    transaction.on_commit(lambda: tasks.nightly.apply_async((day.isoformat(),), **options))
    logger.info(
        "nightly job queued by hand",
        extra={"business_date": day.isoformat(), "acting_user": getattr(acting_user, "email", "")},
    )
    return RunNowResult(
        True, day, f"The nightly job for {day:%Y-%m-%d} is queued; its runs appear below as they start."
    )
