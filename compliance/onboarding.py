"""Investor onboarding as a Kailash SDK workflow: KYC → AML screening → risk profile.

The nodes are thin: each calls a compliance service (the same adapters underneath as the
pages and the API) and passes on plain ids and statuses, never model instances, so a run
is cheap and its results serialisable. `onboard_investor()` builds and runs the workflow.

    KYCVerificationNode  starts identity verification (or reports the current status)
    AMLScreeningNode     screens the investor against the watch list, opening a case on a hit
    RiskProfileNode      scores the questionnaire answers, when given
"""

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from kailash.nodes.base import Node, NodeParameter, register_node
from kailash.workflow.builder import WorkflowBuilder

from accounts.models import Investor, User
from compliance import services
from compliance.adapters import aml as aml_adapter
from compliance.adapters import kyc as kyc_adapter
from compliance.engine import risk
from compliance.errors import ComplianceError
from compliance.models import AMLScreening, KYCVerification
from kronos.workflow_runtime import quiet_runtime

# Kailash runs nodes inside its event loop, where Django's ORM refuses to run; so the nodes
# touch only the adapters and pure code, the ORM is read before the run and written after
# it by the services. Per-run objects (providers) wait here, keyed by the run's token.
_CONTEXT: dict[str, dict[str, Any]] = {}


def _date(value: Any) -> Any:

    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _context(token: str) -> dict[str, Any]:
    return _CONTEXT[token]


_COMMON = {
    "token": NodeParameter(name="token", type=str, required=True, description="The run's context key."),
    "applicant": NodeParameter(name="applicant", type=dict, required=True, description="Name, birth date, country."),
}


@register_node()
class KYCVerificationNode(Node):
    """Start the investor's identity verification with the KYC provider (Jumio-shaped adapter),
    unless one is under way or done; outputs the attempt's reference and status."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {**_COMMON, "kyc_status": NodeParameter(name="kyc_status", type=str, required=False, default="")}

    def run(self, **kwargs: Any) -> dict[str, Any]:

        ctx = _context(kwargs["token"])
        status = kwargs.get("kyc_status") or "not_started"
        started = None
        if status in ("not_started", "rejected"):
            a = kwargs["applicant"]
            try:
                started = ctx["kyc_provider"].start(
                    applicant=kyc_adapter.Applicant(
                        reference=a["reference"],
                        first_name=a["first_name"],
                        last_name=a["last_name"],
                        date_of_birth=_date(a["date_of_birth"]),
                        country=a["country"],
                    ),
                    callback_url=ctx["callback_url"],
                )
                status = "pending"
            except kyc_adapter.KYCProviderError as exc:
                ctx["kyc_error"] = str(exc)
        ctx["kyc_started"] = started
        return {"token": kwargs["token"], "applicant": kwargs["applicant"], "kyc_status": status}


@register_node()
class AMLScreeningNode(Node):
    """Screen the investor's name, birth date and country (ComplyAdvantage-shaped adapter)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {**_COMMON, "kyc_status": NodeParameter(name="kyc_status", type=str, required=False, default="")}

    def run(self, **kwargs: Any) -> dict[str, Any]:

        ctx = _context(kwargs["token"])
        a = kwargs["applicant"]
        found = aml_adapter.screen(
            ctx["aml_provider"],
            name=f"{a['first_name']} {a['last_name']}",
            date_of_birth=_date(a["date_of_birth"]),
            country=a["country"],
        )
        ctx["aml_result"] = found
        return {
            "token": kwargs["token"],
            "applicant": a,
            "kyc_status": kwargs.get("kyc_status", ""),
            "aml_hit": found.is_hit,
            "aml_score": str(found.best_score),
        }


