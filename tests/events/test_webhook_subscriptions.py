"""Webhook subscriptions: the signature, the API and the URL rules."""

from datetime import UTC, datetime

import pytest

from accounts.errors import AccountsError
from accounts.models import WebhookSubscription
from accounts.services.webhook_delivery import sign, url_check
from accounts.services.webhooks import subscription_create
from tests.events.webhooks import SUBS

pytestmark = pytest.mark.django_db


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
