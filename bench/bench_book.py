"""The book page's server time for an advisor with 500 accounts.

Builds 500 funded accounts on a 60/40 model, each in a household of its own, through the
portfolios services (in the scratch database), and an order (a sell of one share) in every
second account through the trading services; then renders /book/ (default sort, sorted by
drift, breached only), the households page and four API reads (accounts, positions,
households, orders) through django.test.Client N times and reports the median and p95 in
milliseconds: computed (the data version moved before each request, as after any write), with
the query count of one such render, and answered from the read cache.
"""

import statistics
import time
from datetime import date
from decimal import Decimal

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

ACCOUNTS = 500
RUNS = 30


def _build():  # type: ignore[no-untyped-def]
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import services as accounts_services
    from accounts.models import Role
    from portfolios import services
    from portfolios.models import Price, Security

    system = accounts_services.system_user()
    firm = accounts_services.firm_create(name="Bench Advisory", slug="bench-book", acting_user=system)
    user = accounts_services.user_create(
        email="bench-book@kronos.test", password="bench-password-1", roles=[Role.ADVISOR], firm=firm, acting_user=system
    )
    advisor = accounts_services.advisor_create(user=user, firm=firm, acting_user=system)
    for symbol, close in (("BVTI", "250"), ("BBND", "70"), ("BVXUS", "60")):
        security = Security.objects.create(symbol=symbol, name=symbol)
        Price.objects.create(security=security, date=date.today(), close=Decimal(close), source="bench")
    model = services.model_portfolio_create(
        firm=firm, name="Bench 60/40", risk_level=5, targets={"BVTI": "0.5", "BBND": "0.4", "BVXUS": "0.1"},
        acting_user=user,
    )  # fmt: skip
    for i in range(ACCOUNTS):
        household = accounts_services.household_create(
            firm=firm, name=f"Bench {i:04d}", advisor=advisor, acting_user=user
        )
        account = services.account_create(
            household=household, name=f"Brokerage {i}", custodian_account_number=f"BENCH-{i:05d}", acting_user=user
        )
        account.model = model  # no suitability check in the bench
        account.save(update_fields=["model"])
        services.transfer_in(
            account=account,
            positions=[
                {"symbol": "BVTI", "quantity": Decimal(10 + i % 13), "cost_basis": Decimal("2000")},
                {"symbol": "BBND", "quantity": Decimal(30 + i % 7), "cost_basis": Decimal("2000")},
            ],
            cash=Decimal(100 + i),
            acting_user=user,
            idempotency_key=f"bench-book-{i}",
        )
    from portfolios.models import InvestmentAccount
    from trading import services as trading_services
    from trading.models import Order

    accounts = InvestmentAccount.objects.filter(household__firm=firm).order_by("pk")
    for i, account in enumerate(accounts[::2]):
        trading_services.order_create(
            account=account,
            security="BBND",
            side="sell",
            quantity=Decimal(1),
            acting_user=user,
            source=Order.Source.API,
            idempotency_key=f"bench-book-order-{i}",
        )
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _time(client: Client, params: dict[str, str], path: str = "/book/", *, cold: bool) -> tuple[float, float, int]:
    """Median and p95 of RUNS requests, and the queries of one that computes its answer. `cold`:
    the shared data version moves before each request (as after a price import), so nothing comes
    from the read cache; else the answers come from the read cache."""
    from kronos import readcache

    samples = []
    readcache.bump(readcache.SHARED)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path, params).status_code == 200
    queries = len(ctx.captured_queries)
    for _ in range(RUNS):
        if cold:
            readcache.bump(readcache.SHARED)
        started = time.perf_counter()
        response = client.get(path, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, queries


def run() -> list[tuple[str, str]]:
    from portfolios.checks import MODEL_ASSIGN_CHECKS

    with MODEL_ASSIGN_CHECKS.override():
        started = time.perf_counter()
        client = _build()
        built = time.perf_counter() - started
        out = [(f"build {ACCOUNTS} funded accounts through the services", f"{built:.1f} s")]
        # The planner's statistics, as autovacuum leaves a live database a minute after such a
        # load: the scratch database is seconds old and has none, and without them PostgreSQL
        # guessed one row for each advisor's households and chose nested loops that doubled the
        # list's database time.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        from portfolios.models import InvestmentAccount

        # The bench advisor's own first account (the scratch database holds other benches' books).
        first = (
            InvestmentAccount.objects.filter(household__advisor__user__email="bench-book@kronos.test")
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        book = f"{ACCOUNTS} accounts, pages of 50"
        for label, params, path, size in (
            ("book, by household", {}, "/book/", book),
            ("book, sorted by drift", {"sort": "drift", "dir": "desc"}, "/book/", book),
            ("book, breached only", {"breached": "on"}, "/book/", book),
            ("GET /api/v1/accounts/", {}, "/api/v1/accounts/", book),
            ("GET /api/v1/accounts/{id}/positions/", {}, f"/api/v1/accounts/{first}/positions/", book),
            ("households page", {}, "/households/", f"{ACCOUNTS} households, pages of 25"),
            ("GET /api/v1/households/", {}, "/api/v1/households/", f"{ACCOUNTS} households, pages of 50"),
            ("GET /api/v1/orders/", {}, "/api/v1/orders/", f"{ACCOUNTS // 2} orders, pages of 50"),
        ):
            median, p95, queries = _time(client, params, path, cold=True)
            out.append(
                (
                    f"{label} ({size}), data changed: median / p95",
                    f"{median:.1f} ms / {p95:.1f} ms",
                )
            )
            out.append((f"{label}: queries when computed", str(queries)))
            median, p95, _ = _time(client, params, path, cold=False)
            out.append((f"{label}, from the read cache: median / p95", f"{median:.1f} ms / {p95:.1f} ms"))
        return out
