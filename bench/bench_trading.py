"""Orders per second through the sandbox custodian: create, relay (submit), fill webhooks applied."""

import json
import os
import time
from datetime import date, timedelta
from decimal import Decimal

from django.test import Client

from bench.harness import per_second

ORDERS = int(os.environ.get("BENCH_TRADING_ORDERS", "500"))


def run() -> list[tuple[str, str]]:
    from django.conf import settings

    from accounts.models import Role
    from accounts.services import advisor_create, firm_create, household_create, system_user, user_create
    from portfolios import services as ps
    from portfolios.models import InvestmentAccount, Price, Security
    from trading import services
    from trading.adapters.custodian import RestCustodian
    from trading.adapters.custodian.sandbox import SandboxCustodian

    settings.TRADING_PRETRADE_CHECKS = []
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
    account = InvestmentAccount.objects.create(household=household, name="Bench", custodian_account_number="BENCH-T-1")
    ps.transfer_in(account=account, cash=Decimal("100000000.00"), acting_user=system, idempotency_key="bench-cash")

    sandbox = SandboxCustodian(secret=settings.CUSTODIAN_WEBHOOK_SECRET)
    custodian = RestCustodian(sandbox.start(), retries=0)
    client = Client()
    try:
        started = time.perf_counter()
        for i in range(ORDERS):
            services.order_create(
                account=account,
                security=security,
                side="buy",
                quantity=Decimal("1"),
                acting_user=user,
                source="job",
                idempotency_key=f"bench-{i}",
            )
        created = time.perf_counter() - started
        t = time.perf_counter()
        services.relay_outbox(custodian=custodian, limit=ORDERS + 10)
        relayed = time.perf_counter() - t
        t = time.perf_counter()

        def send(body: bytes, headers: dict[str, str]) -> int:
            return client.post(
                "/webhooks/custodian/",
                data=body,
                content_type="application/json",
                HTTP_X_CUSTODIAN_SIGNATURE=headers["X-Custodian-Signature"],
            ).status_code

        while sandbox.pending_webhook_count():
            sandbox.deliver_pending(send)
        filled = time.perf_counter() - t
        total = time.perf_counter() - started
    finally:
        sandbox.stop()
    from trading.models import Order

    assert Order.objects.filter(account=account, status="filled").count() == ORDERS, json.dumps("not all filled")
    return [
        ("orders created (checks, reservation, outbox)", per_second(ORDERS, created)),
        ("orders submitted by the relay over HTTP", per_second(ORDERS, relayed)),
        ("fill webhooks verified and applied (ledger, lots)", per_second(ORDERS, filled)),
        ("end to end: submit + fill", per_second(ORDERS, total)),
    ]
