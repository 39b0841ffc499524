"""Data migration: the billing job runs on the first day of every month (monthly schedules bill
each month; quarterly ones only when a quarter has just ended, `billing_previews_create`), under
a name that says so. An entry edited in the admin keeps its edits but for the day and name."""

from django.conf import settings
from django.db import migrations

OLD = "Fee billing preview (quarterly)"
NEW = "Fee billing preview (monthly; quarterly schedules at quarter ends)"


def reschedule(apps, schema_editor, *, month_of_year: str = "*", name: str = NEW, was: str = OLD) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    task = PeriodicTask.objects.filter(name=was).first()
    if task is None:
        return
    old = task.crontab
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=old.minute if old else "0",
        hour=old.hour if old else "7",
        day_of_week="*",
        day_of_month="1",
        month_of_year=month_of_year,
        timezone=old.timezone if old else settings.TIME_ZONE,
    )
    task.crontab, task.name = crontab, name
    task.description = "First day of each month: draft billing runs of the period just ended for operations to approve."
    task.save()


def back(apps, schema_editor) -> None:
    reschedule(apps, schema_editor, month_of_year="1,4,7,10", name=OLD, was=NEW)


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0007_billing_groups_advance_minimums_payers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(reschedule, back)]
