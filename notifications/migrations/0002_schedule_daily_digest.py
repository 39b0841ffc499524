"""Data migration: the notifications' daily digest email, every morning at 07:00 in the firm's time
zone (settings.TIME_ZONE), in django-celery-beat's DatabaseScheduler (editable in the admin).
Idempotent: get_or_create by the task's name, so running it again neither duplicates the entry
nor undoes an edit made in the admin."""

from django.conf import settings
from django.db import migrations

NAME = "Notifications: daily digest email"
TASK = "notifications.send_digests"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "One email per user with the notifications they chose to receive as a digest.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_inbox_and_preferences"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
