"""Data migration: the operations role gets the operations permissions (and views of the schedule)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = [
    "jobrun",
    "jobchunk",
    "reconciliationbreak",
    "feeschedule",
    "feetier",
    "feeassignment",
    "billingrun",
    "feecharge",
]


def grant(apps, schema_editor):
    config = apps.get_app_config("operations")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operations")
    codenames = [f"{action}_{model}" for model in MODELS for action in ("view", "add", "change")]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="operations", codename__in=codenames))
    beat = apps.get_app_config("django_celery_beat")
    beat.models_module = True
    create_permissions(beat, apps=apps, verbosity=0)
    beat.models_module = None
    group.permissions.add(*Permission.objects.filter(content_type__app_label="django_celery_beat"))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="operations"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label__in=["operations", "django_celery_beat"])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0002_schedule_jobs"),
        ("accounts", "0002_create_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
