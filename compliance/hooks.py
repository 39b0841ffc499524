"""What compliance calls after its decisions, filled in by the apps above it (onboarding) in their
`AppConfig.ready()`; see kronos/checks_registry.py."""

from typing import Protocol

from kronos.checks_registry import Slot


class KYCDecidedHook(Protocol):
    """Called after a KYC decision commits; a failure is logged, never undoes the decision."""

    def __call__(self, *, investor_id: int) -> None: ...


KYC_DECIDED_HOOKS: Slot[KYCDecidedHook] = Slot(
    "compliance.kyc_decided",
    required=("onboarding.kyc_decided",),
    doc="onboarding opens the accounts that waited on the investor's KYC decision.",
)
