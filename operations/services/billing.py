"""Quarterly billing: the draft run of every account's fee (preview), then its approval, which
debits each fee through `portfolios.ledger` (or sells to raise the cash, see fee_collection).

Every service validates first, runs in one transaction, records the acting user on the history
rows and raises `OperationsError` with a readable message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Firm, User
from accounts.services import EventSpec, events_emit_bulk
from kronos import bulk
from kronos.api.fields import money_dict
from kronos.history import save_attributed
from operations.engine import fees
from operations.errors import OperationsError
from operations.jobs import ChunkOutcome
from operations.models import (
    AccountBilling,
    BillingRun,
    BillingSettings,
    FeeAssignment,
    FeeCharge,
    FeeSchedule,
)
from operations.services.fee_schedules import schedule_tiers
from portfolios import ledger
from portfolios.ledger import EntrySpec, PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, Posting, Price, ValuationSnapshot
from trading.errors import TradingError
from trading.services import lock_account, proposal_to_raise_cash

ZERO = Decimal(0)
APPROVE_BATCH = 5000  # fee entries per ledger.post_entries_bulk call
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


def _withdrawals_by_account(
    account_ids: Sequence[int], first: date, last: date
) -> dict[int, list[tuple[date, Decimal]]]:
    """Days in [first, last] whose net external flow was out of the account (one query)."""
    out: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    for account_id, day, flow in (
        ValuationSnapshot.objects.filter(
            account_id__in=account_ids, date__gte=first, date__lte=last, net_external_flow__lt=0
        )
        .values_list("account_id", "date", "net_external_flow")
        .order_by("account_id", "date")
    ):
        out[account_id].append((day, flow))
    return out


def _excluded_values(
    excluded: dict[int, set[int]], values: dict[int, dict[date, Decimal]], first: date, last: date
) -> None:
    """Take the value of each account's excluded holdings (quantity held at each valuation date x
    the latest close on or before it, rounded to cents half-even as valuations are) off its
    valuations, in two queries."""
    wanted = {a: secs for a, secs in excluded.items() if secs and values.get(a)}
    if not wanted:
        return
    security_ids = set().union(*wanted.values())
    moves: dict[tuple[int, int], list[tuple[date, Decimal]]] = defaultdict(list)
    for account_id, security_id, day, quantity in (
        Posting.objects.filter(
            book__account_id__in=list(wanted), security_id__in=security_ids, entry__effective_date__lte=last
        )
        .values_list("book__account_id", "security_id", "entry__effective_date", "quantity")
        .order_by("entry__effective_date")
    ):
        moves[(account_id, security_id)].append((day, quantity))
    closes: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    for security_id, day, close in (
        Price.objects.filter(security_id__in=security_ids, date__gte=first - timedelta(days=10), date__lte=last)
        .values_list("security_id", "date", "close")
        .order_by("date")
    ):
        closes[security_id].append((day, close))
    for account_id, securities in wanted.items():
        for day in values[account_id]:
            held = ZERO
            for security_id in securities:
                quantity = sum((q for d, q in moves.get((account_id, security_id), ()) if d <= day), ZERO)
                price = next((c for d, c in reversed(closes.get(security_id, ())) if d <= day), None)
                if quantity and price is not None:
                    held += quantity * price
            values[account_id][day] -= held.quantize(fees.CENTS, rounding=ROUND_HALF_EVEN)


def _basis(
    schedule: FeeSchedule, values: dict[date, Decimal], first: date, last: date, days: int, opening: Decimal = ZERO
) -> Decimal:
    """The basis over the days billed [first, last]: the average daily balance, or the last value."""
    if not days:
        return ZERO
    if schedule.basis == FeeSchedule.Basis.PERIOD_END:
        upto = [d for d in values if d <= last]
        return values[max(upto)] if upto else opening
    earlier = [d for d in values if d < first]
    opening_value = values[max(earlier)] if earlier else opening
    return fees.average_daily_balance(values, first, last, opening=opening_value)


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
    """One account's fee alone (no group, no minimum), as the quarterly arrears billing computes it."""
    first, last, days = fees.billed_days(period_start, period_end, opened_on, closed_on)
    basis = _basis(schedule, values, first, last, days, opening)
    calc = fees.quarterly_fee(
        tiers=tiers, basis=basis, period_start=period_start, period_end=period_end, days_billed=days
    )
    return calc, first, last


