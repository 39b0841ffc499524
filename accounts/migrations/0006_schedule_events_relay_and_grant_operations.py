"""Data migration: publish events and send due webhook deliveries every 10 seconds; operations
may see events, subscriptions and the delivery log in the admin (and replay from a cursor).

The commit that writes events also queues the relay at once; this periodic run is the safety
net (a lost queue message, a broker outage) and what brings retries due. A PeriodicTask in
django-celery-beat's DatabaseScheduler, editable in the admin; idempotent (get_or_create by name).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATIONS_PERMISSIONS = ["view_event", "view_webhooksubscription", "view_webhookdelivery", "view_webhookattempt"]

NAME = "Events: publish and deliver webhooks (every 10 seconds)"
TASK = "accounts.events_relay"
EVERY_SECONDS = 10


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "enabled": True,
            "description": "Gives committed events their cursor positions, makes their webhook deliveries "
            "and sends the deliveries that are due.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


def grant(apps, schema_editor):
    config = apps.get_app_config("accounts")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operations")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=OPERATIONS_PERMISSIONS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_events_outbox_and_webhooks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(schedule, unschedule),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
