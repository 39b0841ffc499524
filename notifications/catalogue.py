"""What a user can be told about: the notification kinds, who gets each and how by default.

A kind is what the user chooses on their preferences page; the event kinds that feed it are in
`notifications.services.fan_out` (one subscriber per event kind).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Delivery(models.TextChoices):
    """How a user is told of one kind: not at all, in the inbox only, or also by email (at once,
    or in one daily digest)."""

    OFF = "off", "Off"
    IN_APP = "in_app", "In the inbox only"
    IMMEDIATE = "immediate", "Inbox and an email at once"
    DIGEST = "digest", "Inbox and the daily digest email"


@dataclass(frozen=True)
class NotificationKind:
    key: str
    label: str
    who: str
    default: str


KINDS: dict[str, NotificationKind] = {
    k.key: k
    for k in (
        NotificationKind("drift_breach", "Drift breaches", "advisors, for their accounts", Delivery.DIGEST),
        NotificationKind(
            "proposal_awaiting_approval", "Proposals awaiting approval", "advisors, for their accounts", Delivery.DIGEST
        ),
        NotificationKind("order_filled", "Fills", "advisors and the account's household", Delivery.IN_APP),
        NotificationKind("order_rejected", "Rejected orders, with the reason", "advisors", Delivery.IMMEDIATE),
        NotificationKind(
            "review_requested", "Items awaiting compliance review", "compliance officers", Delivery.IMMEDIATE
        ),
        NotificationKind("review_decided", "Compliance review decisions", "advisors", Delivery.IMMEDIATE),
        NotificationKind("kyc_aml_result", "KYC and AML results", "advisors and the investor", Delivery.IMMEDIATE),
        NotificationKind("statement_ready", "Statements ready", "the account's household", Delivery.IMMEDIATE),
        NotificationKind("job_failed", "Failed jobs", "operations", Delivery.IMMEDIATE),
    )
}
