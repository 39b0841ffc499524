"""Data migration: the schedule of the jobs, in django-celery-beat's DatabaseScheduler.

Editable afterwards in the admin (Periodic tasks). Times are in the firm's time zone
(settings.TIME_ZONE, which is also CELERY_TIMEZONE). Jobs that only make sense on trading
days check the business calendar themselves and record "skipped: not a trading day".
"""

from django.conf import settings
from django.db import migrations

# name: (task, crontab (minute, hour, day_of_week, day_of_month, month_of_year) or seconds, description)
SCHEDULE = {
    "Nightly close (prices, valuations, drift scan, settlement, reconciliation)": (
        "operations.nightly",
        ("30", "17", "1-5", "*", "*"),
        "After the close, for today's business date: a chain of the five stages.",
    ),
    "AML re-screening (weekly)": ("operations.aml_rescreen", ("0", "6", "0", "*", "*"), "Sundays 06:00."),
    "Fee billing preview (quarterly)": (
        "operations.billing",
        ("0", "7", "*", "1", "1,4,7,10"),
        "First day of each quarter: a draft billing run of the previous quarter for operations to approve.",
    ),
    "Clear expired credentials (daily)": ("accounts.clear_expired_credentials", ("15", "3", "*", "*", "*"), ""),
    "Outbox relay": ("trading.relay_outbox", 10, "Sends pending order messages to the custodian every 10 seconds."),
}


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, when, description) in SCHEDULE.items():
        if isinstance(when, int):
            interval, _ = IntervalSchedule.objects.get_or_create(every=when, period="seconds")
            timing = {"interval": interval, "crontab": None}
        else:
            minute, hour, day_of_week, day_of_month, month_of_year = when
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week=day_of_week,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                timezone=settings.TIME_ZONE,
            )
            timing = {"crontab": crontab, "interval": None}
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "description": description, "enabled": True, **timing}
        )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(SCHEDULE)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_jobs_reconciliation_billing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
