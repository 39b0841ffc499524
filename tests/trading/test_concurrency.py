"""Concurrency on PostgreSQL: real transactions, threads, the sandbox custodian hurting us."""

import random
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from portfolios.models import CashBalance, InvestmentAccount, Position, Posting
from tests.trading.factories import account_with
from trading import services
from trading.errors import TradingError
from trading.lifecycle import END_STATES
from trading.models import Order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal


def run_threads(n, target):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except Exception as exc:  # noqa: BLE001 -- surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_the_same_order_sent_20_times_at_once_with_one_key_exists_once(api, alice, advisor_account, sandbox):
    body = {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "5"}
    clients = [api(alice.user) for _ in range(20)]
    barrier = threading.Barrier(20)
    statuses = []

    def send(i):
        barrier.wait()
        response = clients[i].post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
        statuses.append((response.status_code, response.json().get("id")))

    assert run_threads(20, send) == []
    assert {s for s, _ in statuses} == {201}
    assert len({i for _, i in statuses}) == 1
    assert Order.objects.count() == 1
    sandbox.relay()
    sandbox.deliver()
    sandbox.deliver()
    order = Order.objects.get()
    assert order.status == "filled" and order.executions.count() == 1


def test_a_batch_of_200_orders_survives_a_failing_custodian_and_bad_webhooks(
    alice, alice_household, securities, sandbox
):
    accounts = [account_with(alice_household, cash="100000.00") for _ in range(4)]
    rng = random.Random(11)
    orders = []
    for i in range(200):
        account = accounts[i % 4]
        symbol = rng.choice(["AAPL", "BND", "VTI"])
        if i >= 100 and rng.random() < 0.5:
            held = {
                p.security.symbol: p.quantity
                for p in Position.objects.filter(account=account).select_related("security")
            }
            sellable = [s for s, q in held.items() if q >= 1]
            if sellable:
                orders.append(
                    services.order_create(
                        account=account,
                        security=sellable[0],
                        side="sell",
                        quantity=D("1"),
                        acting_user=alice.user,
                        source="job",
                    )
                )
                continue
        orders.append(
            services.order_create(
                account=account,
                security=symbol,
                side="buy",
                quantity=D(rng.randint(1, 5)),
                acting_user=alice.user,
                source="job",
            )
        )
        if i == 99:  # let the first half fill so the second half can sell
            _drain(sandbox)
        if i == 40:
            sandbox.sandbox.options.fail_rate = 0.3
            sandbox.sandbox.options.duplicate_rate = 0.3
            sandbox.sandbox.options.reorder = True
    _drain(sandbox)
    assert sandbox.sandbox.stats.injected_failures > 10
    from trading.models import WebhookEvent

    assert WebhookEvent.objects.count() < sandbox.sandbox.stats.webhooks_sent  # duplicates were dropped
    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses <= set(END_STATES), statuses
    assert Order.objects.filter(status="filled").count() == 200
    for account in accounts:
        statement = sandbox.sandbox.statement(account.custodian_account_number, timezone.localdate())
        ours = {
            p.security.symbol: p.quantity
            for p in Position.objects.filter(account=account).select_related("security")
            if p.quantity
        }
        assert {s: D(q) for s, q in statement["positions"].items()} == ours
        cash = CashBalance.objects.get(account=account).amount
        assert D(statement["cash"]) == cash - D("100000.00")


def _drain(sandbox):
    """Relay with 4 concurrent relays (skip_locked) and deliver webhooks until all is quiet."""
    for k in range(50):
        later = timezone.now() + timedelta(days=k + 1)  # past every backoff so far
        errors = run_threads(4, lambda i: sandbox.relay(now=later))
        assert errors == []
        sandbox.deliver()
        if not Order.objects.exclude(status__in=END_STATES).exists() and not sandbox.sandbox.pending_webhook_count():
            return
    raise AssertionError("orders never settled into end states")


