"""Writes of the compliance domain: KYC, AML screening and cases, risk profiles, suitability,
restricted securities and the firm's rules.

Each service validates first, runs in one transaction, records the acting user on the
history row (jobs and inbound webhooks act as the system user) and raises
`ComplianceError` with a readable message. Retries are safe where they can happen: a
webhook event is applied once, a KYC start reuses its reference, a rescreen opens no
second case for the same match.
"""

import csv
import io
import logging
import uuid
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.events import event_emit
from accounts.models import Firm, HouseholdMember, Investor, User
from accounts.services import system_user
from compliance import risk
from compliance.adapters import aml as aml_adapter
from compliance.adapters import kyc as kyc_adapter
from compliance.errors import ComplianceError
from compliance.hooks import KYC_DECIDED_HOOKS, KYCDecidedHook
from compliance.models import (
    AMLCase,
    AMLScreening,
    ComplianceSettings,
    KYCVerification,
    RestrictedSecurity,
    RiskProfile,
    SuitabilityCase,
    WatchlistEntry,
    WebhookEvent,
)
from kronos.history import save_attributed
from kronos.inputs import loads_json

logger = logging.getLogger(__name__)

OWNER_RELATIONSHIPS = (HouseholdMember.Relationship.PRIMARY, HouseholdMember.Relationship.JOINT)


def _save(instance: Any, *, acting_user: User | None, reason: str) -> Any:
    try:
        return save_attributed(instance, acting_user=acting_user, reason=reason)
    except ValidationError as exc:
        raise ComplianceError.from_validation(exc) from exc


def _append_note(existing: str, *, note: str, acting_user: User | None) -> str:
    note = (note or "").strip()
    if not note:
        return existing
    who = acting_user.get_full_name() if acting_user else "system"
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    line = f"[{stamp} {who}] {note}"
    return f"{existing}\n{line}" if existing else line


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


def _aml_case_event(kind: str, case: AMLCase, firm_id: int) -> None:
    event_emit(
        kind=kind,
        firm=firm_id,
        investor=case.investor_id,
        subject_type="aml_case",
        subject_id=case.pk,
        payload={"case": case.pk, "investor": case.investor_id, "status": case.status},
    )


# --- KYC -----------------------------------------------------------------------------------


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
    _save(verification, acting_user=acting_user, reason="KYC started")
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
    _save(verification, acting_user=acting_user, reason="KYC started")
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
    _save(verification, acting_user=acting_user, reason="KYC started at the provider")
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
    _save(verification, acting_user=acting_user, reason="KYC provider unavailable; not started")
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
    _save(verification, acting_user=acting_user, reason=f"KYC result: {result.status}")
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
    verification.notes = _append_note(verification.notes, note=note or f"Decision: {decision}", acting_user=acting_user)
    _after_kyc_decision(verification.investor_id)
    _save(verification, acting_user=acting_user, reason=f"KYC {decision} by reviewer")
    _kyc_event(verification, verification.investor)
    return verification


# --- AML -----------------------------------------------------------------------------------


def aml_screen_investor(
    *,
    investor: Investor,
    trigger: str,
    acting_user: User | None,
    provider: aml_adapter.AMLProvider | None = None,
) -> AMLScreening:
    """Screen one investor's name, birth date and country; a hit at or above
    settings.AML_MATCH_THRESHOLD opens a case (at most one open per investor), which freezes
    trading. A hit a compliance officer already cleared for the same list entries opens none."""
    provider = provider or aml_adapter.get_provider()
    found = aml_adapter.screen(
        provider, name=investor.full_name, date_of_birth=investor.date_of_birth, country=investor.country
    )
    return aml_record_screening(investor=investor, found=found, trigger=trigger, acting_user=acting_user)


def aml_record_screening(
    *, investor: Investor, found: aml_adapter.ScreeningResult, trigger: str, acting_user: User | None
) -> AMLScreening:
    """Store a screening's result and open a case on a hit (see aml_screen_investor)."""
    with transaction.atomic():
        screening = AMLScreening(
            investor=investor,
            trigger=trigger,
            provider=found.provider,
            best_score=found.best_score,
            matches=[h.as_json() for h in found.hits[:10]],
            is_hit=found.is_hit,
        )
        _save(screening, acting_user=acting_user, reason=f"AML screening ({trigger})")
        if found.is_hit:
            _open_case_for(screening=screening, hits=found.hits, threshold=found.threshold, acting_user=acting_user)
    return screening


def _open_case_for(
    *, screening: AMLScreening, hits: list[aml_adapter.Hit], threshold: Any, acting_user: User | None
) -> AMLCase | None:
    hit_refs = {h.ref for h in hits if h.score >= threshold}
    cases = AMLCase.objects.select_for_update().filter(investor_id=screening.investor_id)
    for case in cases:
        case_refs = {m["ref"] for m in case.matches}
        if case.status in AMLCase.FREEZING:
            return None  # already frozen by an open or confirmed case
        if case.status == AMLCase.Status.CLEARED and hit_refs <= case_refs:
            return None
    case = AMLCase(
        investor_id=screening.investor_id,
        screening=screening,
        best_score=screening.best_score,
        matches=[h.as_json() for h in hits if h.score >= threshold],
    )
    _save(case, acting_user=acting_user, reason="AML case opened")
    _aml_case_event("aml.case_opened", case, screening.investor.firm_id)
    return case


