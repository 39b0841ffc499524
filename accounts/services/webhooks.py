"""Webhook subscriptions and the deliveries the publisher makes for them.

A subscription belongs to a user (its owner) and receives the published events of the kinds
it asks for that its owner may see (`accounts.permissions.event_scope_q`), from the moment it was
made. Each (subscription, event) pair is one `WebhookDelivery`, created by the publisher in
the transaction that gives the events their positions, so none is missed.

Sending, signing and the address rules are in `accounts.services.webhook_delivery`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import AccountsError
from accounts.models import KINDS, Event, User, WebhookDelivery, WebhookSubscription
from accounts.permissions import event_scope_q, subscription_may_create
from accounts.selectors.events import latest_position
from accounts.services.webhook_delivery import secret_new, url_check
from kronos.history import save_attributed
from kronos.relay import enqueue_after_commit

# --- Subscriptions -------------------------------------------------------------------------------


MAX_SUBSCRIPTIONS_PER_USER = 20


def subscriptions_for_user(*, user: User) -> Any:
    return WebhookSubscription.objects.filter(user=user, is_active=True).order_by("id")


def _clean_kinds(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise AccountsError('List the event kinds to receive, or ["*"] for all.', field="events")
    kinds: list[str] = []
    for kind in events:
        if not isinstance(kind, str) or (kind != "*" and kind not in KINDS):
            raise AccountsError(f"Unknown event kind {kind!r}.", field="events")
        if kind not in kinds:
            kinds.append(kind)
    return ["*"] if "*" in kinds else kinds


@transaction.atomic
def subscription_create(*, user: User, url: str, events: Any) -> WebhookSubscription:
    """Subscribe `url` to `events` for `user`. Validated: the user may subscribe, the URL may
    receive (see the module docstring), the kinds are known, at most 20 active subscriptions a
    user. It receives events published from now on."""
    if not subscription_may_create(user):
        raise AccountsError("Only a firm's staff may subscribe to webhooks.", code="forbidden")
    kinds = _clean_kinds(events)
    # No DNS look-up here (a name may not resolve yet, and a look-up would make the API's answer
    # wait on it): literal addresses and local names are refused now, names before every attempt.
    url = url_check(url, resolve=False)
    if subscriptions_for_user(user=user).count() >= MAX_SUBSCRIPTIONS_PER_USER:
        raise AccountsError(f"At most {MAX_SUBSCRIPTIONS_PER_USER} subscriptions a user.", field="url", status_code=409)
    assert user.firm_id is not None  # subscription_may_create checked it
    sub = WebhookSubscription(
        firm_id=user.firm_id, user=user, url=url, events=kinds, secret=secret_new(), start_position=latest_position()
    )
    return save_attributed(sub, acting_user=user, reason="webhook subscription created", validate=False)


@transaction.atomic
def subscription_deactivate(*, subscription: WebhookSubscription, acting_user: User) -> WebhookSubscription:
    """Stop deliveries (pending ones are marked failed); the subscription and its log are kept."""
    sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if sub.is_active:
        sub.is_active = False
        sub.deactivated_at = timezone.now()
        save_attributed(sub, acting_user=acting_user, reason="webhook subscription deleted", validate=False)
        sub.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.FAILED, last_error="subscription deleted"
        )
    return sub


@transaction.atomic
def subscription_replay(*, subscription: WebhookSubscription, after: int) -> int:
    """Operations: deliver again every event after cursor `after` that the subscription takes
    (new deliveries for events it never had, pending again for those it had). Returns how many."""
    sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if not sub.is_active:
        raise AccountsError("The subscription is deleted.", code="inactive")
    if after < 0:
        raise AccountsError("The cursor cannot be negative.", field="after")
    events = _matching(sub, Event.objects.filter(position__gt=after))
    ids = list(events.values_list("pk", flat=True))
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(subscription=sub, event_id=pk, next_attempt_at=now, created_at=now) for pk in ids],
        ignore_conflicts=True,
        batch_size=2000,
    )
    sub.deliveries.filter(event_id__in=ids).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now, created_at=now, last_error=""
    )
    _send_after_commit()
    return len(ids)


def _matching(sub: WebhookSubscription, events: Any) -> Any:
    qs = events.filter(firm_id=sub.firm_id).filter(event_scope_q(user=sub.user))
    if "*" not in sub.events:
        qs = qs.filter(kind__in=sub.events)
    return qs


def deliveries_create_for(*, event_ids: list[int]) -> int:
    """In the publisher's transaction: a delivery for every active subscription that takes each
    of the newly published events (one query per subscription of the firms concerned)."""
    firms = set(Event.objects.filter(pk__in=event_ids).values_list("firm_id", flat=True).distinct())
    subs = WebhookSubscription.objects.filter(is_active=True, firm_id__in=firms).select_related("user")
    now = timezone.now()
    made = 0
    for sub in subs:
        if not sub.user.is_active:
            continue
        ids = list(
            _matching(sub, Event.objects.filter(pk__in=event_ids, position__gt=sub.start_position)).values_list(
                "pk", flat=True
            )
        )
        if ids:
            WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(subscription=sub, event_id=pk, next_attempt_at=now, created_at=now) for pk in ids],
                ignore_conflicts=True,
                batch_size=2000,
            )
            made += len(ids)
    if made:
        _send_after_commit()
    return made


def _send_after_commit() -> None:
    if not getattr(settings, "EVENTS_PUBLISH_ON_COMMIT", True):
        return
    enqueue_after_commit("accounts.webhooks_deliver")
