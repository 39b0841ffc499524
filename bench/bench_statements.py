"""The quarter-end statements batch at scale: every account's statement and every household's
performance report, as PDFs kept in the households' documents.

Builds the synthetic book (demo.scale.seed_scale: 20 advisors, households of two accounts) and
gives each account an opening-balance entry in the ledger for its positions and cash (the
statements read the ledger), then times `quarter_end_batches` (one batch per advisor: the rows
and the queue) and the generation of every statement and report by
BENCH_STATEMENT_WORKERS processes (default: one per core, as a Celery worker's concurrency),
each calling `statement_generate` (what the Celery task calls). The figures
are the batch's counts (done / failed / total) and the rate. BENCH_STATEMENT_ACCOUNTS sets the
size (default 2,000).
"""

import os
import time
from datetime import date

ACCOUNTS = int(os.environ.get("BENCH_STATEMENT_ACCOUNTS", "2000"))
#: Processes generating at once, as a Celery worker's concurrency (one per core by default).
WORKERS = int(os.environ.get("BENCH_STATEMENT_WORKERS", str(os.cpu_count() or 1)))


def _generate(ids: list[int]) -> int:
    """One worker process: generate its share of the statements (a fresh database connection)."""
    from django.db import connections

    from reports import services

    connections.close_all()
    for pk in ids:
        services.statement_generate(statement_id=pk)
    connections.close_all()
    return len(ids)


def _ledger_from_positions(firm) -> int:
    """One opening-balance entry per account for the positions and cash seed_scale wrote (bench only:
    plain bulk writes, no history rows), dated before the quarter."""
    from accounts.services import system_user
    from portfolios import ledger
    from portfolios.models import CashBalance, InvestmentAccount, JournalEntry, LedgerBook, Position, Posting

    user = system_user()
    equity = ledger.system_book(LedgerBook.Kind.OPENING_EQUITY, firm=firm)
    accounts = list(
        Position.objects.filter(account__household__firm=firm).values_list("account_id", flat=True).distinct()
    )
    books = ledger.client_books(list(InvestmentAccount.objects.filter(pk__in=accounts)))
    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(kind=JournalEntry.Kind.OPENING_BALANCE, effective_date=date(2024, 12, 31), created_by=user)
            for _ in accounts
        ]
    )
    entry_of = dict(zip(accounts, entries, strict=True))
    postings = []
    for p in (
        Position.objects.filter(account_id__in=accounts)
        .exclude(quantity=0)
        .values_list("account_id", "security_id", "quantity")
    ):
        account_id, security_id, quantity = p
        entry = entry_of[account_id]
        postings.append(Posting(entry=entry, book=books[account_id], security_id=security_id, quantity=quantity))
        postings.append(Posting(entry=entry, book=equity, security_id=security_id, quantity=-quantity))
    for account_id, amount in (
        CashBalance.objects.filter(account_id__in=accounts).exclude(amount=0).values_list("account_id", "amount")
    ):
        entry = entry_of[account_id]
        postings.append(Posting(entry=entry, book=books[account_id], quantity=amount))
        postings.append(Posting(entry=entry, book=equity, quantity=-amount))
    Posting.objects.bulk_create(postings, batch_size=5000)
    return len(postings)


def run():
    from accounts.models import Firm
    from demo.scale import seed_scale
    from reports import services
    from reports.models import Statement, StatementBatch

    figures = []
    period_end = date(2025, 3, 31)
    started = time.perf_counter()
    seed_scale(accounts=ACCOUNTS, firm_name="Statements Advisory", as_of=period_end)
    firm = Firm.objects.get(name="Statements Advisory")
    postings = _ledger_from_positions(firm)
    figures.append(
        (f"setup: {ACCOUNTS:,} accounts, {postings:,} opening postings", f"{time.perf_counter() - started:.1f} s")
    )

    started = time.perf_counter()
    batches = services.quarter_end_batches(today=date(2025, 4, 1))
    queued = time.perf_counter() - started
    total = sum(b.total for b in batches)
    figures.append(
        (f"quarter-end batches: {len(batches)} (one per advisor), {total:,} items queued", f"{queued:.1f} s")
    )

    ids = list(Statement.objects.filter(batches__in=batches).order_by("pk").values_list("pk", flat=True).distinct())
    from multiprocessing import get_context

    from django.db import connections

    connections.close_all()  # the forked workers open their own
    started = time.perf_counter()
    if WORKERS > 1:
        with get_context("fork").Pool(WORKERS) as pool:
            pool.map(_generate, [ids[i::WORKERS] for i in range(WORKERS)])
    else:
        _generate(ids)
    took = time.perf_counter() - started
    done = sum(b.done for b in StatementBatch.objects.filter(pk__in=[b.pk for b in batches]))
    failed = sum(b.failed for b in StatementBatch.objects.filter(pk__in=[b.pk for b in batches]))
    statements = Statement.objects.filter(pk__in=ids, kind="statement").count()
    figures.append(
        (
            f"generated {statements:,} statements + {len(ids) - statements:,} reports ({WORKERS} worker processes)",
            f"{took:.1f} s = {len(ids) / took:,.1f} PDFs/s",
        )
    )
    figures.append(("batch counts: done / failed / total", f"{done:,} / {failed:,} / {total:,}"))
    figures.append(("quarter-end batch, end to end (queue + generation)", f"{queued + took:.1f} s"))
    return figures
