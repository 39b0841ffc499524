"""Webhook subscriptions and deliveries, against a real receiving HTTP server on this machine."""

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.errors import AccountsError
from accounts.events import event_emit, events_publish
from accounts.models import Event, Role, WebhookAttempt, WebhookDelivery, WebhookSubscription
from accounts.webhooks import (
    backoff_delay,
    deliveries_send,
    sign,
    subscription_create,
    subscription_replay,
    url_check,
)
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory

pytestmark = pytest.mark.django_db

SUBS = "/api/v1/webhook-subscriptions/"


class Receiver:
    """An integrator's endpoint: verifies each request's Standard Webhooks signature and
    processes each webhook-id once (a repeat is acknowledged and ignored). `mode` is "ok",
    "error" (answers 500) or "down" (the socket is closed: connections are refused)."""

    def __init__(self):
        self.secret = None
        self.processed: dict[str, dict] = {}
        self.requests = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.server = None
        self.port = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    if receiver.mode == "error":
                        self._answer(500, b"temporarily broken")
                        return
                    try:
                        payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    except WebhookVerificationError:
                        receiver.bad_signatures += 1
                        self._answer(400, b"bad signature")
                        return
                    msg_id = self.headers["webhook-id"]
                    assert payload["id"] == msg_id
                    if msg_id in receiver.processed:
                        receiver.duplicates += 1
                    else:
                        receiver.processed[msg_id] = payload
                self._answer(204, b"")

            def _answer(self, code, text):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.mode = "ok"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def go_down(self):
        self.server.shutdown()
        self.server.server_close()  # the port is closed: connections are refused

    def come_back(self):
        self.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def firm_world(alice, alice_household, bob_household):
    return {"advisor": alice, "household": alice_household, "other_household": bob_household}


def _emit(world, n, household=None):
    return [
        event_emit(
            kind="household.created",
            firm=world["advisor"].firm,
            household=household or world["household"],
            payload={"n": i},
        )
        for i in range(n)
    ]


# --- Signatures --------------------------------------------------------------------------------