def aml_rescreen_all(*, acting_user: User | None = None, chunk_size: int = 500) -> dict[str, int]:
    """Job: rescreen every investor against the current watch list (the list is read once)."""
    acting_user = acting_user or system_user()
    provider = aml_adapter.get_provider()
    counts = {"screened": 0, "hits": 0}
    investors = Investor.objects.order_by("id")
    for investor in investors.iterator(chunk_size=chunk_size):
        screening = aml_screen_investor(
            investor=investor, trigger=AMLScreening.Trigger.SCHEDULED, acting_user=acting_user, provider=provider
        )
        counts["screened"] += 1
        counts["hits"] += int(screening.is_hit)
    return counts


@transaction.atomic
def aml_case_decide(*, case: AMLCase, decision: str, note: str, acting_user: User) -> AMLCase:
    """Clear a case as a false positive (unfreezes trading) or confirm the match (stays frozen).
    A note saying why is required either way."""
    if decision not in (AMLCase.Status.CLEARED, AMLCase.Status.CONFIRMED):
        raise ComplianceError("Choose clear or confirm.", field="decision")
    if not (note or "").strip():
        raise ComplianceError("Write a note saying why.", field="note")
    case = AMLCase.objects.select_for_update().get(pk=case.pk)
    if case.status != AMLCase.Status.OPEN:
        raise ComplianceError(f"This case is already {case.get_status_display().lower()}.", code="case_closed")
    case.status = decision
    case.decided_at = timezone.now()
    case.decided_by = acting_user
    case.notes = _append_note(case.notes, note=note, acting_user=acting_user)
    _save(case, acting_user=acting_user, reason=f"AML case {decision}")
    _aml_case_event("aml.case_updated", case, case.investor.firm_id)
    return case


@transaction.atomic
def case_add_note(*, case: AMLCase | SuitabilityCase | KYCVerification, note: str, acting_user: User) -> Any:
    """Add a note to a case without deciding it."""
    if not (note or "").strip():
        raise ComplianceError("The note is empty.", field="note")
    case = type(case).objects.select_for_update().get(pk=case.pk)
    case.notes = _append_note(case.notes, note=note, acting_user=acting_user)
    return _save(case, acting_user=acting_user, reason="note added")


WATCHLIST_COLUMNS = ("name", "aliases", "date_of_birth", "country", "list")


