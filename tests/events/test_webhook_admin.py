"""Operations' delivery log and replay of webhooks in the admin."""

import pytest

from accounts.models import Event, Role, WebhookDelivery
from accounts.services import events_publish
from accounts.services.webhook_delivery import deliveries_send
from accounts.services.webhooks import subscription_create
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
from tests.events.webhooks import emit_events

pytestmark = pytest.mark.django_db


# --- Operations: the delivery log and the replay in the admin -----------------------------------


def test_operations_see_the_delivery_log_and_replay_from_a_cursor(firm_world, receiver, verified_client):
    firm = firm_world["advisor"].firm
    ops = UserFactory(email="ops@example.com", firm=firm, roles=[Role.OPERATIONS], is_staff=True)
    sub = subscription_create(user=firm_world["advisor"].user, url=receiver.url, events=["*"])
    receiver.secret = sub.secret
    events = emit_events(firm_world, 3)
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
    emit_events(firm_world, 1)
    events_publish()
    deliveries_send()
    client = verified_client(ops)
    page = client.get("/admin/accounts/webhookdelivery/")
    assert page.status_code == 200 and receiver.url not in page.content.decode()
    assert client.get(f"/admin/accounts/webhookdelivery/{WebhookDelivery.objects.get().pk}/change/").status_code in (
        302,
        404,
    )
