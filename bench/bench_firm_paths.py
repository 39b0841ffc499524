"""The simulated firm's hot paths, per call (issue 13, "A firm's year"): a proposal's approval
with the firm's real pre-trade checks, the relay, the fill webhooks through the web endpoint, the
settlement run, and reconciliation against the sandbox custodian over HTTP, by its statements
file and account by account.

A small book of BENCH_PATHS_ACCOUNTS accounts (default 40) on a seven-fund model, all cash, so
each proposal buys seven funds, as the simulator's accounts do after a deposit.
"""

import os
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

ACCOUNTS = int(os.environ.get("BENCH_PATHS_ACCOUNTS", "40"))
FUNDS = ["BPA", "BPB", "BPC", "BPD", "BPE", "BPF", "BPG"]


def _per_call(seconds: float, count: int, unit: str = "call") -> str:
    return f"{seconds / count * 1000:,.1f} ms a {unit} ({count:,} in {seconds:.2f} s)"


def _book(system: Any) -> tuple[Any, list[Any]]:
    from django.utils import timezone

    from accounts.services import advisor_create, firm_create, household_create, investor_create, user_create
    from compliance.models import ComplianceSettings
    from demo.compliance import clear_for_trading
    from portfolios import services as ps
    from portfolios.models import Price, Security

    firm = firm_create(name="Bench Firm Paths", slug="bench-firm-paths", acting_user=system)
    ComplianceSettings.objects.get_or_create(firm=firm)
    user = user_create(
        email="bench-paths@example.com", password=None, full_name="Bench Advisor", firm=firm, acting_user=system
    )
    advisor = advisor_create(user=user, firm=firm, acting_user=system)
    for i, symbol in enumerate(FUNDS):
        security = Security.objects.filter(symbol=symbol).first() or ps.security_create(
            symbol=symbol, name=f"{symbol} (bench)", acting_user=system
        )
        Price.objects.create(
            security=security, date=timezone.localdate() - timedelta(days=1), close=Decimal(40 + 10 * i)
        )
    model = ps.model_portfolio_create(
        firm=firm,
        name="Bench seven funds",
        risk_level=3,
        targets={s: Decimal("0.14") for s in FUNDS},
        cash_target=Decimal("0.02"),
        acting_user=system,
    )
    accounts = []
    for n in range(ACCOUNTS):
        household = household_create(firm=firm, name=f"Bench paths {n}", advisor=advisor, acting_user=system)
        investor = investor_create(
            firm=firm, first_name="Bench", last_name=f"{n:05d}", household=household, acting_user=system
        )
        clear_for_trading(investor, acting_user=system, reference=f"bench-paths-{n}", reason="bench")
        account = ps.account_create(
            household=household,
            name=f"Bench paths {n}",
            custodian_account_number=f"BENCH-P-{n:05d}",
            acting_user=system,
            model=model,
        )
        ps.transfer_in(
            account=account, cash=Decimal("100000.00"), acting_user=system, idempotency_key=f"bench-paths-{n}"
        )
        accounts.append(account)
    return advisor.user, accounts


def run() -> list[tuple[str, str]]:
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from accounts.services import system_user
    from operations.services import reconcile_accounts
    from sandboxes.custodian import SandboxCustodian, business_date
    from trading import services
    from trading.adapters.custodian import RestCustodian
    from trading.models import Execution, Order

    settings.TRADING_RELAY_ON_COMMIT = False
    system = system_user()
    advisor, accounts = _book(system)
    sandbox = SandboxCustodian(secret=settings.CUSTODIAN_WEBHOOK_SECRET)
    custodian = RestCustodian(sandbox.start(), retries=0)
    figures: list[tuple[str, str]] = []
    try:
        for account in accounts:
            sandbox.move_cash(account.custodian_account_number, Decimal("100000.00"))
        proposals = [
            p
            for p in services.proposal_create_for_accounts(account_ids=[a.pk for a in accounts], acting_user=system)
            if p.needed
        ]
        started = time.perf_counter()
        for proposal in proposals:
            services.proposal_approve(proposal=proposal, acting_user=advisor)
        approved = time.perf_counter() - started
        orders = Order.objects.filter(account__in=accounts).count()
        figures.append((f"proposal_approve, real pre-trade checks ({orders // max(1, len(proposals))} buys each)",
                        _per_call(approved, len(proposals))))  # fmt: skip
        figures.append(("  the same, per order made", _per_call(approved, orders, "order")))

        started = time.perf_counter()
        calls = 0
        while services.relay_outbox(custodian=custodian, limit=100).sent:
            calls += 1
        figures.append(("relay_outbox, 100 orders a call over HTTP", _per_call(time.perf_counter() - started, calls)))

        client = Client()
        started = time.perf_counter()
        webhooks = 0
        for body in sandbox._take_webhooks():
            headers = sandbox.headers_for(body)
            response = client.post(
                "/webhooks/custodian/",
                data=body,
                content_type="application/json",
                HTTP_X_CUSTODIAN_SIGNATURE=headers["X-Custodian-Signature"],
            )
            assert response.status_code == 200, response.status_code
            webhooks += 1
        figures.append(("fill webhook through /webhooks/custodian/ (ledger, lots, order)",
                        _per_call(time.perf_counter() - started, webhooks, "fill")))  # fmt: skip

        executions = Execution.objects.filter(order__account__in=accounts)
        fills = executions.count()
        settle_on = max(executions.values_list("settle_date", flat=True))
        started = time.perf_counter()
        settled = services.settlement_run(as_of=settle_on, acting_user=system)
        assert settled == fills, (settled, fills)
        figures.append(
            ("settlement_run (T+1), batches of 500", _per_call(time.perf_counter() - started, fills, "fill"))
        )

        class OneByOne:
            """The custodian without its statements file: one statement an account."""

            def statement(self, account_ref: str, as_of: date) -> Any:
                return custodian.statement(account_ref, as_of)

        day = business_date(timezone.now())
        ids = [a.pk for a in accounts]
        for label, source in (("by the statements file", custodian), ("one statement an account", OneByOne())):
            started = time.perf_counter()
            outcome = reconcile_accounts(account_ids=ids, business_date=day, acting_user=system, custodian=source)
            assert outcome.counts.get("breaks", 0) == 0 and outcome.counts["accounts"] == len(ids), outcome.counts
            figures.append((f"reconciliation over HTTP, {label}", _per_call(time.perf_counter() - started,
                                                                             len(ids), "account")))  # fmt: skip
    finally:
        sandbox.stop()
    return figures
