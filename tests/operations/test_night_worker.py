"""Acceptance: whole nights for a small demo-like firm through a REAL Celery worker on Redis.

Prices (CSV market-data adapter) -> valuations -> drift scan (proposals; automatic accounts
approved, orders out through the outbox to the sandbox custodian) -> settlement ->
reconciliation. Orders placed after the close trade the next day (the sandbox's day), so the
night's reconciliation is as of the close and the next night's includes the fills.
"""

import time
from datetime import date
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.apps import apps
from django.test import Client

from kronos.celery import app
from operations import tasks
from operations.models import JobRun, ReconciliationBreak
from portfolios import ledger
from sandboxes.custodian import SandboxCustodian
from tests.operations.book import SYMBOLS, build_book, mirror_into_sandbox
from trading.checks import PRETRADE_CHECKS
from trading.models import Order, RebalanceProposal

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

D1, D2, D3 = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)  # Monday..Wednesday
# Celery's own bookkeeping (task results) records every task, by design.
BOOKKEEPING = {"django_celery_results", "django_celery_beat"}


def table_counts() -> dict[str, int]:
    return {
        m._meta.label: m._base_manager.count()
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label not in BOOKKEEPING and not m._meta.proxy
    }


def wait_for(predicate, *, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    runs = list(JobRun.objects.values_list("job", "business_date", "status", "errors"))
    raise AssertionError(f"timed out waiting for {what}; runs: {runs}")


def night_done(day):
    return lambda: JobRun.objects.filter(job="reconciliation", business_date=day).exclude(status="running").exists()


def chain_walked(count):
    from django_celery_results.models import TaskResult

    return lambda: (
        TaskResult.objects.filter(
            task_name="operations.run_stage", task_args__contains="reconciliation", status="SUCCESS"
        ).count()
        >= count
    )


@pytest.fixture
def market_csv(tmp_path):
    path = tmp_path / "closes.csv"
    lines = ["date," + ",".join(SYMBOLS)]
    for day in (D1, D2, D3):
        lines.append(f"{day}," + ",".join(str(p) for p in SYMBOLS.values()))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_whole_nights_through_a_real_worker_and_a_second_run_changes_nothing(
    alice, alice_household, settings, market_csv, override_checks
):
    trade_day = [D2]
    sandbox = SandboxCustodian(secret=settings.CUSTODIAN_WEBHOOK_SECRET, today=lambda: trade_day[0])
    settings.CUSTODIAN_URL = sandbox.start()
    settings.MARKET_DATA_ADAPTER = "csv"
    settings.MARKET_DATA_CSV = str(market_csv)
    override_checks(PRETRADE_CHECKS)  # compliance's checks are tested by compliance
    settings.OPERATIONS_ALERT_EMAILS = ["ops@example.com"]
    book = build_book(alice_household, funded_on=date(2026, 11, 2), price_days=[], drifted=3, balanced=2)
    mirror_into_sandbox(sandbox, book.accounts, day=date(2026, 11, 2))
    webhooks = Client()

    def deliver():
        return sandbox.deliver_pending(
            lambda body, headers: (
                webhooks.post(
                    "/webhooks/custodian/",
                    data=body,
                    content_type="application/json",
                    headers={k: v for k, v in headers.items() if k != "Content-Type"},
                ).status_code
            )
        )

    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
            # Night 1: the drifted automatic accounts get proposals approved and orders sent.
            tasks.nightly.delay(D1.isoformat())
            wait_for(night_done(D1), what="night 1")
            # The sells go out at once; each buy waits for its own sell's proceeds (awaiting_funds).
            wait_for(lambda: sandbox.order_count() >= 3, what="the sells at the custodian")
            assert Order.objects.filter(side="buy", status="awaiting_funds").count() == 3
            assert {r.job: r.status for r in JobRun.objects.filter(business_date=D1)} == {
                "prices": "succeeded",
                "corporate_actions": "succeeded",
                "valuations": "succeeded",
                "drift_scan": "succeeded",
                "household_rebalancing": "succeeded",
                "settlement": "succeeded",
                "reconciliation": "succeeded",
            }
            proposals = RebalanceProposal.objects.filter(as_of=D1)
            assert proposals.count() == 5
            assert proposals.filter(needed=True, status="approved").count() == 3
            assert not ReconciliationBreak.objects.exists()

            # The fills come back (trade date D2) before night 2: the sells' fills release the
            # buys, which go out and fill in turn.
            wait_for(
                lambda: (
                    deliver() >= 0
                    and not sandbox.pending_webhook_count()
                    and sandbox.order_count() == 6
                    and Order.objects.exclude(status="filled").count() == 0
                ),
                what="fills",
            )
            trade_day[0] = D3
            tasks.nightly.delay(D2.isoformat())
            wait_for(night_done(D2), what="night 2")
            assert JobRun.objects.get(job="reconciliation", business_date=D2).counts == {
                "accounts": 5,
                "clean": 5,
                "breaks": 0,
            }
            assert not ReconciliationBreak.objects.exists()
            tasks.nightly.delay(D3.isoformat())
            wait_for(night_done(D3), what="night 3")
            assert JobRun.objects.get(job="settlement", business_date=D3).counts["settled"] == 6
            assert not ReconciliationBreak.objects.exists()

            # The same nights again: every stage is passed over and nothing changes anywhere.
            before = table_counts()
            for n, day in enumerate((D1, D2, D3), start=4):
                tasks.nightly.delay(day.isoformat())
                wait_for(chain_walked(n), what=f"rerun of {day}")
            assert table_counts() == before
            assert sandbox.order_count() == 6
    finally:
        sandbox.stop()
    assert ledger.verify() == []
    held = {(p.account_id, p.security.symbol): p.quantity for p in apps.get_model("portfolios.Position").objects.all()}
    first = book.accounts[0]
    # 80/10/10 of 100,000 + 1,000 cash -> 60/30/10 of 101,000: VTI to 606 shares
    assert held[(first.pk, "VTI")] < Decimal(800)
