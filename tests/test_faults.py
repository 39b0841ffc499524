"""Faults for "Ready for production": the database connection dropped mid-request, Redis
down while orders are placed, the custodian down for a night. Each test proves that
nothing is lost and nothing is half-written, then that the work completes exactly once.

Real PostgreSQL transactions (transaction=True), the sandbox custodian on a local port.
"""

import importlib
import logging
import socket
import uuid
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import IdempotencyKey
from accounts.services import system_user
from kronos.celery import app as celery_app
from portfolios import ledger
from portfolios.models import CashBalance, JournalEntry
from sandboxes.custodian import SandboxCustodian
from tests.operations.book import mirror_into_sandbox
from tests.trading.factories import account_with, securities  # noqa: F401 -- fixture
from trading import services
from trading.adapters.custodian import RestCustodian
from trading.models import CashTransfer, Order, OutboxMessage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal
SECRET = "test-webhook-secret"


# --- setup -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _roles(_django_db_helper):
    """A transactional test's flush drops the groups the data migrations made: put them back."""
    from django.apps import apps

    for module in ("accounts.migrations.0002_create_roles", "trading.migrations.0002_grant_role_permissions"):
        migration = importlib.import_module(module)
        (getattr(migration, "create_roles", None) or migration.grant)(apps, None)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TRADING_PRETRADE_CHECKS = []  # compliance has its own tests; here the plumbing is under test
    settings.TRADING_FUNDING_CHECKS = []
    settings.TRADING_RELAY_ON_COMMIT = False
    settings.CUSTODIAN_WEBHOOK_SECRET = SECRET
    settings.CUSTODIAN_RETRIES = 0


@pytest.fixture(autouse=True)
def _ledger_consistent():
    yield
    connection.close_if_unusable_or_obsolete()
    assert ledger.verify() == []


