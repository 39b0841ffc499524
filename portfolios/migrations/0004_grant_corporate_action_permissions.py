"""Data migration: operations enter and correct corporate actions and see entitlements;
compliance officers see both."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "operations": {"corporateaction": ["view", "add", "change"], "corporateactionentitlement": ["view"]},
    "compliance officer": {"corporateaction": ["view"], "corporateactionentitlement": ["view"]},
}


def grant(apps, schema_editor):
    config = apps.get_app_config("portfolios")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, models in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        codenames = [f"{action}_{model}" for model, actions in models.items() for action in actions]
        group.permissions.add(*Permission.objects.filter(content_type__app_label="portfolios", codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    codenames = [f"{a}_{m}" for models in ROLE_PERMISSIONS.values() for m, actions in models.items() for a in actions]
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="portfolios", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("portfolios", "0003_corporate_actions"),
        ("accounts", "0002_create_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