def watchlist_import(*, csv_text: str, acting_user: User | None) -> dict[str, int]:
    """Load a watch list CSV (name, aliases, date_of_birth, country, list). Rows already
    present (same list, name and birth date) are updated; a bad row refuses the whole file
    with its line number."""
    reader = csv.DictReader(io.StringIO(csv_text))
    missing = set(WATCHLIST_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ComplianceError(f"The watch list is missing columns: {', '.join(sorted(missing))}.")
    parsed: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        name = (row["name"] or "").strip()
        if not name:
            raise ComplianceError(f"Line {line}: the name is empty.")
        born = None
        if (row["date_of_birth"] or "").strip():
            try:
                born = date.fromisoformat(row["date_of_birth"].strip())
            except ValueError as exc:
                raise ComplianceError(f"Line {line}: date of birth must be YYYY-MM-DD.") from exc
        country = (row["country"] or "").strip().upper()
        if country and len(country) != 2:
            raise ComplianceError(f"Line {line}: country must be a 2-letter code.")
        aliases = ";".join(a.strip() for a in (row["aliases"] or "").replace("|", ";").split(";") if a.strip())
        parsed.append(
            {
                "name": name,
                "aliases": aliases,
                "date_of_birth": born,
                "country": country,
                "list_name": (row["list"] or "").strip() or "unspecified",
            }
        )
    with transaction.atomic():
        existing = {
            (e.list_name, e.name, e.date_of_birth): e
            for e in WatchlistEntry.objects.filter(name__in={p["name"] for p in parsed})
        }
        new, changed = [], []
        for p in parsed:
            entry = existing.get((p["list_name"], p["name"], p["date_of_birth"]))
            if entry is None:
                new.append(WatchlistEntry(**p))
            elif (entry.aliases, entry.country, entry.is_active) != (p["aliases"], p["country"], True):
                entry.aliases, entry.country, entry.is_active = p["aliases"], p["country"], True
                changed.append(entry)
        bulk_create_with_history(new, WatchlistEntry, batch_size=1000, default_user=acting_user)
        if changed:
            bulk_update_with_history(
                changed, WatchlistEntry, ["aliases", "country", "is_active"], batch_size=1000, default_user=acting_user
            )
    return {"created": len(new), "updated": len(changed), "unchanged": len(parsed) - len(new) - len(changed)}


# --- Risk profiles and suitability -----------------------------------------------------------


def risk_profile_submit(*, investor: Investor, answers: dict[str, Any], acting_user: User) -> RiskProfile:
    """Score the questionnaire, save it as the investor's next profile version, and recheck
    the suitability of every account the investor owns (opening cases where the model is now
    too risky)."""
    problems = risk.errors(answers)
    if problems:
        raise ComplianceError("Please answer every question.", errors=problems)
    clean = {key: str(answers[key]) for key in risk.QUESTION_KEYS}
    scored = risk.score(clean)
    with transaction.atomic():
        profile = RiskProfile.objects.select_for_update().filter(investor=investor).first()
        if profile is None:
            profile = RiskProfile(investor=investor, version=0)
        profile.answers = clean
        profile.score = scored.score
        profile.risk_level = scored.risk_level
        profile.version += 1
        profile.completed_at = timezone.now()
        profile.completed_by = acting_user
        _save(profile, acting_user=acting_user, reason=f"risk questionnaire v{profile.version}")
        suitability_recheck_for_investor(investor=investor, acting_user=acting_user)
    return profile


def suitability_recheck_for_investor(*, investor: Investor, acting_user: User | None) -> list[SuitabilityCase]:
    """Open a suitability case for each account of the investor's households whose model is
    now riskier than its owners' (lowest) risk level."""
    from compliance.suitability import account_owner_risk_level
    from portfolios.models import InvestmentAccount

    opened = []
    accounts = (
        InvestmentAccount.objects.filter(household__members__investor=investor, model__isnull=False)
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .select_related("model")
        .distinct()
    )
    for account in accounts:
        model = account.model
        assert model is not None  # filtered above
        level = account_owner_risk_level(account)
        if level is not None and model.risk_level <= level:
            continue
        if SuitabilityCase.objects.filter(account=account, status=SuitabilityCase.Status.OPEN).exists():
            continue
        reason = (
            f"Model {model.name} (risk {model.risk_level}) is riskier than the owners' level {level}."
            if level is not None
            else f"An owner has no risk profile for model {model.name}."
        )
        case = SuitabilityCase(
            account=account, model_risk_level=model.risk_level, owner_risk_level=level, reason=reason
        )
        opened.append(_save(case, acting_user=acting_user, reason="suitability case opened"))
    return opened


@transaction.atomic
def suitability_case_resolve(*, case: SuitabilityCase, note: str, acting_user: User) -> SuitabilityCase:
    """Close a suitability case once the model was changed or the profile re-taken (with a note)."""
    if not (note or "").strip():
        raise ComplianceError("Write a note saying how it was resolved.", field="note")
    case = SuitabilityCase.objects.select_for_update().get(pk=case.pk)
    if case.status != SuitabilityCase.Status.OPEN:
        raise ComplianceError("This case is already resolved.", code="case_closed")
    case.status = SuitabilityCase.Status.RESOLVED
    case.decided_at = timezone.now()
    case.decided_by = acting_user
    case.notes = _append_note(case.notes, note=note, acting_user=acting_user)
    return _save(case, acting_user=acting_user, reason="suitability case resolved")


# --- Restricted securities and the firm's rules --------------------------------------------


@transaction.atomic
def restricted_security_add(*, firm: Firm, security: Any, reason: str, acting_user: User | None) -> RestrictedSecurity:
    if not (reason or "").strip():
        raise ComplianceError("Say why the security is restricted.", field="reason")
    if RestrictedSecurity.objects.filter(firm=firm, security=security, is_active=True).exists():
        raise ComplianceError(f"{security.symbol} is already restricted.", field="security")
    entry = RestrictedSecurity(firm=firm, security=security, reason=reason.strip())
    return _save(entry, acting_user=acting_user, reason="security restricted")


@transaction.atomic
def restricted_security_lift(*, entry: RestrictedSecurity, acting_user: User | None) -> RestrictedSecurity:
    entry = RestrictedSecurity.objects.select_for_update().get(pk=entry.pk)
    entry.is_active = False
    return _save(entry, acting_user=acting_user, reason="restriction lifted")


@transaction.atomic
def compliance_settings_update(*, firm: Firm, acting_user: User | None, **changes: Any) -> ComplianceSettings:
    """Change a firm's rule modes or concentration limit."""
    allowed = {f.name for f in ComplianceSettings._meta.concrete_fields} - {"id", "firm", "updated_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise ComplianceError(f"These settings do not exist: {', '.join(sorted(unknown))}.")
    current, _ = ComplianceSettings.objects.select_for_update().get_or_create(firm=firm)
    for key, value in changes.items():
        setattr(current, key, value)
    return _save(current, acting_user=acting_user, reason="compliance settings changed")
