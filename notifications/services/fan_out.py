"""The fan-out: published events become notifications for the users they concern.

One subscriber per event kind (`subscribers_register`, called by the app's `ready()`) is handed
the events of its kind by the outbox's publisher (`accounts.services.events_publish`), in the
publisher's transaction, a batch at a time. For the batch it resolves the recipients by role and
scope with a fixed number of queries (the account's advisor, the household's investors with a
login, the firm's compliance officers or operations staff), reads their preferences in one
query, and writes the notifications in one INSERT that skips (event, user) pairs already there:
the same event handed over again notifies nobody twice. Emails go out after the commit
(`notifications.send_emails`), never inside the publisher's transaction.

Who gets what:

| event | kind | to |
|---|---|---|
| `drift.breached` | `drift_breach` | the account's advisor |
| `proposal.created` (an account the advisor approves) | `proposal_awaiting_approval` | the account's advisor |
| `order.filled` | `order_filled` | the account's advisor and its household's investors |
| `order.updated` rejected or failed | `order_rejected` | the account's advisor |
| `order.updated` pending review | `review_requested` | the firm's compliance officers |
| `order.reviewed` | `review_decided` | the account's advisor |
| `kyc.updated` approved, rejected, needs review | `kyc_aml_result` | the investor's advisors, and the investor (not "needs review") |
| `kyc.updated` needs review | `review_requested` | the firm's compliance officers |
| `aml.case_opened` | `review_requested` / `kyc_aml_result` | compliance officers / the investor's advisors (never the investor) |
| `aml.case_updated` | `review_decided` | the investor's advisors |
| `statement.ready` of a client statement | `statement_ready` | the household's investors |
| `job.failed` | `job_failed` | the firm's operations staff |

A `statement.ready` about a client statement or report (subject `statement`, or a payload with
its `period_end`; its `url` is where the notification leads) tells the household's investors; the
nightly reconciliation's (subject `account`: the custodian's daily statement, bookkeeping, not
something a client is sent) notifies nobody.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Event, Household, HouseholdMember, Investor, Role, User
from accounts.subscribers import EVENT_SUBSCRIBERS
from kronos import readcache
from kronos.relay import enqueue_after_commit
from notifications.catalogue import KINDS, Delivery
from notifications.models import Notification, NotificationPreference
from portfolios.models import InvestmentAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """What one event tells some users."""

    kind: str
    users: Iterable[int]
    title: str
    body: str = ""
    url: str = ""


class Scope:
    """The batch's recipients and names, each read once for the whole batch when first asked."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.household_ids = {e.household_id for e in events if e.household_id}
        self.investor_ids = {e.investor_id for e in events if e.investor_id} | {
            int(e.payload["investor"]) for e in events if isinstance(e.payload.get("investor"), int)
        }
        self.account_ids = {e.account_id for e in events if e.account_id}
        self.firm_ids = {e.firm_id for e in events}

    @cached_property
    def advisor_of_household(self) -> dict[int, int]:
        return dict(
            Household.objects.filter(pk__in=self.household_ids, advisor__user__is_active=True).values_list(
                "pk", "advisor__user_id"
            )
        )

    @cached_property
    def investors_of_household(self) -> dict[int, set[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        rows = HouseholdMember.objects.filter(
            household_id__in=self.household_ids, investor__user__isnull=False, investor__user__is_active=True
        ).values_list("household_id", "investor__user_id")
        for household_id, user_id in rows:
            found[household_id].add(user_id)
        return found

    @cached_property
    def advisors_of_investor(self) -> dict[int, set[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        rows = HouseholdMember.objects.filter(
            investor_id__in=self.investor_ids, household__advisor__user__is_active=True
        ).values_list("investor_id", "household__advisor__user_id")
        for investor_id, user_id in rows:
            found[investor_id].add(user_id)
        return found

    @cached_property
    def investors(self) -> dict[int, tuple[str, int | None]]:
        """investor id -> (name, their login if active)."""
        rows = Investor.objects.filter(pk__in=self.investor_ids).values_list(
            "pk", "first_name", "last_name", "user_id", "user__is_active"
        )
        return {pk: (f"{first} {last}".strip(), user if active else None) for pk, first, last, user, active in rows}

    @cached_property
    def accounts(self) -> dict[int, tuple[str, str]]:
        """account id -> (name, rebalance mode)."""
        rows = InvestmentAccount.objects.filter(pk__in=self.account_ids).values_list("pk", "name", "rebalance_mode")
        return {pk: (name, mode) for pk, name, mode in rows}

    def staff(self, firm_id: int, role: str) -> set[int]:
        return self._staff.get((firm_id, role), set())

    @cached_property
    def _staff(self) -> dict[tuple[int, str], set[int]]:
        found: dict[tuple[int, str], set[int]] = defaultdict(set)
        rows = User.objects.filter(
            firm_id__in=self.firm_ids, is_active=True, groups__name__in=[Role.COMPLIANCE, Role.OPERATIONS]
        ).values_list("firm_id", "groups__name", "pk")
        for firm_id, role, pk in rows:
            found[(firm_id, role)].add(pk)
        return found

    # --- helpers for the routes

    def advisor(self, event: Event) -> set[int]:
        user = self.advisor_of_household.get(event.household_id or 0)
        return {user} if user else set()

    def household_investors(self, event: Event) -> set[int]:
        return set(self.investors_of_household.get(event.household_id or 0, ()))

    def account_name(self, event: Event) -> str:
        name = self.accounts.get(event.account_id or 0, ("", ""))[0]
        return name or f"account {event.account_id}"

    def investor_id(self, event: Event) -> int:
        return int(event.investor_id or event.payload.get("investor") or 0)

    def investor_name(self, event: Event) -> str:
        return self.investors.get(self.investor_id(event), ("an investor", None))[0]


def _points(value: Any) -> str:
    """A drift (a fraction of 1, as a string in the payload) in points, one decimal."""
    try:
        return f"{Decimal(str(value)) * 100:+.1f}"
    except (InvalidOperation, ValueError):
        return "?"


def _amount(value: Any) -> str:
    try:
        return f"{Decimal(str(value)).normalize():f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _order_words(data: dict[str, Any]) -> str:
    quantity = data.get("quantity")
    size = _amount(quantity) if quantity else f"${_amount(data.get('amount'))}"
    return f"{str(data.get('side', '')).capitalize()} {size} {data.get('symbol', '')}".strip()


def _account_url(event: Event) -> str:
    return reverse("portfolios:account_detail", args=[event.account_id]) if event.account_id else ""


def _proposal_url(data: dict[str, Any]) -> str:
    return reverse("trading:proposal_detail", args=[data["proposal"]]) if data.get("proposal") else ""


# --- the routes: one per event kind ----------------------------------------------------------


def _drift_breached(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    rows = ", ".join(f"{b['symbol']} {_points(b['drift'])} points" for b in data.get("breaches", [])[:6])
    return [
        Draft(
            "drift_breach",
            scope.advisor(event),
            f"Drift breach: {scope.account_name(event)}",
            f"Largest drift {_points(data.get('max_drift'))} points on {data.get('as_of')}. Outside its bands: {rows}.",
            _proposal_url(data) or _account_url(event),
        )
    ]


def _proposal_created(event: Event, scope: Scope) -> list[Draft]:
    _name, mode = scope.accounts.get(event.account_id or 0, ("", ""))
    if mode != InvestmentAccount.RebalanceMode.APPROVAL or event.payload.get("status") != "proposed":
        return []  # automatic accounts' proposals are approved by the scan itself
    data = event.payload
    return [
        Draft(
            "proposal_awaiting_approval",
            scope.advisor(event),
            f"Proposal awaiting approval: {scope.account_name(event)}",
            f"{data.get('trades', 0)} trade(s); largest drift {_points(data.get('max_drift_before'))} points, "
            f"estimated cost ${_amount(data.get('estimated_cost'))}.",
            _proposal_url(data),
        )
    ]


def _order_filled(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    fill = data.get("fill_amount") or {}
    whole = data.get("status") == "filled"
    title = f"{'Filled' if whole else 'Partly filled'}: {_order_words(data)}"
    body = (
        f"{scope.account_name(event)}: {_amount(data.get('fill_quantity'))} at {_amount(data.get('fill_price'))} "
        f"({_amount(fill.get('amount'))} {fill.get('currency', '')}) on {data.get('trade_date')}."
    )
    return [
        Draft("order_filled", scope.advisor(event) | scope.household_investors(event), title, body, _account_url(event))
    ]


def _order_updated(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    status = data.get("status")
    if status in ("rejected", "failed"):
        reason = data.get("status_reason") or "no reason given"
        return [
            Draft(
                "order_rejected",
                scope.advisor(event),
                f"Order {status}: {_order_words(data)}",
                f"{scope.account_name(event)}: {reason}",
                reverse("trading:account_trading", args=[event.account_id]) if event.account_id else "",
            )
        ]
    if status == "pending_review":
        return [
            Draft(
                "review_requested",
                scope.staff(event.firm_id, Role.COMPLIANCE),
                f"Order to review: {_order_words(data)}",
                f"{scope.account_name(event)}: {data.get('status_reason') or 'held by a pre-trade check'}",
                reverse("compliance:order_queue"),
            )
        ]
    return []


def _order_reviewed(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    return [
        Draft(
            "review_decided",
            scope.advisor(event),
            f"Compliance {data.get('decision')} your order: {_order_words(data)}",
            f"{scope.account_name(event)}: {data.get('note') or 'no note'}",
            reverse("trading:account_trading", args=[event.account_id]) if event.account_id else "",
        )
    ]


KYC_WORDS = {"approved": "approved", "rejected": "rejected", "needs_review": "needs a compliance review"}


def _kyc_updated(event: Event, scope: Scope) -> list[Draft]:
    status = event.payload.get("status")
    if status not in KYC_WORDS:
        return []  # started, pending: nothing to tell yet
    investor = scope.investor_id(event)
    name = scope.investor_name(event)
    title = f"KYC {KYC_WORDS[status]}: {name}"
    drafts = [Draft("kyc_aml_result", scope.advisors_of_investor.get(investor, set()), title)]
    own = scope.investors.get(investor, ("", None))[1]
    if own and status != "needs_review":
        drafts.append(Draft("kyc_aml_result", {own}, f"Your identity verification was {status}"))
    if status == "needs_review":
        drafts.append(
            Draft(
                "review_requested",
                scope.staff(event.firm_id, Role.COMPLIANCE),
                title,
                "",
                reverse("compliance:kyc_queue"),
            )
        )
    return drafts


def _aml_case_opened(event: Event, scope: Scope) -> list[Draft]:
    name = scope.investor_name(event)
    case = event.payload.get("case")
    return [
        Draft(
            "review_requested",
            scope.staff(event.firm_id, Role.COMPLIANCE),
            f"AML case opened: {name}",
            "A watch-list match; the investor's trading is frozen until the case is decided.",
            reverse("compliance:aml_case", args=[case]) if case else reverse("compliance:aml_queue"),
        ),
        Draft(
            "kyc_aml_result",
            scope.advisors_of_investor.get(scope.investor_id(event), set()),
            f"AML screening hit: {name}",
            "Compliance is reviewing a watch-list match; trading is frozen until it is decided.",
        ),
    ]


def _aml_case_updated(event: Event, scope: Scope) -> list[Draft]:
    return [
        Draft(
            "review_decided",
            scope.advisors_of_investor.get(scope.investor_id(event), set()),
            f"AML case {str(event.payload.get('status', '')).replace('_', ' ')}: {scope.investor_name(event)}",
        )
    ]


def _statement_page(event: Event) -> str:
    """The portal's page of the statement (its figures and a link to the PDF), where an investor
    signed in to the portal can open it; the event's `url` is the API's PDF, for integrators.
    Named, not imported: the reports app sits above this one."""
    if event.subject_type != "statement" or not event.subject_id:
        return ""
    try:
        return reverse("reports:statement_detail", kwargs={"pk": int(event.subject_id)})
    except (NoReverseMatch, ValueError):
        return ""


def _statement_ready(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    if event.subject_type != "statement" and not data.get("period_end"):
        return []  # the nightly reconciliation's custodian statement, not a client statement
    url = _statement_page(event) or (
        data.get("url") if isinstance(data.get("url"), str) and str(data.get("url")).startswith("/") else ""
    )
    if event.account_id:
        title = f"Your statement is ready: {scope.account_name(event)}"
    else:
        title = "Your performance report is ready"  # a household's report has no account
    return [
        Draft(
            "statement_ready",
            scope.household_investors(event),
            title,
            f"For the period ending {data.get('period_end')}." if data.get("period_end") else "",
            url or _account_url(event),
        )
    ]


def _job_failed(event: Event, scope: Scope) -> list[Draft]:
    data = event.payload
    run = data.get("job_run")
    return [
        Draft(
            "job_failed",
            scope.staff(event.firm_id, Role.OPERATIONS),
            f"Job {data.get('status')}: {data.get('job')} {data.get('business_date')}",
            f"{data.get('failed', 0)} failure(s).",
            reverse("operations:job_detail", args=[run]) if run else "",
        )
    ]


ROUTES: dict[str, Callable[[Event, Scope], list[Draft]]] = {
    "drift.breached": _drift_breached,
    "proposal.created": _proposal_created,
    "order.filled": _order_filled,
    "order.updated": _order_updated,
    "order.reviewed": _order_reviewed,
    "kyc.updated": _kyc_updated,
    "aml.case_opened": _aml_case_opened,
    "aml.case_updated": _aml_case_updated,
    "statement.ready": _statement_ready,
    "job.failed": _job_failed,
}


# --- writing ---------------------------------------------------------------------------------


def notifications_fan_out(*, events: Sequence[Event]) -> int:
    """Write the notifications `events` call for (any kinds), skipping what exists; returns how
    many rows were offered. Immediate emails are queued after the commit."""
    scope = Scope(events)
    drafts = [(event, draft) for event in events if event.kind in ROUTES for draft in ROUTES[event.kind](event, scope)]
    wanted = {user for _, draft in drafts for user in draft.users}
    if not wanted:
        return 0
    chosen = {
        (user, kind): delivery
        for user, kind, delivery in NotificationPreference.objects.filter(user_id__in=wanted).values_list(
            "user_id", "kind", "delivery"
        )
    }
    now = timezone.now()
    rows: list[Notification] = []
    for event, draft in drafts:
        for user in sorted(set(draft.users)):
            delivery = chosen.get((user, draft.kind), KINDS[draft.kind].default)
            if delivery == Delivery.OFF:
                continue
            rows.append(
                Notification(
                    user_id=user,
                    event_id=event.pk,
                    kind=draft.kind,
                    title=draft.title[:200],
                    body=draft.body,
                    url=draft.url[:300],
                    delivery=delivery,
                    created_at=now,
                )
            )
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    if readcache.enabled():  # the unread count in the staff's cached pages' navigation
        staff_firms = User.objects.filter(pk__in={r.user_id for r in rows}, firm__isnull=False).values_list(
            "firm_id", flat=True
        )
        readcache.touch(*{readcache.firm_scope(f) for f in staff_firms})
    if any(r.delivery == Delivery.IMMEDIATE for r in rows):
        enqueue_after_commit("notifications.send_emails", once=True)
    return len(rows)


@dataclass(frozen=True)
class KindSubscriber:
    """The fan-out for one event kind, as the outbox's slot wants it."""

    kind: str

    def __call__(self, *, events: Sequence[Event]) -> None:
        notifications_fan_out(events=events)


def subscribers_register() -> None:
    """Subscribe the fan-out to each event kind it routes (AppConfig.ready; idempotent)."""
    for kind in ROUTES:
        EVENT_SUBSCRIBERS.register(f"notifications.{kind}", KindSubscriber(kind))


def notifications_fan_out_again(*, event_ids: Sequence[int]) -> int:
    """Run the fan-out over already published events (a replay: nothing is written twice)."""
    with transaction.atomic():
        return notifications_fan_out(events=list(Event.objects.filter(pk__in=list(event_ids)).order_by("id")))
