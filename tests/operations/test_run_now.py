"""Operations' "Run now" for the nightly job: queued once, by operations staff only, with CSRF."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from operations import tasks
from operations.models import JobRun
from tests.operations.factories import ops_user
from tests.pages import visible_text

pytestmark = pytest.mark.django_db

URL = "/ops/jobs/nightly/run/"


@pytest.fixture
def queued(monkeypatch):
    """Tasks handed to the broker (the boundary this process crosses): (args, options) per send."""
    sent: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(tasks.nightly, "apply_async", lambda args=(), **options: sent.append((tuple(args), options)))
    return sent


@pytest.fixture(autouse=True)
def _fresh_hold():
    from django.core.cache import cache

    cache.delete(f"operations:run-now:nightly:{timezone.localdate().isoformat()}")
    yield
    cache.delete(f"operations:run-now:nightly:{timezone.localdate().isoformat()}")


def test_the_dashboard_offers_run_now_to_operations(verified_client, alice):
    page = verified_client(ops_user(alice.firm)).get(reverse("operations:dashboard"))
    assert page.status_code == 200
    assert f'action="{URL}"' in page.text and "csrfmiddlewaretoken" in page.text
    assert "Run the nightly job now" in visible_text(page.content)


def test_run_now_queues_the_nightly_job_once_however_often_it_is_pressed(
    verified_client, alice, queued, django_capture_on_commit_callbacks
):
    client = verified_client(ops_user(alice.firm))
    today = timezone.localdate().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(URL, follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(URL, follow=True)
    assert queued == [((today,), {})]
    assert f"The nightly job for {today} is queued" in visible_text(first.content)
    assert f"The nightly job for {today} is already queued; nothing more was queued." in visible_text(second.content)


def test_run_now_queues_nothing_once_the_days_chain_has_started(
    verified_client, alice, queued, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    JobRun.objects.create(job="prices", business_date=today, status=JobRun.Status.SUCCEEDED, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        page = verified_client(ops_user(alice.firm)).post(URL, follow=True)
    assert queued == []
    assert f"The nightly job for {today:%Y-%m-%d} already ran (succeeded); nothing was queued." in visible_text(
        page.content
    )


def test_the_queued_task_runs_the_chain_for_the_day_it_was_pressed(queued, monkeypatch):
    from operations import jobs, services

    started = []
    monkeypatch.setattr(jobs, "stage_start", lambda name, day, then=(): started.append((name, day, list(then))))
    services.nightly_run_now(acting_user=None, business_date=date(2025, 3, 17))
    tasks.nightly("2025-03-17")  # what the worker does with the message
    assert started == [
        (
            "prices",
            date(2025, 3, 17),
            ["corporate_actions", "valuations", "drift_scan", "household_rebalancing", "settlement", "reconciliation"],
        )
    ]


def test_only_operations_staff_may_run_it(verified_client, alice, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert verified_client(alice.user).post(URL).status_code == 404  # an advisor
    assert queued == []


def test_run_now_is_a_post_with_a_csrf_token(verified_client, alice, queued, django_capture_on_commit_callbacks):
    client = verified_client(ops_user(alice.firm))
    assert client.get(URL).status_code == 405
    client.handler.enforce_csrf_checks = True
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(URL).status_code == 403  # no token
    assert queued == []