@pytest.fixture
def account(alice_household, securities):  # noqa: F811
    """alice's account: $10,000.00 cash and 100 AAPL (price 150)."""
    return account_with(alice_household, cash="10000.00", positions=[("AAPL", "100", "100")])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Custodian:
    """The sandbox custodian, startable later on a fixed port (down until `start()`);
    `deliver()` posts its queued webhooks to our endpoint through the test client."""

    def __init__(self, client):
        self.client = client
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sandbox = SandboxCustodian(secret=SECRET, seed=7)
        self.running = False

    def start(self):
        self.sandbox.start(port=self.port)
        self.running = True

    def stop(self):
        if self.running:
            self.sandbox.stop()
            self.running = False

    def client_api(self):
        return RestCustodian(self.url, retries=0, timeout=2, sleep=lambda s: None)

    def relay(self, **kwargs):
        return services.relay_outbox(custodian=self.client_api(), **kwargs)

    def _send(self, body, headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        return self.client.post("/webhooks/custodian/", data=body, content_type="application/json", **extra).status_code

    def deliver(self):
        total = 0
        while self.sandbox.pending_webhook_count():
            total += self.sandbox.deliver_pending(self._send)
        return total


@pytest.fixture
def custodian(client, settings):
    c = Custodian(client)
    settings.CUSTODIAN_URL = c.url
    yield c
    c.stop()


def order_body(account, symbol="BND", quantity="10"):
    return {"account": account.pk, "symbol": symbol, "side": "buy", "quantity": quantity}


# --- a. PostgreSQL connection dropped in the middle of a money-moving request ------------------


def _terminate_own_backend():
    """Kill this thread's PostgreSQL backend from another connection, as a failover or an
    administrator's pg_terminate_backend would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"] or 5432, password=s["PASSWORD"] or None
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True


def _dropping_once(original):
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            _terminate_own_backend()
        return original(*args, **kwargs)

    return step, calls


def test_an_order_whose_database_connection_drops_mid_request_leaves_nothing_and_its_retry_lands_once(
    api, alice, account, monkeypatch
):
    from trading.services import orders as order_services

    # The order row is written, then the connection dies before its checks and outbox row.
    step, calls = _dropping_once(order_services.run_pretrade_checks)
    monkeypatch.setattr(order_services, "run_pretrade_checks", step)
    client = api(alice.user)
    client.raise_request_exception = False
    key = str(uuid.uuid4())

    response = client.post("/api/v1/orders/", order_body(account), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert calls["n"] == 1
    assert response.status_code == 500
    assert response.json() == {"detail": "Server error. It has been logged; please retry."}
    connection.close_if_unusable_or_obsolete()  # what Django does when a request ends
    assert Order.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert not IdempotencyKey.objects.filter(key=key).exists()
    assert ledger.verify() == []

    retry = client.post("/api/v1/orders/", order_body(account), format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post("/api/v1/orders/", order_body(account), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert retry.status_code == 201 and retry.json()["status"] == "approved"
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == retry.json()["id"]
    order = Order.objects.get()
    assert list(order.outbox.values_list("kind", "status")) == [("submit_order", "pending")]
    assert order.reserved_amount > 0


def test_a_withdrawal_whose_connection_drops_after_the_debit_is_posted_debits_nothing_and_its_retry_once(
    api, alice, account, monkeypatch
):
    from trading.services import transfers

    cash_before = CashBalance.objects.get(account=account).amount
    entries_before = JournalEntry.objects.count()
    # The cash is debited in the ledger, then the connection dies before the outbox row.
    step, calls = _dropping_once(transfers.ledger.post_entry)
    monkeypatch.setattr(transfers.ledger, "post_entry", step)
    client = api(alice.user)
    client.raise_request_exception = False
    key = str(uuid.uuid4())
    body = {"amount": {"amount": "250.00", "currency": "USD"}}
    url = f"/api/v1/accounts/{account.pk}/withdrawals/"

    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert calls["n"] == 1
    assert response.status_code == 500 and "retry" in response.json()["detail"]
    connection.close_if_unusable_or_obsolete()
    assert CashTransfer.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert JournalEntry.objects.count() == entries_before
    assert CashBalance.objects.get(account=account).amount == cash_before
    assert ledger.verify() == []

    monkeypatch.undo()
    retry = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert retry.status_code == 201 and again.json()["id"] == retry.json()["id"]
    transfer = CashTransfer.objects.get()
    assert transfer.entry is not None and transfer.outbox.count() == 1
    assert CashBalance.objects.get(account=account).amount == cash_before - D("250.00")
    assert JournalEntry.objects.count() == entries_before + 1


# --- b. Redis (the Celery broker) down while orders are placed ---------------------------------


@pytest.fixture
def broker_down(settings, monkeypatch):
    """Celery's broker pointed at a closed port, as when Redis is down; restored afterwards.
    (Celery reads the CELERY_BROKER_URL environment variable before its configuration.)"""
    saved = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)

    def point_at(url, eager):
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        settings.CELERY_BROKER_URL = url
        celery_app.conf.broker_url = url
        celery_app.conf.task_always_eager = eager
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    point_at(f"redis://127.0.0.1:{free_port()}/4", False)
    assert celery_app.conf.broker_url.endswith("/4") and ":6379/" not in celery_app.conf.broker_url
    yield lambda: point_at(*saved)
    point_at(*saved)


def test_orders_placed_while_redis_is_down_wait_in_the_outbox_and_reach_the_custodian_once(
    api, alice, account, custodian, broker_down, settings, caplog
):
    settings.TRADING_RELAY_ON_COMMIT = True  # each order asks a worker to relay at once: the broker is down
    custodian.start()
    client = api(alice.user)
    caplog.set_level(logging.WARNING, logger="trading.tasks")

    responses = [
        client.post("/api/v1/orders/", order_body(account, symbol, "3"), format="json", HTTP_IDEMPOTENCY_KEY=f"k{i}")
        for i, symbol in enumerate(["BND", "VTI", "BND", "AAPL"])
    ]

    assert [r.status_code for r in responses] == [201] * 4
    assert [r.json()["status"] for r in responses] == ["approved"] * 4
    kicks = [r for r in caplog.records if "could not queue the outbox relay" in r.getMessage()]
    assert len(kicks) == 4  # the broker really was unreachable, and the request did not fail
    assert OutboxMessage.objects.filter(kind="submit_order", status="pending").count() == 4
    assert custodian.sandbox.order_count() == 0

    broker_down()  # Redis is back; the periodic relay (beat -> worker) runs it
    first = custodian.relay()
    second = custodian.relay()
    custodian.deliver()

    assert (first.sent, first.retried, second.sent) == (4, 0, 0)
    assert custodian.sandbox.order_count() == 4
    assert custodian.sandbox.stats.duplicates_deduped == 0
    assert set(Order.objects.values_list("status", flat=True)) == {"filled"}
    assert all(o.executions.count() == 1 for o in Order.objects.prefetch_related("executions"))
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


# --- c. The custodian down for a whole night ---------------------------------------------------


def _place(account, n=3):
    return [
        services.order_create(
            account=account,
            security=symbol,
            side="buy",
            quantity=D("2"),
            acting_user=system_user(),
            source=Order.Source.JOB,
            idempotency_key=f"night-{i}",
        )
        for i, symbol in zip(range(n), ["BND", "VTI", "BND"], strict=False)
    ]


def _relay_through(custodian, start, hours, step_minutes=5):
    """The periodic relay during `hours` from `start` (beat runs it every 10 s; every due
    message is retried at its backoff, so a step of a few minutes sees every attempt)."""
    results = []
    for k in range(int(hours * 60 / step_minutes) + 1):
        results.append(custodian.relay(now=start + timedelta(minutes=k * step_minutes)))
    return results


def _assert_completes_once(custodian, account, orders, after):
    custodian.start()
    result = custodian.relay(now=after)
    custodian.deliver()
    assert result.sent == len(orders) and result.dead == 0
    assert custodian.relay(now=after + timedelta(hours=1)).sent == 0
    assert custodian.sandbox.order_count() == len(orders)
    assert custodian.sandbox.stats.duplicates_deduped == 0
    for order in orders:
        order.refresh_from_db()
        assert order.status == "filled", (order.status, order.status_reason)
        assert order.executions.count() == 1

    from operations.models import ReconciliationBreak
    from operations.services import reconcile_accounts

    today = timezone.localdate()
    outcome = reconcile_accounts(
        account_ids=[account.pk], business_date=today, acting_user=system_user(), custodian=custodian.client_api()
    )
    breaks = [(b.asset, b.ours, b.theirs) for b in ReconciliationBreak.objects.all()]
    assert breaks == []  # positions and cash match the custodian's statement
    assert outcome.counts == {"accounts": 1, "clean": 1, "breaks": 0}


def test_orders_queued_during_a_custodian_outage_within_the_retry_budget_complete_once(account, custodian):
    mirror_into_sandbox(custodian.sandbox, [account], day=timezone.localdate())
    orders = _place(account)
    start = timezone.now()

    during = _relay_through(custodian, start, hours=0.5)

    assert sum(r.sent for r in during) == 0 and sum(r.dead for r in during) == 0
    assert sum(r.retried for r in during) > 0
    assert all(o.status == "approved" for o in Order.objects.all())
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}

    # The night's reconciliation while the custodian is down records it per account and goes on.
    from operations.models import ReconciliationBreak
    from operations.services import reconcile_accounts

    outcome = reconcile_accounts(
        account_ids=[account.pk],
        business_date=timezone.localdate(),
        acting_user=system_user(),
        custodian=custodian.client_api(),
    )
    assert outcome.errors and not ReconciliationBreak.objects.exists()

    _assert_completes_once(custodian, account, orders, after=start + timedelta(hours=1))


def test_orders_queued_while_the_custodian_is_down_all_night_stay_queued_and_complete_once(account, custodian):
    mirror_into_sandbox(custodian.sandbox, [account], day=timezone.localdate())
    orders = _place(account)
    start = timezone.now()

    during = _relay_through(custodian, start, hours=12, step_minutes=10)

    assert sum(r.sent for r in during) == 0
    statuses = list(Order.objects.values_list("status", flat=True))
    assert statuses == ["approved"] * len(orders), statuses
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"pending"}

    _assert_completes_once(custodian, account, orders, after=start + timedelta(hours=13))


def test_an_order_is_given_up_only_after_a_day_and_a_half_of_outage(account, custodian):
    orders = _place(account)
    start = timezone.now()
    _relay_through(custodian, start, hours=35, step_minutes=30)
    assert set(Order.objects.values_list("status", flat=True)) == {"approved"}
    last = custodian.relay(now=start + timedelta(hours=37))
    assert last.dead == len(orders)
    for order in orders:
        order.refresh_from_db()
        assert order.status == "failed"
        assert "could not be reached" in order.status_reason