@dataclass(frozen=True, slots=True)
class _Billed:
    """An account billed in a run, on which schedule, and who pays."""

    account_id: int
    household_id: int
    opened_on: date
    closed_on: date | None
    currency: str
    schedule: FeeSchedule
    paid_from_id: int | None


def _billed_accounts(*, firm: Firm, cycle: str, first: date, last: date) -> list[_Billed]:
    """The firm's accounts open at some time in [first, last] that are billed on a schedule of
    this cycle: the account's own schedule, else its household's; excluded accounts are not."""
    household_schedules = {
        a.household_id: a.schedule
        for a in FeeAssignment.objects.filter(household__firm=firm, schedule__is_active=True)
        .select_related("schedule")
        .prefetch_related("schedule__tiers", "schedule__excluded_securities")
    }
    own = {
        b.account_id: b
        for b in AccountBilling.objects.filter(account__household__firm=firm)
        .select_related("schedule")
        .prefetch_related("schedule__tiers", "schedule__excluded_securities")
    }
    rows = (
        InvestmentAccount.objects.filter(household__firm=firm, opened_on__lte=last)
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=first))
        .order_by("pk")
        .values_list("pk", "household_id", "opened_on", "closed_on", "base_currency")
    )
    out = []
    for account_id, household_id, opened_on, closed_on, currency in rows:
        billing = own.get(account_id)
        if billing is not None and billing.excluded:
            continue
        schedule = billing.schedule if billing is not None and billing.schedule_id else None
        schedule = schedule or household_schedules.get(household_id)
        if schedule is None or not schedule.is_active or schedule.cycle != cycle:
            continue
        paid_from = billing.paid_from_id if billing is not None else None
        out.append(_Billed(account_id, household_id, opened_on, closed_on, currency, schedule, paid_from))
    return out


def _group_key(b: _Billed) -> tuple[str, int, int]:
    if b.schedule.aggregate_household:
        return ("household", b.household_id, b.schedule.pk)
    return ("account", b.account_id, b.schedule.pk)


@dataclass
class _Target:
    """The charges one billing group gets for one period."""

    timing: str
    start: date
    end: date
    members: list[tuple[_Billed, date, date, int, Decimal]]  # (account, first, last, days, basis)
    charged: set[int]  # the members who get a charge (the others only count toward the tiers)
    note: str = ""


def _charge_fields(
    *,
    b: _Billed,
    target: _Target,
    group: fees.GroupFee,
    first: date,
    last: date,
    days: int,
    basis: Decimal,
    credits: tuple[tuple[fees.Credit, ...], Decimal, Decimal] | None,
) -> dict[str, Any]:
    part = group.parts[b.account_id]
    share = (basis / group.basis) if group.basis > 0 else ZERO
    annual = group.annual_fee * share
    credit = ZERO
    calculation: dict[str, Any] = {
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "timing": target.timing,
        "basis": str(basis),
        "slices": list(group.slices),
        "formula": f"{annual} x {days} / {group.days_in_year}",
    }
    if target.note:
        calculation["note"] = target.note
    if len(target.members) > 1 or group.minimum_applied:
        calculation["group"] = {
            "accounts": [m[0].account_id for m in target.members],
            "basis": str(group.basis),
            "tier_fee": str(group.tier_fee),
            "annual_fee": str(group.annual_fee),
            "minimum_annual_fee": str(b.schedule.minimum_annual_fee),
            "minimum_applied": group.minimum_applied,
            "fee": str(group.amount),
            "exact": str(group.exact),
            "share": str(part),
            "split": "pro rata by basis x days billed, cents by the largest remainder",
        }
        calculation["formula"] = (
            f"group {group.annual_fee} x basis share x days / {group.days_in_year}, split: {part} of {group.amount}"
        )
    amount = part
    if credits is not None:
        items, total, rate = credits
        credit = min(total, part)
        amount = part - credit
        calculation["credits"] = {
            "annual_rate": str(rate),
            "withdrawals": [
                {
                    "date": c.day.isoformat(),
                    "withdrawn": str(c.withdrawn),
                    "days_remaining": c.days_remaining,
                    "credit": str(c.amount),
                }
                for c in items
            ],
            "total": str(total),
            "credited": str(credit),
        }
    effective = (group.annual_fee / group.basis * fees.BPS) if group.basis > 0 else ZERO
    return {
        "schedule": b.schedule,
        "timing": target.timing,
        "period_end": target.end,
        "paid_from_id": b.paid_from_id,
        "basis_kind": b.schedule.basis if target.timing == FeeSchedule.Timing.ARREARS or target.note else "period_end",
        "basis_amount": fees.round_fee(basis),
        "annual_fee": annual.quantize(Decimal("0.00000001")),
        "effective_bps": effective.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN),
        "days_billed": days,
        "days_in_period": (target.end - target.start).days + 1,
        "days_in_year": group.days_in_year,
        "amount": amount,
        "credit": credit,
        "currency": b.currency,
        "calculation": calculation,
    }


