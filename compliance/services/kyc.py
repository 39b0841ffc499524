"""KYC: starting a verification with the provider, applying its result (webhook or refresh),
and an officer's decision. Retries are safe: a webhook event is applied once, a start reuses its
reference.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Investor, User
from accounts.services import event_emit, system_user
from compliance.adapters import kyc as kyc_adapter
from compliance.errors import ComplianceError
from compliance.hooks import KYC_DECIDED_HOOKS, KYCDecidedHook
from compliance.models import KYCVerification, WebhookEvent
from compliance.services.common import append_note, save_or_error
from kronos.inputs import loads_json

logger = logging.getLogger(__name__)


def _kyc_event(verification: KYCVerification, investor: Investor) -> None:
    event_emit(
        kind="kyc.updated",
        firm=investor.firm_id,
        investor=investor,
        subject_type="kyc_verification",
        subject_id=verification.pk,
        payload={
            "investor": investor.pk,
            "verification": verification.pk,
            "status": verification.status,
            "provider": verification.provider,
        },
    )


def _kyc_check_startable(verification: KYCVerification, investor: Investor) -> None:
    if verification.status == KYCVerification.Status.PENDING:
        raise ComplianceError(
            f"{investor.full_name}'s verification is already pending.", code="kyc_pending", status_code=409
        )
    if verification.status == KYCVerification.Status.NEEDS_REVIEW:
        raise ComplianceError(
            f"{investor.full_name}'s verification is waiting for a compliance officer's decision.",
            code="kyc_needs_review",
            status_code=409,
        )
    if verification.status == KYCVerification.Status.APPROVED:
        raise ComplianceError(f"{investor.full_name} is already verified.", code="kyc_approved", status_code=409)


def kyc_applicant(investor: Investor) -> kyc_adapter.Applicant:
    """The applicant for a new attempt, with a fresh reference (the provider's idempotency key)."""
    return kyc_adapter.Applicant(
        reference=f"kyc-{investor.pk}-{uuid.uuid4().hex[:12]}",
        first_name=investor.first_name,
        last_name=investor.last_name,
        date_of_birth=investor.date_of_birth,
        country=investor.country,
    )


def kyc_provider_start(provider: kyc_adapter.KYCProvider, applicant: kyc_adapter.Applicant) -> kyc_adapter.Started:
    try:
        return provider.start(applicant=applicant, callback_url=settings.KYC_CALLBACK_URL)
    except kyc_adapter.KYCProviderError as exc:
        raise ComplianceError(
            "The identity verification service is unavailable; please try again in a minute.", code="kyc_provider"
        ) from exc


def kyc_start(
    *, investor: Investor, acting_user: User | None, provider: kyc_adapter.KYCProvider | None = None
) -> KYCVerification:
    """Start (or restart after a rejection) an investor's identity verification.

    Refused while one is pending or under review, or once approved. The provider is called
    with a fresh reference that is also its idempotency key, so a retried call starts nothing twice.
    """
    provider = provider or kyc_adapter.get_provider()
    applicant = kyc_applicant(investor)
    # Recorded (and committed) before the provider is called: its result may come back sooner
    # than its answer to the start.
    verification, previous = kyc_reserve_start(
        investor=investor, reference=applicant.reference, provider_name=provider.name, acting_user=acting_user
    )
    try:
        started = kyc_provider_start(provider, applicant)
    except BaseException:
        kyc_release_start(reference=applicant.reference, previous_status=previous, acting_user=acting_user)
        raise
    return kyc_confirm_start(started=started, acting_user=acting_user) or verification


@transaction.atomic
def kyc_record_start(
    *, investor: Investor, started: kyc_adapter.Started, provider_name: str, acting_user: User | None
) -> KYCVerification:
    """Record that the provider accepted a new attempt (the onboarding workflow calls the
    provider in its node, then this)."""
    verification, _ = KYCVerification.objects.select_for_update().get_or_create(investor=investor)
    _kyc_check_startable(verification, investor)
    verification.status = KYCVerification.Status.PENDING
    verification.provider = provider_name
    verification.provider_reference = started.reference
    verification.redirect_url = started.redirect_url
    verification.started_at = timezone.now()
    verification.completed_at = None
    verification.provider_reason = ""
    verification.decided_by = None
    save_or_error(verification, acting_user=acting_user, reason="KYC started")
    _kyc_event(verification, investor)
    return verification


@transaction.atomic
def kyc_reserve_start(
    *, investor: Investor, reference: str, provider_name: str, acting_user: User | None
) -> tuple[KYCVerification, str]:
    """Record a new attempt as pending under `reference` *before* the provider is called, so
    a result that the provider sends before its answer to the start finds its verification
    (the onboarding workflow calls the provider in its node, then `kyc_confirm_start`, or
    `kyc_release_start` when the provider refused). Answers the verification and the status
    it had, to restore on a refusal."""
    verification, _ = KYCVerification.objects.select_for_update().get_or_create(investor=investor)
    _kyc_check_startable(verification, investor)
    previous = verification.status
    verification.status = KYCVerification.Status.PENDING
    verification.provider = provider_name
    verification.provider_reference = reference
    verification.redirect_url = ""
    verification.started_at = timezone.now()
    verification.completed_at = None
    verification.provider_reason = ""
    verification.decided_by = None
    save_or_error(verification, acting_user=acting_user, reason="KYC started")
    _kyc_event(verification, investor)
    return verification, previous


@transaction.atomic
def kyc_confirm_start(*, started: kyc_adapter.Started, acting_user: User | None) -> KYCVerification | None:
    """The provider accepted the attempt reserved under `started.reference`: keep its redirect
    link. Its status is left alone (a result may already have arrived)."""
    verification = KYCVerification.objects.select_for_update().filter(provider_reference=started.reference).first()
    if verification is None or verification.redirect_url == started.redirect_url:
        return verification
    verification.redirect_url = started.redirect_url
    save_or_error(verification, acting_user=acting_user, reason="KYC started at the provider")
    return verification


@transaction.atomic
def kyc_release_start(*, reference: str, previous_status: str, acting_user: User | None) -> None:
    """The provider refused the attempt reserved under `reference`: the verification goes back
    to the status it had (nothing was started)."""
    verification = (
        KYCVerification.objects.select_for_update()
        .filter(provider_reference=reference, status=KYCVerification.Status.PENDING)
        .select_related("investor")
        .first()
    )
    if verification is None:
        return
    verification.status = previous_status
    verification.started_at = None
    save_or_error(verification, acting_user=acting_user, reason="KYC provider unavailable; not started")
    _kyc_event(verification, verification.investor)


@transaction.atomic
def kyc_apply_result(*, result: kyc_adapter.Result, acting_user: User | None) -> KYCVerification | None:
    """Record the provider's outcome for a pending verification; a result for an old attempt,
    or one already applied, changes nothing (returns None)."""
    verification = (
        KYCVerification.objects.select_for_update()
        .filter(provider_reference=result.reference)
        .select_related("investor")
        .first()
    )
    if verification is None or verification.status != KYCVerification.Status.PENDING:
        return None
    verification.status = result.status
    verification.provider_reason = result.reason
    verification.completed_at = timezone.now()
    _after_kyc_decision(verification.investor_id)
    save_or_error(verification, acting_user=acting_user, reason=f"KYC result: {result.status}")
    _kyc_event(verification, verification.investor)
    return verification


def _after_kyc_decision(investor_id: int) -> None:
    """Run `compliance.hooks.KYC_DECIDED_HOOKS` after the commit (onboarding opens the accounts
    waiting on this investor); a hook's failure is logged, never undoes the decision."""
    for hook in KYC_DECIDED_HOOKS.checks():

        def run(hook: KYCDecidedHook = hook) -> None:
            try:
                hook(investor_id=investor_id)
            except Exception:  # a hook must not break the provider's callback
                logger.exception("KYC decision hook failed", extra={"hook": repr(hook), "investor_id": investor_id})

        transaction.on_commit(run)


class WebhookRefused(ComplianceError):
    status_code = 401


class WebhookReplayed(ComplianceError):
    status_code = 409


@transaction.atomic
def kyc_webhook_receive(
    *, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> KYCVerification | None:
    """Verify and apply a KYC provider callback, as the system user.

    Refused (and nothing changed) when the signature is missing or wrong, the timestamp is
    outside settings.WEBHOOK_TOLERANCE_SECONDS, or the event id was seen before.
    """
    problem = kyc_adapter.verify(body, timestamp, signature, now=now)
    if problem:
        raise WebhookRefused(f"Webhook refused: {problem}.", code="bad_signature")
    try:
        result = kyc_adapter.parse_result(loads_json(body))
    except (ValueError, KeyError, TypeError) as exc:
        raise ComplianceError("Webhook refused: the body is not a KYC result.", code="bad_payload") from exc
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(provider="kyc", event_id=result.event_id)
    except IntegrityError as exc:
        raise WebhookReplayed("Webhook refused: this event was already received.", code="replayed") from exc
    return kyc_apply_result(result=result, acting_user=system_user())


def kyc_refresh_pending(*, older_than: timedelta = timedelta(minutes=10), acting_user: User | None = None) -> int:
    """Job: ask the provider for verifications pending longer than `older_than` (a lost
    callback), applying any result found. Returns how many were updated."""
    acting_user = acting_user or system_user()
    provider = kyc_adapter.get_provider()
    cutoff = timezone.now() - older_than
    updated = 0
    pending = KYCVerification.objects.filter(status=KYCVerification.Status.PENDING, started_at__lte=cutoff)
    for reference in pending.values_list("provider_reference", flat=True).iterator(chunk_size=500):
        try:
            result = provider.fetch(reference=reference)
        except kyc_adapter.KYCProviderError:
            logger.warning("kyc poll failed", extra={"reference": reference})
            continue
        if result and kyc_apply_result(result=result, acting_user=acting_user):
            updated += 1
    return updated


@transaction.atomic
def kyc_decide(*, verification: KYCVerification, decision: str, note: str, acting_user: User) -> KYCVerification:
    """A compliance officer approves or rejects a verification the provider sent to review."""
    if decision not in (KYCVerification.Status.APPROVED, KYCVerification.Status.REJECTED):
        raise ComplianceError("Choose approve or reject.", field="decision")
    verification = KYCVerification.objects.select_for_update().get(pk=verification.pk)
    if verification.status != KYCVerification.Status.NEEDS_REVIEW:
        raise ComplianceError(
            f"Only a verification that needs review can be decided; this one is {verification.get_status_display().lower()}.",
            code="kyc_not_in_review",
        )
    if decision == KYCVerification.Status.REJECTED and not (note or "").strip():
        raise ComplianceError("Say why the verification is rejected.", field="note")
    verification.status = decision
    verification.decided_by = acting_user
    verification.completed_at = timezone.now()
    verification.notes = append_note(verification.notes, note=note or f"Decision: {decision}", acting_user=acting_user)
    _after_kyc_decision(verification.investor_id)
    save_or_error(verification, acting_user=acting_user, reason=f"KYC {decision} by reviewer")
    _kyc_event(verification, verification.investor)
    return verification
