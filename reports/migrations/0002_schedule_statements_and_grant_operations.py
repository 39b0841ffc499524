"""Data migration: the statements' schedule in django-celery-beat's DatabaseScheduler, and the
operations role's permissions on the firm's branding, statements and batches.

Editable afterwards in the admin (Periodic tasks); times in settings.TIME_ZONE.
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

# name: (task, crontab (minute, hour, day_of_week, day_of_month, month_of_year) or seconds, description)
SCHEDULE = {
    "Quarter-end statements and performance reports": (
        "reports.quarter_end_statements",
        ("0", "5", "*", "1", "1,4,7,10"),
        "First day of each quarter: a batch per advisor of every account's statement and every "
        "household's performance report for the quarter just ended.",
    ),
    "Statements sweep": (
        "reports.statements_sweep",
        300,
        "Every 5 minutes: re-sends statements whose generation task was lost.",
    ),
}

GRANTS = {"firmbranding": ("view", "add", "change"), "statement": ("view",), "statementbatch": ("view",)}


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


def grant(apps, schema_editor):
    config = apps.get_app_config("reports")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operations")
    codenames = [f"{action}_{model}" for model, actions in GRANTS.items() for action in actions]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="reports", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="operations"):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="reports"))


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_statements_batches_branding"),
        ("accounts", "0002_create_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule), migrations.RunPython(grant, revoke)]
