"""Orders per second through the sandbox custodian: create, relay (submit), fill webhooks applied."""

import json
import os
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

from django.test import Client

from bench.harness import per_second

ORDERS = int(os.environ.get("BENCH_TRADING_ORDERS", "500"))
ACCOUNTS = int(os.environ.get("BENCH_TRADING_ACCOUNTS", "8"))
WORKERS = int(os.environ.get("BENCH_TRADING_WORKERS", "4"))


def _in_threads(items: list, work) -> None:  # type: ignore[type-arg, no-untyped-def]
    """Run `work(item)` over `items` in WORKERS threads (each with its own DB connection)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run_part(part: list) -> None:  # type: ignore[type-arg]
        try:
            for item in part:
                work(item)
        finally:
            connection.close()

    parts = [items[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(run_part, p) for p in parts]:
            future.result()


def run() -> list[tuple[str, str]]:
    from django.conf import settings

    from accounts.models import Role
    from accounts.services import advisor_create, firm_create, household_create, system_user, user_create
    from portfolios import services as ps
    from portfolios.models import InvestmentAccount, Price, Security
    from sandboxes.custodian import SandboxCustodian
    from trading import services
    from trading.adapters.custodian import RestCustodian
    from trading.checks import PRETRADE_CHECKS

    PRETRADE_CHECKS.unregister("compliance.pretrade")  # the bench times trading, not compliance
    settings.TRADING_RELAY_ON_COMMIT = False
    system = system_user()
    firm = firm_create(name="Bench Trading", acting_user=system)
    user = user_create(
        email="bench-trader@example.com", password=None, roles=[Role.ADVISOR], firm=firm, acting_user=system
    )
    advisor = advisor_create(user=user, firm=firm, acting_user=system)
    household = household_create(firm=firm, name="Bench", advisor=advisor, acting_user=system)
    security = Security.objects.create(symbol="BENCHX")
    Price.objects.create(security=security, date=date.today() - timedelta(days=1), close=Decimal("10"))
    accounts = []
    for n in range(ACCOUNTS):
        account = InvestmentAccount.objects.create(
            household=household, name=f"Bench {n}", custodian_account_number=f"BENCH-T-{n}"
        )
        ps.transfer_in(account=account, cash=Decimal("10000000.00"), acting_user=system, idempotency_key=f"bench-{n}")
        accounts.append(account)

    sandbox = SandboxCustodian(secret=settings.CUSTODIAN_WEBHOOK_SECRET)
    custodian = RestCustodian(sandbox.start(), retries=0)
    try:
        started = time.perf_counter()

        def create(i: int) -> None:
            services.order_create(
                account=accounts[i % ACCOUNTS],
                security=security,
                side="buy",
                quantity=Decimal("1"),
                acting_user=user,
                source="job",
                idempotency_key=f"bench-{i}",
            )

        # Threads by account (an account's orders serialise on its lock, as in production).
        _in_threads(sorted(range(ORDERS), key=lambda i: i % ACCOUNTS), create)
        created = time.perf_counter() - started
        t = time.perf_counter()
        services.relay_outbox(custodian=custodian, limit=ORDERS + 10)
        relayed = time.perf_counter() - t
        t = time.perf_counter()

        clients = threading.local()  # one test client a thread: each new one loads the middleware again

        def send_one(body: bytes) -> None:
            headers = sandbox.headers_for(body)
            if not hasattr(clients, "client"):
                clients.client = Client()
            status = clients.client.post(
                "/webhooks/custodian/",
                data=body,
                content_type="application/json",
                HTTP_X_CUSTODIAN_SIGNATURE=headers["X-Custodian-Signature"],
            ).status_code
            assert status == 200, status

        while sandbox.pending_webhook_count():
            _in_threads(sandbox._take_webhooks(), send_one)
        filled = time.perf_counter() - t
        total = time.perf_counter() - started
    finally:
        sandbox.stop()
    from trading.models import Order

    assert Order.objects.filter(account__in=accounts, status="filled").count() == ORDERS, json.dumps("not all filled")
    how = f"{ACCOUNTS} accounts, {WORKERS} threads"
    return [
        (f"orders created (checks, reservation, outbox; {how})", per_second(ORDERS, created)),
        ("orders submitted by the relay over HTTP (batches, parallel calls)", per_second(ORDERS, relayed)),
        (f"fill webhooks verified and applied (ledger, lots; {WORKERS} threads)", per_second(ORDERS, filled)),
        ("end to end: submit + fill", per_second(ORDERS, total)),
    ]
