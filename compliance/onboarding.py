"""Investor onboarding as a Kailash SDK workflow: KYC → AML screening → risk profile.

The nodes are thin: each calls a compliance service (the same adapters underneath as the
pages and the API) and passes on plain ids and statuses, never model instances, so a run
is cheap and its results serialisable. `onboard_investor()` builds and runs the workflow.

    KYCVerificationNode  starts identity verification (or reports the current status)
    AMLScreeningNode     screens the investor against the watch list, opening a case on a hit
    RiskProfileNode      scores the questionnaire answers, when given
"""

from typing import Any

from kailash.nodes.base import Node, NodeParameter, register_node
from kailash.runtime.local import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

from compliance.errors import ComplianceError


def _investor_and_user(investor_id: int, acting_user_id: int | None) -> tuple[Any, Any]:
    from accounts.models import Investor, User
    from accounts.services import system_user

    investor = Investor.objects.get(pk=investor_id)
    user = User.objects.get(pk=acting_user_id) if acting_user_id else system_user()
    return investor, user


_COMMON = {
    "investor_id": NodeParameter(name="investor_id", type=int, required=True, description="The investor's id."),
    "acting_user_id": NodeParameter(
        name="acting_user_id", type=int, required=False, default=None, description="Who acts (None: system user)."
    ),
}


@register_node()
class KYCVerificationNode(Node):
    """Start the investor's identity verification with the KYC provider, unless one is under
    way or done; outputs the verification's status."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return dict(_COMMON)

    def run(self, **kwargs: Any) -> dict[str, Any]:
        from compliance import services
        from compliance.models import KYCVerification

        investor, user = _investor_and_user(kwargs["investor_id"], kwargs.get("acting_user_id"))
        current = KYCVerification.objects.filter(investor=investor).values_list("status", flat=True).first()
        message = ""
        if current in (None, KYCVerification.Status.NOT_STARTED, KYCVerification.Status.REJECTED):
            try:
                current = services.kyc_start(investor=investor, acting_user=user).status
            except ComplianceError as exc:
                message = exc.message
        return {
            "investor_id": investor.pk,
            "acting_user_id": kwargs.get("acting_user_id"),
            "kyc_status": current,
            "kyc_message": message,
        }


@register_node()
class AMLScreeningNode(Node):
    """Screen the investor's name, birth date and country; a hit opens an AML case."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            **_COMMON,
            "kyc_status": NodeParameter(name="kyc_status", type=str, required=False, default=""),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:
        from compliance import services

        investor, user = _investor_and_user(kwargs["investor_id"], kwargs.get("acting_user_id"))
        screening = services.aml_screen_investor(investor=investor, trigger="onboarding", acting_user=user)
        return {
            "investor_id": investor.pk,
            "acting_user_id": kwargs.get("acting_user_id"),
            "kyc_status": kwargs.get("kyc_status", ""),
            "aml_hit": screening.is_hit,
            "aml_score": str(screening.best_score),
        }


@register_node()
class RiskProfileNode(Node):
    """Score the questionnaire answers into the investor's risk profile (skipped without answers)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            **_COMMON,
            "answers": NodeParameter(name="answers", type=dict, required=False, default=None),
            "kyc_status": NodeParameter(name="kyc_status", type=str, required=False, default=""),
            "aml_hit": NodeParameter(name="aml_hit", type=bool, required=False, default=False),
            "aml_score": NodeParameter(name="aml_score", type=str, required=False, default="0"),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:
        from compliance import services

        investor, user = _investor_and_user(kwargs["investor_id"], kwargs.get("acting_user_id"))
        level = None
        answers = kwargs.get("answers")
        if answers:
            level = services.risk_profile_submit(investor=investor, answers=answers, acting_user=user).risk_level
        return {
            "investor_id": investor.pk,
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
    for field in ("investor_id", "acting_user_id", "kyc_status"):
        builder.add_connection("kyc", field, "aml", field)
    for field in ("investor_id", "acting_user_id", "kyc_status", "aml_hit", "aml_score"):
        builder.add_connection("aml", field, "risk", field)
    return builder.build(workflow_id="investor_onboarding")


def onboard_investor(*, investor: Any, acting_user: Any, answers: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the onboarding workflow for one investor; returns the last node's outputs:
    {investor_id, kyc_status, aml_hit, aml_score, risk_level}."""
    workflow = build_onboarding_workflow()
    parameters: dict[str, dict[str, Any]] = {
        "kyc": {"investor_id": investor.pk, "acting_user_id": getattr(acting_user, "pk", None)},
        "risk": {"answers": answers},
    }
    with LocalRuntime() as runtime:
        results, _ = runtime.execute(workflow, parameters=parameters)
    for node_id in ("kyc", "aml", "risk"):
        outcome = results.get(node_id) or {}
        if isinstance(outcome, dict) and outcome.get("error"):
            raise ComplianceError(f"Onboarding stopped at the {node_id} step: {outcome['error']}")
    return results["risk"]
