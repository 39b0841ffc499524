"""Rebalance proposals per second for many accounts, end to end through the database
(snapshots read, workflow run, proposals and trades written in bulk, in chunks)."""

import os
import time
from datetime import date, timedelta
from decimal import Decimal

from bench.harness import per_second

ACCOUNTS = int(os.environ.get("BENCH_PROPOSAL_ACCOUNTS", "10000"))
CHUNK = int(os.environ.get("BENCH_PROPOSAL_CHUNK", "1000"))
WRITE_CHUNK = 1000


def run() -> list[tuple[str, str]]:
    from simple_history.utils import bulk_create_with_history

    from accounts.models import Role
    from accounts.services import advisor_create, firm_create, household_create, system_user, user_create
    from portfolios import ledger
    from portfolios.models import CashBalance, InvestmentAccount, ModelPortfolio, ModelTarget, Price, Security
    from trading.models import ProposalTrade, RebalanceProposal
    from trading.services import proposal_create_for_accounts

    system = system_user()
    firm = firm_create(name="Bench Proposals", acting_user=system)
    user = user_create(
        email="bench-props@example.com", password=None, roles=[Role.ADVISOR], firm=firm, acting_user=system
    )
    household = household_create(
        firm=firm, name="Bench P", advisor=advisor_create(user=user, firm=firm, acting_user=system), acting_user=system
    )
    securities = [Security.objects.create(symbol=f"BP{i}") for i in range(4)]
    Price.objects.bulk_create(
        [
            Price(security=s, date=date.today() - timedelta(days=1), close=Decimal(20 + 10 * i))
            for i, s in enumerate(securities)
        ]
    )
    model = ModelPortfolio.objects.create(firm=firm, name="Bench 4x25", risk_level=5)
    ModelTarget.objects.bulk_create([ModelTarget(model=model, security=s, weight=Decimal("0.25")) for s in securities])
    accounts = bulk_create_with_history(
        [
            InvestmentAccount(household=household, name=f"B{i}", custodian_account_number=f"BP-{i:06d}", model=model)
            for i in range(ACCOUNTS)
        ],
        InvestmentAccount,
        default_user=system,
    )
    ids = list(InvestmentAccount.objects.filter(model=model).order_by("id").values_list("id", flat=True))
    # All cash, so every account is out of its bands and gets four buys. Cash enters through the
    # ledger in one entry per chunk (opening balances against the opening-equity book).
    from portfolios.ledger import PostingSpec
    from portfolios.models import JournalEntry, LedgerBook

    books = ledger.client_books(InvestmentAccount.objects.filter(pk__in=ids))
    equity = ledger.system_book(LedgerBook.Kind.OPENING_EQUITY, firm=firm)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        postings = [PostingSpec.cash(books[a], Decimal("10000.00")) for a in chunk]
        postings.append(PostingSpec.cash(equity, Decimal("-10000.00") * len(chunk)))
        ledger.post_entry(
            kind=JournalEntry.Kind.OPENING_BALANCE, postings=postings, effective_date=date.today(), acting_user=system
        )
    assert CashBalance.objects.filter(account_id__in=ids).count() == len(ids)
    del accounts

    # The write path alone (proposals, trades and history rows for one chunk that all need
    # trades — the worst case), best of three on fresh on-demand proposals (each run also
    # expires the previous run's, as a rerun would).
    from django.db.models import Sum

    from trading.packed_trades import packed_count
    from trading.services import proposals as proposal_services

    write_ids = ids[:WRITE_CHUNK]
    snapshots, plans, reserved = proposal_services._run_workflow(write_ids, date.today())
    write_best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        proposal_services.proposals_store(
            account_ids=write_ids,
            snapshots=snapshots,
            plans=plans,
            reserved=reserved,
            acting_user=system,
            as_of=date.today(),
            run_keys={},
        )
        write_best = min(write_best, time.perf_counter() - t)

    started = time.perf_counter()
    for start in range(0, len(ids), CHUNK):
        proposal_create_for_accounts(account_ids=ids[start : start + CHUNK], acting_user=system, scheduled=True)
    seconds = time.perf_counter() - started
    proposals = RebalanceProposal.objects.filter(account_id__in=ids, run_key__isnull=False).count()
    scheduled = RebalanceProposal.objects.filter(account_id__in=ids, run_key__isnull=False)
    trades = ProposalTrade.objects.filter(proposal__in=scheduled).count() + (
        scheduled.aggregate(packed=Sum(packed_count()))["packed"] or 0
    )  # rows, and the trades packed in the scan's proposals
    return [
        (f"write path only, chunk of {len(write_ids):,} (best of 3)", per_second(len(write_ids), write_best)),
        (f"proposals for {len(ids):,} accounts end to end, chunks of {CHUNK}", per_second(proposals, seconds)),
        ("proposed trades written", f"{trades:,}"),
    ]
