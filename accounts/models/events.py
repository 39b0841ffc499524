"""Events out (the outbox), the catalogue of their kinds, and webhook subscriptions, deliveries and attempts."""

from dataclasses import dataclass

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from accounts.models.firms import Firm, Household
from accounts.models.investors import Investor
from accounts.models.users import User

# --- Events out (the outbox) and webhook subscriptions -------------------------------------
#
# Events live in `accounts`, the lowest app: every app's services may import it (the layering
# accounts <- portfolios <- trading/compliance <- operations holds), and every event is scoped
# by a firm and, where it has one, a household or investor, which are this app's rows.


@dataclass(frozen=True)
class EventKind:
    name: str
    description: str
    staff_only: bool = False


#: Every kind that is emitted, with what it means (the README and the API schema list them).
KINDS: dict[str, EventKind] = {
    k.name: k
    for k in (
        EventKind("household.created", "A household was created."),
        EventKind("account.opened", "An investment account was opened for a household."),
        EventKind("kyc.updated", "An investor's identity verification changed status."),
        EventKind("aml.case_opened", "A watch-list hit opened an AML case (trading frozen).", staff_only=True),
        EventKind("aml.case_updated", "A compliance officer decided an AML case.", staff_only=True),
        EventKind("agreement.signed", "An investor signed an agreement."),
        EventKind("proposal.created", "A rebalance proposal with trades was made for an account."),
        EventKind("proposal.updated", "A rebalance proposal was approved or discarded."),
        EventKind("order.updated", "An order was created or changed status."),
        EventKind("order.filled", "An order received a fill (partial or complete)."),
        EventKind("transfer.updated", "A deposit or withdrawal was requested or changed status."),
        EventKind("fee.charged", "An advisory fee was debited from an account (or failed to be)."),
        EventKind(
            "statement.ready",
            "A statement is ready: the custodian's daily statement of an account was reconciled (subject "
            "`account`), or a client statement or performance report PDF was generated (subject `statement`).",
        ),
        EventKind("drift.breached", "The nightly drift scan found an account outside its bands."),
        EventKind("order.reviewed", "A compliance officer approved or rejected an order held for review."),
        EventKind("job.failed", "A scheduled job ended failed or partly failed.", staff_only=True),
    )
}


class Event(models.Model):
    """One change an integrator cares about, written in the transaction of the change.

    `id` is allocated at INSERT, so ids do not commit in order; `position` (the public
    cursor) is assigned after the commit by the publisher (`accounts.services.events.events_publish`),
    one publisher at a time, so positions become visible in increasing order and a reader
    that has seen position N never later finds a new event at N or below.
    """

    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="events")
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, null=True, blank=True, related_name="events", db_index=False
    )
    investor = models.ForeignKey(
        Investor, on_delete=models.PROTECT, null=True, blank=True, related_name="events", db_index=False
    )
    account_id = models.BigIntegerField(null=True, blank=True, help_text="The investment account, if any.")
    subject_type = models.CharField(max_length=40, blank=True, help_text="What changed: order, transfer, …")
    subject_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["id"], name="accounts_event_unpublished", condition=models.Q(position__isnull=True)),
            models.Index(fields=["household", "position"], name="accounts_event_household_pos"),
            models.Index(fields=["investor", "position"], name="accounts_event_investor_pos"),
            models.Index(fields=["firm", "position"], name="accounts_event_firm_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def public_id(self) -> str:
        """The id integrators see (the Standard Webhooks `webhook-id`): stable across retries."""
        return f"evt_{self.pk}"


class WebhookSubscription(models.Model):
    """An integrator's URL that receives the events its owner may see, signed (Standard Webhooks)."""

    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event kinds delivered, or ["*"] for all.')
    secret = models.CharField(max_length=100, editable=False, help_text="whsec_… signing secret.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    start_position = models.BigIntegerField(
        default=0, help_text="Events after this cursor are delivered (the newest when it was made)."
    )

    # Who subscribed what, and when it was deleted; the secret stays out of the history table.
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.user})"

    def wants(self, kind: str) -> bool:
        return "*" in self.events or kind in self.events


class WebhookDelivery(models.Model):
    """One event to one subscription: retried with backoff until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="accounts_delivery_once_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="accounts_delivery_due",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription.url}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the receiver answered (the delivery log)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}"
