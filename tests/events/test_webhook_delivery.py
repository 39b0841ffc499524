"""Webhook deliveries, against a real receiving HTTP server on this machine."""

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import tasks
from accounts.models import Event, WebhookAttempt, WebhookDelivery
from accounts.services import event_emit, events_publish
from accounts.services import webhook_delivery as webhooks
from accounts.services.webhook_delivery import backoff_delay, deliveries_send
from accounts.services.webhooks import subscription_create, subscription_deactivate, subscription_replay
from tests.events.webhooks import emit_events

pytestmark = pytest.mark.django_db


# --- Delivery ------------------------------------------------------------------------------------


def test_events_reach_the_subscriber_signed_once_per_id(firm_world, receiver):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["household.created"])
    receiver.secret = sub.secret
    events = emit_events(firm_world, 3)
    event_emit(kind="kyc.updated", firm=firm_world["advisor"].firm, household=firm_world["household"], payload={})
    emit_events(firm_world, 1, household=firm_world["other_household"])  # bob's: alice may not see it
    events_publish()
    result = deliveries_send()
    assert result.delivered == 3
    assert set(receiver.processed) == {e.public_id for e in events}
    assert receiver.bad_signatures == 0 and receiver.duplicates == 0
    body = receiver.processed[events[0].public_id]
    assert body["type"] == "household.created" and body["data"] == {"n": 0} and body["cursor"] >= 1
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [204, 204, 204]


def test_a_subscription_gets_only_events_published_after_it_was_made(firm_world, receiver):
    emit_events(firm_world, 2)
    events_publish()
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    later = emit_events(firm_world, 1)
    events_publish()
    deliveries_send()
    assert set(receiver.processed) == {later[0].public_id}


def test_a_receiver_down_for_a_while_gets_every_event_exactly_once(firm_world, receiver):
    """Refusing connections, then answering 500, then back: every event arrives, each id is
    processed once by the receiver although some came more than once, and the delivery log
    shows each attempt."""
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    events = emit_events(firm_world, 5)
    events_publish()
    start = timezone.now()

    receiver.go_down()
    first = deliveries_send(now=start)
    # One refused connection puts the subscription aside for this run: the others wait their turn.
    assert first.delivered == 0 and first.retried == 1
    assert WebhookAttempt.objects.get().error.startswith("ConnectionError")
    later = start + timedelta(hours=1)
    second = deliveries_send(now=later)
    assert second.retried == 1 and second.delivered == 0

    receiver.come_back()
    receiver.mode = "error"
    third = deliveries_send(now=later + timedelta(hours=1))
    assert third.retried == 1 and receiver.requests == 1
    failing = WebhookDelivery.objects.filter(last_status_code=500).get()
    assert failing.last_response == "temporarily broken" and failing.next_attempt_at > later + timedelta(hours=1)

    receiver.mode = "ok"
    sent = deliveries_send(now=later + timedelta(days=1))
    assert sent.delivered == 5
    # A crash between a POST and its commit sends again with the same id: replay two of them.
    subscription_replay(subscription=sub, after=Event.objects.get(pk=events[2].pk).position)
    assert deliveries_send(now=later + timedelta(days=1)).delivered == 2
    assert set(receiver.processed) == {e.public_id for e in events}
    assert len(receiver.processed) == 5 and receiver.duplicates == 2 and receiver.bad_signatures == 0
    assert WebhookDelivery.objects.filter(status="delivered").count() == 5
    logs = [
        list(WebhookAttempt.objects.filter(delivery__event=e).order_by("id").values_list("status_code", flat=True))
        for e in events
    ]
    # Each run tried one delivery while the receiver failed (the oldest due first), then sent all.
    assert logs[:3] == [
        [None, 204],
        [None, 204],
        [500, 204],
    ]
    assert logs[3:] == [[204, 204], [204, 204]]  # delivered, then sent again by the replay


def test_a_delivery_is_given_up_after_three_days(firm_world, receiver):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    emit_events(firm_world, 1)
    events_publish()
    receiver.mode = "error"
    start = timezone.now()
    deliveries_send(now=start)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.next_attempt_at <= delivery.created_at + timedelta(days=3)
    result = deliveries_send(now=start + timedelta(days=3, seconds=1))
    delivery.refresh_from_db()
    assert result.failed == 1 and delivery.status == "failed" and delivery.attempts == 2


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 5
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    rng = random.Random(1)
    for attempts, full in [(1, 5), (2, 10), (3, 20), (6, 160), (20, 3600)]:
        delays = [backoff_delay(attempts, rng=rng).total_seconds() for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_a_name_that_resolves_into_our_network_is_refused_at_delivery(firm_world, receiver, settings, monkeypatch):
    """DNS may change after subscribing: every attempt resolves the name and checks the address."""
    settings.WEBHOOK_URL_ALLOWLIST = []
    sub = subscription_create(user=firm_world["advisor"].user, url="https://hooks.example.com/in", events=["*"])
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: [(2, 1, 6, "", ("10.0.0.7", 443))])
    requests_sent = []
    monkeypatch.setattr(webhooks.requests.Session, "post", lambda *a, **kw: requests_sent.append(a))
    emit_events(firm_world, 1)
    events_publish()
    result = deliveries_send()
    assert result.retried == 1 and requests_sent == []
    assert WebhookAttempt.objects.get().error.startswith("refused address")
    assert sub.deliveries.get().status == "pending"


def test_a_deleted_subscription_receives_nothing_more(firm_world, receiver):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    emit_events(firm_world, 1)
    events_publish()
    subscription_deactivate(subscription=sub, acting_user=firm_world["advisor"].user)
    deliveries_send()
    assert receiver.requests == 0
    assert WebhookDelivery.objects.get().status == "failed"


def test_the_relay_task_publishes_and_delivers(firm_world, receiver):
    from accounts.tasks import events_relay

    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    emit_events(firm_world, 2)
    assert events_relay() == {"published": 2, "delivered": 2, "retried": 0, "failed": 0}
    assert len(receiver.processed) == 2


def test_a_commit_that_writes_events_queues_the_relay(
    firm_world, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.EVENTS_PUBLISH_ON_COMMIT = True
    queued = []
    monkeypatch.setattr(tasks.events_relay, "apply_async", lambda **kw: queued.append(kw))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        emit_events(firm_world, 3)
    assert len(callbacks) == 1 and len(queued) == 1  # once per transaction, not per event


def test_signed_body_is_the_replay_shape(firm_world, receiver, api):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    emit_events(firm_world, 1)
    events_publish()
    deliveries_send()
    replayed = api(firm_world["advisor"].user, "read").get("/api/v1/events/").json()["results"][0]
    assert json.loads(json.dumps(next(iter(receiver.processed.values())))) == replayed
