"""The roles' permissions as the data migrations grant them, put back after a transactional
test's flush emptied them (tests/conftest.py restores the groups, not their permissions)."""

import importlib

from django.apps import apps

GRANTS = (
    ("accounts.migrations.0002_create_roles", "create_roles"),
    ("portfolios.migrations.0002_grant_role_permissions", "grant"),
    ("trading.migrations.0002_grant_role_permissions", "grant"),
    ("compliance.migrations.0002_grant_compliance_officer_permissions", "grant"),
    ("operations.migrations.0003_grant_operations_permissions", "grant"),
)


def restore_role_permissions() -> None:
    """Idempotent: each grant adds what is missing and leaves the rest."""
    for module, function in GRANTS:
        getattr(importlib.import_module(module), function)(apps, None)
