"""Data migration: the roles' permissions on the onboarding models.

Operations upload agreement templates (and see signatures); compliance officers see
everything; documents themselves are opened through the scoped pages and API, not the admin.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "operations": {"agreementtemplate": ["view", "add", "change"], "signature": ["view"]},
    "compliance officer": {"agreementtemplate": ["view"], "signature": ["view"]},
}


def grant(apps, schema_editor):
    config = apps.get_app_config("onboarding")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, models in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        codenames = [f"{action}_{model}" for model, actions in models.items() for action in actions]
        group.permissions.add(*Permission.objects.filter(content_type__app_label="onboarding", codename__in=codenames))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="onboarding"))


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0001_agreements_signatures_documents"),
        ("accounts", "0002_create_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
