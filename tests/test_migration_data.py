"""What the data migrations wrote (role groups with their permissions, the beat schedule) is
there for every test, also after a transactional test's flush emptied the tables on the same
worker: tests/conftest.py replays the project's data migrations when it finds them gone."""

import pytest
from django.contrib.auth.models import Group, Permission
from django_celery_beat.models import PeriodicTask

from accounts.models import Role
from tests.conftest import _restore_migration_data

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple[dict[str, set[str]], dict[str, tuple[str, bool]]]:
    groups = {group.name: {p.codename for p in group.permissions.all()} for group in Group.objects.all()}
    tasks = {task.name: (task.task, task.enabled) for task in PeriodicTask.objects.all()}
    return groups, tasks


def test_a_flushed_database_gets_back_exactly_what_the_migrations_wrote():
    migrated = _snapshot()
    assert set(migrated[0]) == {str(role) for role in Role}
    assert any(task == "compliance.kyc_refresh_pending" for task, _ in migrated[1].values())
    assert "view_investmentaccount" in migrated[0][Role.COMPLIANCE]

    PeriodicTask.objects.all().delete()  # what a flush leaves: no groups, no schedule
    Group.objects.all().delete()
    assert Permission.objects.exists()  # (the flush's post_migrate puts the permissions back)
    _restore_migration_data()

    assert _snapshot() == migrated


def test_replaying_on_a_migrated_database_changes_nothing():
    before = _snapshot()
    _restore_migration_data()
    assert _snapshot() == before
