"""The quarterly fee billing run at scale: preview (fees for every account) and approval (debits).

Builds the synthetic book (demo.scale.seed_scale) with weekly valuation snapshots for
the quarter (carried forward to daily by the average-daily-balance rule), assigns a tiered
schedule to every household, then times `billing_run_preview` for all accounts and
`billing_run_approve` (one ledger entry per fee, posted with ledger.post_entries_bulk). BENCH_BILLING_ACCOUNTS sets the size; the
approval is timed on all charges and the figure says how many.
"""

import os
import time
from datetime import date
from decimal import Decimal

ACCOUNTS = int(os.environ.get("BENCH_BILLING_ACCOUNTS", "100000"))


def run():
    from accounts.models import Firm, Household
    from accounts.services import system_user
    from demo.scale import seed_scale, seed_valuations
    from operations import services
    from operations.models import FeeAssignment, FeeSchedule
    from portfolios import ledger
    from portfolios.models import InvestmentAccount
    from portfolios.services import transfer_in  # noqa: F401 -- cash comes from the synthetic CashBalance rows

    figures = []
    q_start, q_end = date(2025, 1, 1), date(2025, 3, 31)
    started = time.perf_counter()
    seed_scale(accounts=ACCOUNTS, firm_name="Billing Advisory", as_of=q_end)
    firm = Firm.objects.get(name="Billing Advisory")
    ids = list(InvestmentAccount.objects.filter(household__firm=firm).order_by("pk").values_list("pk", flat=True))
    rows = seed_valuations(account_ids=ids, first=date(2024, 12, 23), last=q_end, every_days=7)
    user = system_user()
    schedule = services.fee_schedule_create(
        firm=firm,
        name="Tiered",
        method=FeeSchedule.Method.TIERED,
        acting_user=user,
        tiers=[(Decimal(1_000_000), Decimal(100)), (Decimal(5_000_000), Decimal(75)), (None, Decimal(50))],
    )
    FeeAssignment.objects.bulk_create(
        [
            FeeAssignment(household_id=h, schedule=schedule)
            for h in Household.objects.filter(firm=firm).values_list("pk", flat=True)
        ]
    )
    figures.append((f"setup: {len(ids):,} accounts, {rows:,} valuations", f"{time.perf_counter() - started:.1f} s"))

    started = time.perf_counter()
    billing = services.billing_run_preview(firm=firm, period_start=q_start, acting_user=user)
    took = time.perf_counter() - started
    figures.append(
        (
            f"billing preview ({billing.charge_count:,} fees, total {billing.total})",
            f"{took:.1f} s = {billing.charge_count / took:,.0f} accounts/s",
        )
    )

    # The synthetic book's cash is not in the ledger (see demo.scale), so fund the books first.
    from portfolios.ledger import EntrySpec, PostingSpec
    from portfolios.models import JournalEntry, LedgerBook

    started = time.perf_counter()
    books = ledger.client_books(InvestmentAccount.objects.filter(pk__in=ids))
    opening = ledger.system_book(LedgerBook.Kind.OPENING_EQUITY, firm=firm)
    specs = [
        EntrySpec(
            kind=JournalEntry.Kind.OPENING_BALANCE,
            postings=[PostingSpec.cash(book, Decimal("100000.00")), PostingSpec.cash(opening, Decimal("-100000.00"))],
            effective_date=q_end,
        )
        for book in books.values()
    ]
    for i in range(0, len(specs), 5000):
        ledger.post_entries_bulk(specs[i : i + 5000], acting_user=user, allow_negative=True)
    figures.append(("funding the books (post_entries_bulk)", f"{time.perf_counter() - started:.1f} s"))
    started = time.perf_counter()
    billing = services.billing_run_approve(run=billing, acting_user=user, effective_date=date(2025, 4, 2))
    took = time.perf_counter() - started
    figures.append(
        (
            f"billing approval: {billing.charge_count:,} fee journal entries",
            f"{took:.1f} s = {billing.charge_count / took:,.0f} entries/s",
        )
    )
    return figures
