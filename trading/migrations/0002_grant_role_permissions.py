"""Data migration: grant the four roles their permissions on the trading models."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "investor": ["view_order", "view_cashtransfer", "add_cashtransfer"],
    "advisor": [
        "view_order",
        "add_order",
        "change_order",
        "view_ordercheck",
        "view_execution",
        "view_rebalanceproposal",
        "add_rebalanceproposal",
        "change_rebalanceproposal",
        "view_proposaltrade",
        "view_cashtransfer",
        "add_cashtransfer",
        "view_banklink",
        "add_banklink",
    ],
    "compliance officer": [
        "view_order",
        "change_order",
        "view_ordercheck",
        "view_execution",
        "view_rebalanceproposal",
        "view_proposaltrade",
        "view_cashtransfer",
        "view_banklink",
    ],
    "operations": [
        "view_order",
        "change_order",
        "view_ordercheck",
        "view_execution",
        "view_rebalanceproposal",
        "view_proposaltrade",
        "view_cashtransfer",
        "change_cashtransfer",
        "view_banklink",
        "view_outboxmessage",
        "change_outboxmessage",
        "view_webhookevent",
    ],
}


def grant(apps, schema_editor):
    config = apps.get_app_config("trading")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="trading", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="trading")
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0001_orders_proposals_transfers_outbox"),
        ("accounts", "0002_create_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