CHARGE_FIELDS = [
    "schedule",
    "timing",
    "period_end",
    "paid_from",
    "basis_kind",
    "basis_amount",
    "annual_fee",
    "effective_bps",
    "days_billed",
    "days_in_period",
    "days_in_year",
    "amount",
    "credit",
    "currency",
    "calculation",
]


def billing_run_preview(
    *, firm: Firm, period_start: date, acting_user: User, cycle: str = FeeSchedule.Cycle.QUARTERLY
) -> BillingRun:
    """Compute (or recompute, while still a draft) the fees due once a period (a quarter, or a
    month for monthly schedules) has ended, for every account billed on a schedule of that cycle:

    - in arrears: the period's fee, on the average daily balance (or the period-end value) over
      the days the account was open;
    - in advance: the next period's fee on the value at this period's end (less any withdrawal
      credits: money withdrawn during this period, which was paid for in advance, earns back its
      unused days when the firm's billing settings say so), and the catch-up fee of this period
      for an account opened during it, pro-rated by days;
    - a schedule aggregating the household bills its accounts on their total (tiers and minimum)
      and splits the fee back pro rata to the cent; each fee is debited from the account's
      fee-paying account when one is set.

    Refuses a period that has not ended and one already approved. An account already charged for
    a period (by any run) is never charged again: FeeCharge is unique per account and period start.
    """
    if cycle not in FeeSchedule.Cycle.values:
        raise OperationsError("A billing cycle is quarterly or monthly.", field="cycle")
    unit = "month" if cycle == FeeSchedule.Cycle.MONTHLY else "quarter"
    p_start, p_end = fees.period_of(period_start, cycle)
    if p_start != period_start:
        raise OperationsError(f"A billing period starts on the first day of a {unit}.", field="period_start")
    if p_end >= timezone.localdate():
        raise OperationsError(f"Fees are billed in arrears: this {unit} has not ended yet.", field="period_start")
    n_start, n_end = fees.next_period(p_end, cycle)
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().filter(firm=firm, cycle=cycle, period_start=p_start).first()
        if run is not None and run.status == BillingRun.Status.APPROVED:
            raise OperationsError(f"This {unit} has already been billed.", field="period_start")
        if run is None:
            try:
                with transaction.atomic():
                    run = save_attributed(
                        BillingRun(
                            firm=firm, cycle=cycle, period_start=p_start, period_end=p_end, created_by=acting_user
                        ),
                        acting_user=acting_user,
                        reason="billing preview",
                    )
            except IntegrityError as exc:
                raise OperationsError(f"A billing run for this {unit} is being created.") from exc
        credit_withdrawals = BillingSettings.objects.filter(firm=firm, credit_withdrawals=True).exists()
        billed = _billed_accounts(firm=firm, cycle=cycle, first=p_start, last=n_end)
        ids = [b.account_id for b in billed]
        existing = {
            (c.account_id, c.period_start): c
            for c in FeeCharge.objects.filter(account_id__in=ids, period_start__in=[p_start, n_start])
        }
        tiers_by_schedule = {b.schedule.pk: schedule_tiers(b.schedule) for b in billed}
        groups: dict[tuple[str, int, int], list[_Billed]] = defaultdict(list)
        for b in billed:
            groups[_group_key(b)].append(b)
        new: list[FeeCharge] = []
        changed: list[FeeCharge] = []
        keys = list(groups)
        for i in range(0, len(keys), BILLING_CHUNK):
            chunk = [b for key in keys[i : i + BILLING_CHUNK] for b in groups[key]]
            chunk_ids = [b.account_id for b in chunk]
            # Ten days before the period give the value carried into its first (weekend/holiday) days.
            values = _values_by_account(chunk_ids, p_start - timedelta(days=10), p_end)
            _excluded_values(
                {b.account_id: {s.pk for s in b.schedule.excluded_securities.all()} for b in chunk},
                values,
                p_start,
                p_end,
            )
            withdrawals = _withdrawals_by_account(chunk_ids, p_start, p_end) if credit_withdrawals else {}
            for key in keys[i : i + BILLING_CHUNK]:
                members = groups[key]
                schedule = members[0].schedule
                for target in _targets(members, schedule, values, p_start, p_end, n_start, n_end, existing):
                    group = fees.group_fee(
                        tiers=tiers_by_schedule[schedule.pk],
                        members=[fees.Member(m[0].account_id, m[4], m[3]) for m in target.members],
                        days_in_year=fees.days_in_year(target.start.year),
                        minimum_annual=schedule.minimum_annual_fee,
                    )
                    for b, first, last, days, basis in target.members:
                        if b.account_id not in target.charged:
                            continue
                        charge = existing.get((b.account_id, target.start))
                        if charge is not None and (
                            charge.status != FeeCharge.Status.PREVIEW or charge.billing_run_id != run.pk
                        ):
                            continue  # billed already (or by another run): never twice
                        credits = None
                        prepaid = existing.get((b.account_id, p_start))
                        if (
                            target.timing == FeeSchedule.Timing.ADVANCE
                            and target.start == n_start
                            and prepaid is not None
                            and prepaid.timing == FeeSchedule.Timing.ADVANCE
                            and prepaid.status != FeeCharge.Status.FAILED
                            and withdrawals.get(b.account_id)
                        ):
                            rate = prepaid.effective_bps / fees.BPS
                            items, total = fees.withdrawal_credits(
                                withdrawals[b.account_id],
                                annual_rate=rate,
                                period_end=p_end,
                                days_in_year=prepaid.days_in_year,
                            )
                            credits = (items, total, rate)
                        fields = _charge_fields(
                            b=b,
                            target=target,
                            group=group,
                            first=first,
                            last=last,
                            days=days,
                            basis=basis,
                            credits=credits,
                        )
                        if charge is None:
                            new.append(
                                FeeCharge(billing_run=run, account_id=b.account_id, period_start=target.start, **fields)
                            )
                        else:
                            for field, value in fields.items():
                                setattr(charge, field, value)
                            changed.append(charge)
        bulk.create_with_history(new, FeeCharge, acting_user=acting_user, reason="billing preview")
        if changed:
            ledger.bulk_update_rows_with_history(
                FeeCharge, changed, CHARGE_FIELDS, acting_user=acting_user, reason="billing preview"
            )
        totals = run.charges.aggregate(total=Sum("amount"))
        run.total = totals["total"] or ZERO
        run.charge_count = run.charges.count()
        return save_attributed(run, acting_user=acting_user, reason="billing preview", validate=False)


