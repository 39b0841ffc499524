"""Data migration: the four roles as groups with their permissions on accounts models.

Later apps grant their own models' permissions to these groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "investor": ["view_household", "view_investor"],
    "advisor": [
        "view_household",
        "change_household",
        "add_household",
        "view_investor",
        "add_investor",
        "change_investor",
        "view_householdmember",
        "add_householdmember",
    ],
    "compliance officer": [
        "view_user",
        "view_firm",
        "view_advisor",
        "view_household",
        "view_investor",
        "view_householdmember",
    ],
    "operations": [
        "view_user",
        "change_user",
        "add_user",
        "view_firm",
        "change_firm",
        "view_advisor",
        "change_advisor",
        "add_advisor",
        "view_household",
        "change_household",
        "add_household",
        "view_investor",
        "change_investor",
        "add_investor",
        "view_householdmember",
        "change_householdmember",
        "add_householdmember",
    ],
}


def create_roles(apps, schema_editor):
    accounts_config = apps.get_app_config("accounts")
    accounts_config.models_module = True
    create_permissions(accounts_config, apps=apps, verbosity=0)
    accounts_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
