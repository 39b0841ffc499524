"""Batches: every account's statement and every household's report queued as one batch with its
counts; a failure is retried with backoff and shown (retrying, then failed with its error, or done),
never silently missing; the quarter-end job; the progress page."""

from unittest import mock

import pytest

from reports import services, tasks
from reports.models import Statement, StatementBatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_account(alice_household, quarter, alice, securities):
    from datetime import timedelta
    from decimal import Decimal

    from portfolios import services as portfolio_services
    from tests.portfolios.factories import InvestmentAccountFactory

    account = InvestmentAccountFactory(
        household=alice_household, name="IRA", custodian_account_number="KR-7002", opened_on=quarter.opening
    )
    portfolio_services.transfer_in(
        account=account,
        cash=Decimal("100.00"),
        acting_user=alice.user,
        idempotency_key="fund-7002",
        effective_date=quarter.start + timedelta(days=3),
    )
    return account


def _planted(fail_times: int, account_id: int):
    """statement_figures that raises for `account_id` the first `fail_times` calls."""
    from reports import selectors

    real = selectors.statement_figures
    calls = {"n": 0}

    def flaky(account, *, period_end):
        if account.pk == account_id and calls["n"] < fail_times:
            calls["n"] += 1
            raise RuntimeError("price feed unavailable (planted)")
        return real(account, period_end=period_end)

    return mock.patch("reports.selectors.statement_figures", side_effect=flaky)


def _run_all(batch):
    for s in batch.statements.all():
        services.statement_generate(statement_id=s.pk)
    batch.refresh_from_db()


def test_a_batch_counts_its_statements_and_reports(alice, statement_account, second_account, quarter):
    batch = services.batch_start(firm=alice.firm, period_end=quarter.end, acting_user=alice.user, advisor=alice)
    assert (batch.total, batch.done, batch.failed, batch.status) == (3, 0, 0, "running")  # 2 statements + 1 report
    _run_all(batch)
    assert (batch.total, batch.done, batch.failed, batch.status) == (3, 3, 0, "done")


def test_a_failed_statement_is_retried_then_done(alice, statement_account, second_account, quarter):
    batch = services.batch_start(firm=alice.firm, period_end=quarter.end, acting_user=alice.user, advisor=alice)
    target = batch.statements.get(account=second_account)
    with _planted(1, second_account.pk):
        outcome = services.statement_generate(statement_id=target.pk)
    assert outcome.retry_in == services.backoff_seconds(1) == 30
    target.refresh_from_db()
    assert (target.status, target.attempts) == ("retrying", 1)
    assert "price feed unavailable (planted)" in target.error
    batch.refresh_from_db()
    assert (batch.done, batch.failed, batch.status) == (0, 0, "running")  # retrying is still pending
    _run_all(batch)
    target.refresh_from_db()
    assert (target.status, target.attempts, target.error) == ("ready", 2, "")
    assert (batch.done, batch.failed, batch.status) == (3, 0, "done")


def test_a_statement_failing_every_attempt_is_shown_failed_and_can_be_retried(
    alice, statement_account, second_account, quarter, verified_client
):
    batch = services.batch_start(firm=alice.firm, period_end=quarter.end, acting_user=alice.user, advisor=alice)
    target = batch.statements.get(account=second_account)
    with _planted(services.MAX_ATTEMPTS, second_account.pk):
        delays = [services.statement_generate(statement_id=target.pk).retry_in for _ in range(services.MAX_ATTEMPTS)]
        _run_all(batch)
    assert delays == [30, 120, None]  # backoff, then no more retries
    target.refresh_from_db()
    assert (target.status, target.attempts) == ("failed", 3)
    assert (batch.done, batch.failed, batch.total, batch.status) == (2, 1, 3, "done_with_failures")

    client = verified_client(alice.user)
    page = client.get(f"/statements/batches/{batch.pk}/").content.decode()
    assert "2</strong> of <strong data-total>3</strong> done" in page
    assert "<strong data-failed>1</strong> failed" in page
    assert "price feed unavailable (planted)" in page and "Retry" in page

    response = client.post(f"/statements/{target.pk}/retry/")
    assert response.status_code == 302
    target.refresh_from_db()
    batch.refresh_from_db()
    assert (target.status, target.attempts, batch.failed, batch.status) == ("queued", 0, 0, "running")
    services.statement_generate(statement_id=target.pk)
    batch.refresh_from_db()
    assert (batch.done, batch.failed, batch.status) == (3, 0, "done")