def _targets(
    members: list[_Billed],
    schedule: FeeSchedule,
    values: dict[int, dict[date, Decimal]],
    p_start: date,
    p_end: date,
    n_start: date,
    n_end: date,
    existing: dict[tuple[int, date], FeeCharge],
) -> list[_Target]:
    """What one billing group is charged after the period [p_start, p_end] ended."""
    in_period = []
    for b in members:
        first, last, days = fees.billed_days(p_start, p_end, b.opened_on, b.closed_on)
        basis = _basis(schedule, values.get(b.account_id, {}), first, last, days)
        in_period.append((b, first, last, days, basis))
    if schedule.timing == FeeSchedule.Timing.ARREARS:
        charged = {m[0].account_id for m in in_period if m[3] > 0}
        return [_Target(FeeSchedule.Timing.ARREARS, p_start, p_end, in_period, charged)]
    targets = []
    # Accounts opened during the period were not billed at its start: their days are billed now,
    # the group's other accounts counting toward the tiers (they paid in advance).
    catch_up = {
        b.account_id
        for b, *_ in in_period
        if p_start < b.opened_on <= p_end
        and ((b.account_id, p_start) not in existing or existing[(b.account_id, p_start)].timing == "arrears")
    }
    if catch_up:
        targets.append(
            _Target(
                FeeSchedule.Timing.ARREARS,
                p_start,
                p_end,
                in_period,
                catch_up,
                note="opened during a period billed in advance: its days billed after the period",
            )
        )
    ahead = []
    for b in members:
        if b.opened_on > p_end or (b.closed_on is not None and b.closed_on <= p_end):
            continue
        first, last, days = fees.billed_days(n_start, n_end, b.opened_on, b.closed_on)
        account_values = values.get(b.account_id, {})
        upto = [d for d in account_values if d <= p_end]
        basis = account_values[max(upto)] if upto else ZERO
        ahead.append((b, first, last, days, basis))
    if ahead:
        targets.append(_Target(FeeSchedule.Timing.ADVANCE, n_start, n_end, ahead, {m[0].account_id for m in ahead}))
    return targets


