"""Idempotency keys: one execution per key, the first answer replayed, misuse refused."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.models import Firm, IdempotencyKey
from kronos.errors import DomainError
from kronos.idempotency import idempotency_keys_clear, idempotent
from tests.accounts.factories import UserFactory

executions: list[str] = []
_lock = threading.Lock()


class MoveInput(serializers.Serializer):
    name = serializers.CharField()
    fail = serializers.ChoiceField(choices=["", "domain"], required=False, default="")


@api_view(["POST"])
@idempotent
def move_money(request, slow=False):
    data = MoveInput(data=request.data)
    data.is_valid(raise_exception=True)
    firm = Firm.objects.create(name=data.validated_data["name"], slug=data.validated_data["name"].lower())
    with _lock:
        executions.append(firm.name)
    if slow:
        time.sleep(0.3)  # widen the window concurrent repeats arrive in
    if data.validated_data["fail"] == "domain":
        raise DomainError("The money cannot move today.", field="name")
    return Response({"firm": firm.pk, "amount": {"amount": "1.50", "currency": "USD"}}, status=201)


factory = APIRequestFactory()


def post(user, data, key="key-1", path="/api/v1/moves/", **kwargs):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = factory.post(path, data, format="json", **headers)
    force_authenticate(request, user=user)
    response = move_money(request, **kwargs)
    response.render()
    return response


@pytest.fixture(autouse=True)
def _reset():
    executions.clear()
    yield


@pytest.fixture
def user(db):
    return UserFactory(email="integrator@example.com")


def test_it_requires_the_header(user):
    answer = post(user, {"name": "Acme"}, key=None)
    assert answer.status_code == 400
    assert "Idempotency-Key header is required" in answer.data["detail"]
    assert executions == [] and not Firm.objects.filter(name="Acme").exists()


def test_it_refuses_an_overlong_key(user):
    answer = post(user, {"name": "Acme"}, key="k" * 300)
    assert answer.status_code == 400
    assert "at most 255" in answer.data["detail"]


def test_a_repeat_gets_the_first_answer_without_running_again(user):
    first = post(user, {"name": "Acme"})
    again = post(user, {"name": "Acme"})
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.data == {"firm": first.data["firm"], "amount": {"amount": "1.50", "currency": "USD"}}
    assert again["Idempotent-Replayed"] == "true"
    assert executions == ["Acme"]


def test_the_body_hash_ignores_key_order(user):
    post(user, {"name": "Acme", "fail": ""})
    assert post(user, {"fail": "", "name": "Acme"}).status_code == 201
    assert executions == ["Acme"]


def test_the_same_key_with_another_body_is_refused(user):
    post(user, {"name": "Acme"})
    answer = post(user, {"name": "Other"})
    assert answer.status_code == 422
    assert "different request body" in answer.data["detail"]
    assert executions == ["Acme"] and not Firm.objects.filter(name="Other").exists()


def test_the_same_key_on_another_endpoint_is_refused(user):
    post(user, {"name": "Acme"})
    answer = post(user, {"name": "Acme"}, path="/api/v1/other/")
    assert answer.status_code == 422
    assert "already used for POST /api/v1/moves/" in answer.data["detail"]


def test_keys_belong_to_one_user(user):
    other = UserFactory(email="other@example.com")
    post(user, {"name": "Acme"})
    assert post(other, {"name": "Bravo"}).status_code == 201
    assert executions == ["Acme", "Bravo"]


def test_bad_input_stores_nothing_so_a_corrected_retry_runs(user):
    refused = post(user, {})
    assert refused.status_code == 400 and "name" in refused.data
    assert not IdempotencyKey.objects.exists()
    assert post(user, {"name": "Acme"}).status_code == 201


def test_a_domain_error_rolls_back_the_writes_and_the_key(user):
    answer = post(user, {"name": "Acme", "fail": "domain"})
    assert answer.status_code == 400
    assert answer.data["name"] == ["The money cannot move today."]
    assert executions == ["Acme"]  # it ran ...
    assert not Firm.objects.filter(name="Acme").exists()  # ... and left nothing behind
    assert not IdempotencyKey.objects.exists()


def test_keys_are_kept_a_day_then_cleared(user):
    post(user, {"name": "Acme"}, key="old")
    post(user, {"name": "Bravo"}, key="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=23))
    assert idempotency_keys_clear() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    # A shorter retention than a day is never honoured.
    assert idempotency_keys_clear(retention=timedelta(minutes=1)) == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_repeats_execute_once():
    user = UserFactory(email="concurrent@example.com")
    barrier = threading.Barrier(20)
    answers = []

    def worker():
        try:
            barrier.wait()
            response = post(user, {"name": "Concurrent"}, key="same-key", slow=True)
            with _lock:
                answers.append((response.status_code, response.content))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(answers) == 20
    assert executions == ["Concurrent"]
    assert {status for status, _ in answers} == {201}
    assert len({body for _, body in answers}) == 1
    assert Firm.objects.filter(name="Concurrent").count() == 1
    assert IdempotencyKey.objects.filter(user=user, key="same-key").count() == 1
