"""Data migration: the roles' permissions on the portfolios models.

Operations keep securities, prices, models and accounts (and see the ledger); compliance
officers see everything; advisors manage models and accounts; investors see their accounts.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDIT = ["view", "add", "change"]
ROLE_PERMISSIONS = {
    "operations": {
        "security": EDIT,
        "price": EDIT,
        "modelportfolio": EDIT,
        "modeltarget": EDIT + ["delete"],
        "investmentaccount": EDIT,
        "ledgerbook": ["view"],
        "journalentry": ["view"],
        "posting": ["view"],
        "position": ["view"],
        "cashbalance": ["view"],
        "taxlot": ["view"],
        "lotclosure": ["view"],
        "valuationsnapshot": ["view"],
    },
    "compliance officer": {
        model: ["view"]
        for model in [
            "security",
            "price",
            "modelportfolio",
            "modeltarget",
            "investmentaccount",
            "ledgerbook",
            "journalentry",
            "posting",
            "position",
            "cashbalance",
            "taxlot",
            "lotclosure",
            "valuationsnapshot",
        ]
    },
    "advisor": {
        "security": ["view"],
        "price": ["view"],
        "modelportfolio": EDIT,
        "modeltarget": EDIT,
        "investmentaccount": EDIT,
        "position": ["view"],
        "cashbalance": ["view"],
        "taxlot": ["view"],
        "valuationsnapshot": ["view"],
    },
    "investor": {"investmentaccount": ["view"], "position": ["view"], "valuationsnapshot": ["view"]},
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
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="portfolios"))


class Migration(migrations.Migration):
    dependencies = [
        ("portfolios", "0001_securities_models_accounts_ledger"),
        ("accounts", "0002_create_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
