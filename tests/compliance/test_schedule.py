import importlib

import pytest
from django.apps import apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from kronos.celery import app as celery_app

pytestmark = pytest.mark.django_db

migration = importlib.import_module("compliance.migrations.0003_schedule_kyc_refresh_pending")


def test_it_schedules_the_kyc_refresh_every_five_minutes():
    task = PeriodicTask.objects.select_related("interval").get(task="compliance.kyc_refresh_pending")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (5, IntervalSchedule.MINUTES)
    assert task.crontab is None
    celery_app.autodiscover_tasks(force=True)
    assert "compliance.kyc_refresh_pending" in celery_app.tasks  # the name beat sends is a real task


def test_running_the_schedule_again_changes_nothing():
    task = PeriodicTask.objects.get(task="compliance.kyc_refresh_pending")
    task.enabled = False  # an edit made in the admin survives a rerun
    task.save()
    migration.schedule(apps, None)
    migration.schedule(apps, None)
    assert PeriodicTask.objects.filter(task="compliance.kyc_refresh_pending").count() == 1
    assert IntervalSchedule.objects.filter(every=5, period=IntervalSchedule.MINUTES).count() == 1
    assert PeriodicTask.objects.get(task="compliance.kyc_refresh_pending").enabled is False