def test_the_task_retries_with_the_services_backoff(alice, statement_account, quarter):
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    with _planted(1, statement_account.pk), mock.patch.object(tasks.generate_statement, "retry") as retry:
        retry.side_effect = RuntimeError("retry called")
        with pytest.raises(RuntimeError, match="retry called"):
            tasks.generate_statement.run(statement.pk)
    retry.assert_called_once_with(countdown=30)
    assert tasks.generate_statement.run(statement.pk) == "ready"


def test_the_quarter_end_job_makes_one_batch_per_advisor_once(alice, bob, statement_account, bob_household, quarter):
    from datetime import timedelta

    from tests.portfolios.factories import InvestmentAccountFactory

    InvestmentAccountFactory(household=bob_household, opened_on=quarter.opening)
    today = quarter.end + timedelta(days=1)
    batches = services.quarter_end_batches(today=today)
    assert sorted((b.advisor_id, b.total, b.period_end) for b in batches) == sorted(
        [(alice.pk, 2, quarter.end), (bob.pk, 2, quarter.end)]
    )
    assert services.quarter_end_batches(today=today) == []  # run again: nothing new
    assert Statement.objects.filter(period_end=quarter.end).count() == 4


def test_a_batch_joins_statements_that_exist_already(alice, statement_account, quarter):
    existing = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=existing.pk)
    batch = services.batch_start(firm=alice.firm, period_end=quarter.end, acting_user=alice.user, advisor=alice)
    assert (batch.total, batch.done) == (2, 1)
    assert batch.statements.filter(pk=existing.pk).exists()


def test_the_sweep_resends_statements_whose_task_was_lost(alice, statement_account, quarter):
    from datetime import timedelta

    from django.utils import timezone

    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    with mock.patch("reports.services.enqueue_after_commit") as send:
        assert services.statements_sweep() == 0  # fresh: its task may still be on its way
        assert services.statements_sweep(now=timezone.now() + services.STALE_AFTER + timedelta(seconds=1)) == 1
    send.assert_called_once_with(services.GENERATE_TASK, statement.pk)


def test_advisors_start_batches_for_their_own_book_and_see_only_theirs(
    alice, bob, ops, statement_account, quarter, verified_client
):
    client = verified_client(alice.user)
    response = client.post("/statements/batches/", {"period_end": quarter.end.isoformat()})
    assert response.status_code == 302
    batch = StatementBatch.objects.get()
    assert batch.advisor_id == alice.pk and batch.total == 2
    assert verified_client(bob.user).get(f"/statements/batches/{batch.pk}/").status_code == 404
    assert verified_client(ops).get(f"/statements/batches/{batch.pk}/").status_code == 200


def test_a_batch_for_a_future_date_is_a_form_error(alice, verified_client):
    from datetime import timedelta

    from django.utils import timezone

    tomorrow = timezone.localdate() + timedelta(days=1)
    response = verified_client(alice.user).post("/statements/batches/", {"period_end": tomorrow.isoformat()})
    assert response.status_code == 400
    assert "The period end cannot be in the future." in response.content.decode()


@pytest.fixture
def eager_celery():
    from kronos.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_through_celery_a_planted_failure_is_retried_to_ready(eager_celery, alice, statement_account, quarter):
    """The real task and Celery's retry (run at once in eager mode): attempt 1 fails, attempt 2 succeeds."""
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    with _planted(1, statement_account.pk):
        tasks.generate_statement.delay(statement.pk)
    statement.refresh_from_db()
    assert (statement.status, statement.attempts, statement.error) == ("ready", 2, "")