def billing_run_approve(*, run: BillingRun, acting_user: User, effective_date: date | None = None) -> BillingRun:
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
            run.charges.filter(status=FeeCharge.Status.PREVIEW)
            .select_related("account", "paid_from")
            .order_by("account_id", "period_start")
        )
        books = ledger.client_books([c.paid_from or c.account for c in charges])
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
                            PostingSpec.cash(books[charge.debited_account_id], -charge.amount, charge.currency),
                            PostingSpec.cash(income, charge.amount, charge.currency),
                        ],
                        effective_date=effective_date,
                        memo=charge_memo(charge, run),
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
            events_emit_bulk([fee_charged_event(charge, run) for charge in done if charge.amount > 0])
        run.status = BillingRun.Status.APPROVED
        run.approved_by = acting_user
        run.approved_at = timezone.now()
        run.total = run.charges.filter(status=FeeCharge.Status.DEBITED).aggregate(total=Sum("amount"))["total"] or ZERO
        return save_attributed(run, acting_user=acting_user, reason="billing approved", validate=False)


def _fee_raise_cash(charge: FeeCharge, *, refused: str, acting_user: User) -> None:
    """A fee the account's cash does not cover: sell to raise it (in a savepoint, so a raise that
    cannot be made writes nothing), or mark the charge not debited with both reasons."""
    try:
        with transaction.atomic():
            account = lock_account(charge.paid_from or charge.account)
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


def charge_memo(charge: FeeCharge, run: BillingRun) -> str:
    """The journal entry's memo: the run's period for a fee in arrears, the period paid for ahead
    otherwise, and the billed account when another account pays."""
    label = run.period_label
    if charge.period_start != run.period_start:
        label = BillingRun(cycle=run.cycle, period_start=charge.period_start).period_label + " (in advance)"
    memo = f"Advisory fee {label}"
    if charge.paid_from_id:
        memo += f" for account {charge.account_id}"
    return memo


def fee_charged_event(charge: FeeCharge, run: BillingRun) -> EventSpec:
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
            "paid_from": charge.debited_account_id,
            "billing_run": run.pk,
            "period_start": charge.period_start,
            "amount": money_dict(charge.amount, charge.currency),
            "status": charge.status,
            "error": charge.error,
        },
    )


# The job runs monthly; a period that ended longer ago than this was the last run's (a late run
# within it still bills it; operations preview an older one by hand).
JOB_CATCH_UP_DAYS = 27


def billing_previews_create(*, as_of: date, acting_user: User) -> ChunkOutcome:
    """The billing job, on the first day of every month: a draft run of the previous month for every
    firm with a monthly schedule in use, and, when a quarter has just ended (within the last
    month: the first days of January, April, July and October), of the previous quarter for every
    firm with a quarterly one. A run already approved is skipped; a draft is recomputed."""
    outcome = ChunkOutcome()
    in_use = Q(assignments__isnull=False) | Q(account_assignments__isnull=False)
    for cycle in (FeeSchedule.Cycle.QUARTERLY, FeeSchedule.Cycle.MONTHLY):
        start, end = fees.previous_period(as_of, cycle)
        if (as_of - end).days > JOB_CATCH_UP_DAYS:
            continue  # mid-quarter: that quarter was billed when it ended
        schedules = FeeSchedule.objects.filter(in_use, is_active=True, cycle=cycle)
        firms = Firm.objects.filter(pk__in=schedules.values("firm_id")).order_by("pk")
        for firm in firms:
            try:
                with transaction.atomic():
                    run = billing_run_preview(firm=firm, period_start=start, cycle=cycle, acting_user=acting_user)
                outcome.add("runs")
                outcome.add("charges", run.charge_count)
            except OperationsError:
                outcome.add("skipped")  # already billed: nothing to do
    return outcome
