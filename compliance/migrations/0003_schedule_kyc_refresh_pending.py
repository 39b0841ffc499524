"""Data migration: poll the KYC provider every 5 minutes for verifications whose webhook never came.

A PeriodicTask in django-celery-beat's DatabaseScheduler (settings.CELERY_BEAT_SCHEDULER),
editable afterwards in the admin. Idempotent: get_or_create by the task's name, so running it
again neither duplicates the entry nor undoes an edit made in the admin.
"""

from django.db import migrations

NAME = "KYC: refresh pending verifications (every 5 minutes)"
TASK = "compliance.kyc_refresh_pending"
EVERY_MINUTES = 5


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "enabled": True,
            "description": "Asks the KYC provider for the result of verifications pending for more than 10 minutes.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_grant_compliance_officer_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
