"""Data migration: the compliance officer role gets the compliance permissions.

Compliance officers work the queues and read the audit trail; advisors may view KYC and
risk profiles of their clients and record risk profiles; investors view their own.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = [
    "compliancesettings",
    "kycverification",
    "watchlistentry",
    "amlscreening",
    "amlcase",
    "riskprofile",
    "suitabilitycase",
    "restrictedsecurity",
]

ROLE_PERMISSIONS = {
    "compliance officer": [f"{action}_{model}" for model in MODELS for action in ("view", "add", "change")]
    + ["work_compliance_queues", "view_audit_trail"],
    "advisor": [
        "view_kycverification",
        "add_kycverification",
        "view_riskprofile",
        "add_riskprofile",
        "change_riskprofile",
    ],
    "investor": ["view_kycverification", "view_riskprofile", "add_riskprofile", "change_riskprofile"],
    "operations": ["view_restrictedsecurity", "view_compliancesettings"],
}


def grant(apps, schema_editor):
    config = apps.get_app_config("compliance")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="compliance")
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_kyc_aml_risk_suitability_restrictions"),
        ("accounts", "0002_create_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