@register_node()
class RiskProfileNode(Node):
    """Score the questionnaire answers to a risk level (skipped without answers)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            **_COMMON,
            "answers": NodeParameter(name="answers", type=dict, required=False, default=None),
            "kyc_status": NodeParameter(name="kyc_status", type=str, required=False, default=""),
            "aml_hit": NodeParameter(name="aml_hit", type=bool, required=False, default=False),
            "aml_score": NodeParameter(name="aml_score", type=str, required=False, default="0"),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:

        answers = kwargs.get("answers")
        level = None
        if answers and not risk.errors(answers):
            level = risk.score(answers).risk_level
        return {
            "kyc_status": kwargs.get("kyc_status", ""),
            "aml_hit": kwargs.get("aml_hit", False),
            "aml_score": kwargs.get("aml_score", "0"),
            "risk_level": level,
        }


def build_onboarding_workflow() -> Any:
    builder = WorkflowBuilder()
    builder.add_node("KYCVerificationNode", "kyc", {})
    builder.add_node("AMLScreeningNode", "aml", {})
    builder.add_node("RiskProfileNode", "risk", {})
    for field in ("token", "applicant", "kyc_status"):
        builder.add_connection("kyc", field, "aml", field)
    for field in ("token", "applicant", "kyc_status", "aml_hit", "aml_score"):
        builder.add_connection("aml", field, "risk", field)
    return builder.build(workflow_id="investor_onboarding")


def onboard_investor(*, investor: Investor, acting_user: User, answers: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the onboarding workflow for one investor and record its results through the
    services: {kyc_status, aml_hit, aml_score, risk_level}."""

    current = KYCVerification.objects.filter(investor=investor).values_list("status", flat=True).first()
    applicant = services.kyc_applicant(investor)
    aml_provider = aml_adapter.get_provider()
    if hasattr(aml_provider, "candidates"):
        aml_provider.candidates()  # read the watch list now, outside the runtime's event loop
    kyc_provider = kyc_adapter.get_provider()
    token = uuid.uuid4().hex
    _CONTEXT[token] = {
        "kyc_provider": kyc_provider,
        "aml_provider": aml_provider,
        "callback_url": settings.KYC_CALLBACK_URL,
    }
    applicant_data = {
        "reference": applicant.reference,
        "first_name": applicant.first_name,
        "last_name": applicant.last_name,
        # ISO text: Kailash refuses node outputs that are not JSON (a date object failed every run)
        "date_of_birth": applicant.date_of_birth.isoformat() if applicant.date_of_birth else None,
        "country": applicant.country,
    }
    # The attempt is recorded (pending, under the applicant's reference) before the node calls
    # the provider: its result may arrive by webhook before the run ends.
    reserved = None
    if (current or "not_started") in (KYCVerification.Status.NOT_STARTED, KYCVerification.Status.REJECTED):
        _, previous = services.kyc_reserve_start(
            investor=investor, reference=applicant.reference, provider_name=kyc_provider.name, acting_user=acting_user
        )
        reserved = applicant.reference
    try:
        with quiet_runtime() as runtime:
            results, _ = runtime.execute(
                build_onboarding_workflow(),
                parameters={
                    "kyc": {"token": token, "applicant": applicant_data, "kyc_status": current or "not_started"},
                    "risk": {"answers": answers},
                },
            )
    finally:
        ctx = _CONTEXT.pop(token, {})
        if reserved is not None and ctx.get("kyc_started") is None:
            services.kyc_release_start(reference=reserved, previous_status=previous, acting_user=acting_user)
    out = results.get("risk") or {}
    if not isinstance(out, dict) or "risk_level" not in out:
        raise ComplianceError(f"Onboarding failed: {results}")
    if ctx.get("kyc_error"):
        raise ComplianceError("The identity verification service is unavailable; please try again in a minute.")
    if ctx.get("kyc_started") is not None:
        services.kyc_confirm_start(started=ctx["kyc_started"], acting_user=acting_user)
    services.aml_record_screening(
        investor=investor, found=ctx["aml_result"], trigger=AMLScreening.Trigger.ONBOARDING, acting_user=acting_user
    )
    if answers:
        services.risk_profile_submit(investor=investor, answers=answers, acting_user=acting_user)
    return {k: out[k] for k in ("kyc_status", "aml_hit", "aml_score", "risk_level")}