def test_signatures_match_the_standard_webhooks_reference_vector():
    # The example of the Standard Webhooks specification (and its reference libraries' tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    moment = datetime.fromtimestamp(1614265330, tz=UTC)
    signature = sign(
        secret=secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=moment, body='{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- Subscriptions through the API ---------------------------------------------------------------


def test_a_subscription_answers_its_secret_once_and_needs_an_idempotency_key(alice, api, receiver):
    client = api(alice.user)
    body = {"url": receiver.url, "events": ["order.filled", "transfer.updated"]}
    assert client.post(SUBS, body, format="json").status_code == 400  # no Idempotency-Key
    assert not WebhookSubscription.objects.exists()
    created = client.post(SUBS, body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    assert created.status_code == 201
    data = created.json()
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 40
    assert data["events"] == ["order.filled", "transfer.updated"] and data["url"] == receiver.url
    again = client.post(SUBS, body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    assert again.json() == data and WebhookSubscription.objects.count() == 1
    detail = client.get(f"{SUBS}{data['id']}/").json()
    assert "secret" not in detail and detail["id"] == data["id"]
    listed = client.get(SUBS).json()
    assert [s["id"] for s in listed["results"]] == [data["id"]] and "secret" not in listed["results"][0]
    assert client.delete(f"{SUBS}{data['id']}/").status_code == 204
    assert client.get(f"{SUBS}{data['id']}/").status_code == 404
    assert WebhookSubscription.objects.get().is_active is False  # kept with its delivery log


def test_another_users_subscription_is_a_404(alice, bob, api, receiver):
    sub = subscription_create(user=alice.user, url=receiver.url, events=["*"])
    client = api(bob.user)
    assert client.get(f"{SUBS}{sub.pk}/").status_code == 404
    assert client.delete(f"{SUBS}{sub.pk}/").status_code == 404
    assert WebhookSubscription.objects.get().is_active


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "events": ["order.exploded"]}, "events"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "http://hooks.example.com/x", "events": ["*"]}, "url"),  # https required
        ({"url": "https://10.0.0.5/x", "events": ["*"]}, "url"),  # private network
        ({"url": "https://169.254.169.254/latest/meta-data", "events": ["*"]}, "url"),  # cloud metadata
        ({"url": "https://[::1]/x", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/x", "events": ["*"]}, "url"),
    ],
)
def test_bad_subscriptions_are_refused_with_the_field_and_nothing_is_written(alice, api, body, field):
    response = api(alice.user).post(SUBS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert field in response.json()
    assert not WebhookSubscription.objects.exists()


def test_an_investor_may_not_subscribe(charlie, api, receiver):
    response = api(charlie).post(SUBS, {"url": receiver.url, "events": ["*"]}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 403
    assert not WebhookSubscription.objects.exists()


def test_writes_need_the_trade_scope(alice, api, receiver):
    response = api(alice.user, "read").post(
        SUBS, {"url": receiver.url, "events": ["*"]}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 403


def test_url_rules_relax_only_where_configured(settings):
    settings.WEBHOOK_URL_ALLOWLIST = []
    with pytest.raises(AccountsError, match="https"):
        url_check("http://127.0.0.1:9/x")
    with pytest.raises(AccountsError, match="private or local"):
        url_check("https://127.0.0.1:9/x")
    with pytest.raises(AccountsError, match="private or local"):
        url_check("https://[::ffff:10.1.2.3]/x")
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert url_check("http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_URL_ALLOWLIST = ["sandbox.internal:8443"]
    assert url_check("http://sandbox.internal:8443/x")
    assert url_check("https://93.184.215.14/x")  # a public address


# --- Delivery ------------------------------------------------------------------------------------


def test_events_reach_the_subscriber_signed_once_per_id(firm_world, receiver):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["household.created"])
    receiver.secret = sub.secret
    events = _emit(firm_world, 3)
    event_emit(kind="kyc.updated", firm=firm_world["advisor"].firm, household=firm_world["household"], payload={})
    _emit(firm_world, 1, household=firm_world["other_household"])  # bob's: alice may not see it
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
    _emit(firm_world, 2)
    events_publish()
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    later = _emit(firm_world, 1)
    events_publish()
    deliveries_send()
    assert set(receiver.processed) == {later[0].public_id}


def test_a_receiver_down_for_a_while_gets_every_event_exactly_once(firm_world, receiver):
    """Refusing connections, then answering 500, then back: every event arrives, each id is
    processed once by the receiver although some came more than once, and the delivery log
    shows each attempt."""
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    events = _emit(firm_world, 5)
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
    _emit(firm_world, 1)
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
    from accounts import webhooks

    settings.WEBHOOK_URL_ALLOWLIST = []
    sub = subscription_create(user=firm_world["advisor"].user, url="https://hooks.example.com/in", events=["*"])
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: [(2, 1, 6, "", ("10.0.0.7", 443))])
    requests_sent = []
    monkeypatch.setattr(webhooks.requests.Session, "post", lambda *a, **kw: requests_sent.append(a))
    _emit(firm_world, 1)
    events_publish()
    result = deliveries_send()
    assert result.retried == 1 and requests_sent == []
    assert WebhookAttempt.objects.get().error.startswith("refused address")
    assert sub.deliveries.get().status == "pending"


def test_a_deleted_subscription_receives_nothing_more(firm_world, receiver):
    from accounts.webhooks import subscription_deactivate

    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    _emit(firm_world, 1)
    events_publish()
    subscription_deactivate(subscription=sub, acting_user=firm_world["advisor"].user)
    deliveries_send()
    assert receiver.requests == 0
    assert WebhookDelivery.objects.get().status == "failed"


def test_the_relay_task_publishes_and_delivers(firm_world, receiver):
    from accounts.tasks import events_relay

    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    _emit(firm_world, 2)
    assert events_relay() == {"published": 2, "delivered": 2, "retried": 0, "failed": 0}
    assert len(receiver.processed) == 2


def test_a_commit_that_writes_events_queues_the_relay(
    firm_world, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from accounts import tasks

    settings.EVENTS_PUBLISH_ON_COMMIT = True
    queued = []
    monkeypatch.setattr(tasks.events_relay, "apply_async", lambda **kw: queued.append(kw))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _emit(firm_world, 3)
    assert len(callbacks) == 1 and len(queued) == 1  # once per transaction, not per event


# --- Operations: the delivery log and the replay in the admin -----------------------------------


def test_operations_see_the_delivery_log_and_replay_from_a_cursor(firm_world, receiver, verified_client):
    firm = firm_world["advisor"].firm
    ops = UserFactory(email="ops@example.com", firm=firm, roles=[Role.OPERATIONS], is_staff=True)
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    events = _emit(firm_world, 3)
    events_publish()
    deliveries_send()
    client = verified_client(ops)
    page = client.get("/admin/accounts/webhookdelivery/")
    assert page.status_code == 200
    assert page.content.decode().count("Delivered") >= 3
    detail = client.get(f"/admin/accounts/webhookdelivery/{WebhookDelivery.objects.first().pk}/change/")
    assert detail.status_code == 200 and "204" in detail.content.decode()
    cursor = Event.objects.get(pk=events[0].pk).position
    response = client.post(
        "/admin/accounts/webhooksubscription/",
        {"action": "replay_from_cursor", "_selected_action": [sub.pk], "apply": "1", "after": cursor},
    )
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(status="pending").count() == 2
    deliveries_send()
    assert receiver.duplicates == 2 and len(receiver.processed) == 3


def test_another_firms_operations_do_not_see_the_log(firm_world, receiver, verified_client):
    other = AdvisorFactory()
    HouseholdFactory(advisor=other, firm=other.firm)
    ops = UserFactory(email="ops2@example.com", firm=other.firm, roles=[Role.OPERATIONS], is_staff=True)
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    _emit(firm_world, 1)
    events_publish()
    deliveries_send()
    client = verified_client(ops)
    page = client.get("/admin/accounts/webhookdelivery/")
    assert page.status_code == 200 and receiver.url not in page.content.decode()
    assert client.get(f"/admin/accounts/webhookdelivery/{WebhookDelivery.objects.get().pk}/change/").status_code in (
        302,
        404,
    )


def test_signed_body_is_the_replay_shape(firm_world, receiver, api):
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    _emit(firm_world, 1)
    events_publish()
    deliveries_send()
    replayed = api(firm_world["advisor"].user, "read").get("/api/v1/events/").json()["results"][0]
    assert json.loads(json.dumps(next(iter(receiver.processed.values())))) == replayed
