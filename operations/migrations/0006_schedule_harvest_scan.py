"""Data migration: the daily tax-loss harvesting scan (`trading.harvest_scan`), after the close.

A PeriodicTask in django-celery-beat's DatabaseScheduler (settings.CELERY_BEAT_SCHEDULER),
editable afterwards in the admin. Idempotent: get_or_create by the task's name, so running it
again neither duplicates the entry nor undoes an edit made in the admin. It lives here, with the
other schedules of the firm's day, so trading keeps one migration of its own on this branch.
"""

from django.db import migrations

NAME = "Tax-loss harvesting scan (weekdays 16:30 New York)"
TASK = "trading.harvest_scan"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="16", day_of_week="1-5", day_of_month="*", month_of_year="*", timezone="America/New_York"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Finds lots whose loss passes the firm's thresholds and proposes selling them for the "
            "model's substitute (approved by the advisor, or at once in automatic mode).",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0005_fee_charge_awaiting_cash"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
