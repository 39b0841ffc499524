"""The demo seeder gives operations something to show: fee schedules assigned and a completed job run."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Household, User
from operations.models import BillingRun, FeeAssignment, FeeSchedule, JobRun
from tests.pages import visible_text

pytestmark = pytest.mark.django_db


def test_the_demo_has_fee_schedules_assigned_and_completed_job_runs(verified_client):
    call_command("seed_demo", stdout=StringIO())
    households = Household.objects.filter(firm__slug="demo")
    assert households.count() >= 25
    assert FeeSchedule.objects.filter(firm__slug="demo").count() == 2
    assert FeeAssignment.objects.filter(household__in=households).count() == households.count()
    runs = JobRun.objects.order_by("job")
    assert [(r.job, r.status) for r in runs] == [("settlement", "succeeded"), ("valuations", "succeeded")]
    valuations = runs.get(job="valuations")
    assert valuations.counts["accounts"] > 0 and valuations.chunks_done == valuations.chunks_total >= 1

    ops = User.objects.get(email="ops@demo.kronos")
    client = verified_client(ops)
    text = visible_text(client.get("/ops/").content)
    assert "valuations" in text and "Succeeded" in text and "No job runs yet" not in text
    billing = client.post("/ops/billing/", {"period_start": "2026-07-01"}, follow=True)
    assert billing.status_code == 200  # the schedules bill (a preview; nothing is debited)
    run = BillingRun.objects.get(firm__slug="demo")
    assert run.charge_count > 0 and run.total > 0
    assert f"total ${run.total:,.2f}" in visible_text(billing.content)

    call_command("seed_demo", stdout=StringIO())  # again: nothing more
    assert JobRun.objects.count() == 2 and FeeSchedule.objects.count() == 2
