"""A real Celery worker on Redis runs a real task against the real database."""

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from accounts.models import IdempotencyKey
from accounts.tasks import clear_expired_credentials
from kronos.celery import app
from tests.accounts.factories import UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_on_redis_clears_expired_credentials():
    assert app.conf.broker_url.startswith("redis://"), "the suite runs Celery on Redis"
    user = UserFactory()
    old = IdempotencyKey.objects.create(user=user, key="old", method="POST", path="/x", request_hash="h")
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    fresh = IdempotencyKey.objects.create(user=user, key="fresh", method="POST", path="/x", request_hash="h")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = clear_expired_credentials.delay().get(timeout=30)
    assert result["idempotency_keys"] == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