def _wait_until_blocked_on_a_lock(timeout=10.0):
    """Wait until another connection is waiting for a row lock (pg_stat_activity; its snapshot
    is kept for the whole transaction unless cleared)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the other transaction never waited for the lock")


def test_a_buy_that_waited_for_a_withdrawal_sees_the_cash_after_it(alice, alice_household, securities):
    """A buy placed while a withdrawal holds the account's lock is checked against the cash left
    after the withdrawal commits, not the cash from before it (PostgreSQL READ COMMITTED: a
    FOR UPDATE that waited re-reads the locked row, but its subqueries keep the old snapshot)."""
    account = account_with(alice_household, cash="1000.00")
    withdrawing, results = threading.Event(), []

    def withdraw(i):
        with transaction.atomic():
            services.transfer_create(account=account, direction="withdrawal", amount=D("900"), acting_user=alice.user)
            withdrawing.set()
            _wait_until_blocked_on_a_lock()

    def buy(i):
        withdrawing.wait(10)
        try:  # 10 BND at 70 needs 700.00; after the withdrawal 100.00 is left
            order = services.order_create(
                account=account, security="BND", side="buy", quantity=D("10"), acting_user=alice.user, source="job"
            )
            results.append(order.status)
        except TradingError as exc:
            results.append(exc.code)

    assert run_threads(2, lambda i: (withdraw if i == 0 else buy)(i)) == []
    assert results == ["insufficient_cash"]
    assert CashBalance.objects.get(account=account).amount == D("100.00")
    assert not Order.objects.filter(account=account).exists()


def test_jepsen_bank_concurrent_money_moves_never_show_a_bad_total(alice, alice_household, securities):
    """Many random deposits, withdrawals and trades at once; a reader in one snapshot never sees
    the client balances differ from their postings, a negative balance, or unbalanced entries."""
    accounts = [account_with(alice_household, cash="1000.00", positions=[("BND", "20", "60")]) for _ in range(5)]
    from sandboxes.banking import SandboxBank
    from trading.adapters.banking import RestBanking

    bank = SandboxBank()
    banking = RestBanking(bank.start(), retries=0)
    stop = threading.Event()
    anomalies = []
    reads = [0]

    def reader():
        try:
            while not stop.is_set():
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    balances = CashBalance.objects.aggregate(t=Sum("amount"))["t"] or D(0)
                    posted = Posting.objects.filter(book__kind="client", security__isnull=True).aggregate(
                        t=Sum("quantity")
                    )["t"] or D(0)
                    all_cash = Posting.objects.filter(security__isnull=True).aggregate(t=Sum("quantity"))["t"] or D(0)
                    negative = (
                        CashBalance.objects.filter(amount__lt=0).count()
                        + Position.objects.filter(quantity__lt=0).count()
                    )
                    if balances != posted or all_cash != 0 or negative:
                        anomalies.append((balances, posted, all_cash, negative))
                    reads[0] += 1
        finally:
            connections.close_all()

    def worker(i):
        rng = random.Random(i)
        user = alice.user
        for n in range(12):
            account = InvestmentAccount.objects.get(pk=rng.choice(accounts).pk)
            op = rng.random()
            try:
                if op < 0.3:
                    t = services.transfer_create(
                        account=account,
                        direction="deposit",
                        amount=D(rng.randint(1, 300)),
                        acting_user=user,
                        idempotency_key=f"d-{i}-{n}",
                    )
                    services.transfer_bank_submit(transfer=t, banking=banking, acting_user=user)
                elif op < 0.6:
                    services.transfer_create(
                        account=account, direction="withdrawal", amount=D(rng.randint(1, 400)), acting_user=user
                    )
                else:
                    side = rng.choice(["buy", "sell"])
                    order = services.order_create(
                        account=account,
                        security="BND",
                        side=side,
                        quantity=D(rng.randint(1, 4)),
                        acting_user=user,
                        source="job",
                    )
                    if order.status == "approved":
                        services.execution_apply(
                            fill=services.Fill(
                                client_order_id=order.client_order_id,
                                execution_id=uuid.uuid4().hex,
                                quantity=order.quantity,
                                price=order.estimated_price,
                                trade_date=timezone.localdate(),
                            ),
                            acting_user=user,
                        )
            except TradingError:
                pass  # refused (not enough cash or shares): nothing changed

    reader_thread = threading.Thread(target=reader)
    reader_thread.start()
    try:
        errors = run_threads(8, worker)
    finally:
        stop.set()
        reader_thread.join(30)
        bank.stop()
    assert errors == []
    assert reads[0] > 5
    assert anomalies == []
    assert not CashBalance.objects.filter(amount__lt=0).exists()
