"""Writes of the compliance domain: KYC, AML screening and cases, risk profiles, suitability,
restricted securities and the firm's rules (see each module's docstring).

Each service validates first, runs in one transaction, records the acting user on the
history row (jobs and inbound webhooks act as the system user) and raises
`ComplianceError` with a readable message.
"""

from compliance.services.aml import (
    WATCHLIST_COLUMNS,
    aml_case_decide,
    aml_record_screening,
    aml_rescreen_all,
    aml_screen_investor,
    watchlist_import,
)
from compliance.services.common import case_add_note
from compliance.services.firm_rules import compliance_settings_update, restricted_security_add, restricted_security_lift
from compliance.services.kyc import (
    WebhookRefused,
    WebhookReplayed,
    kyc_applicant,
    kyc_apply_result,
    kyc_confirm_start,
    kyc_decide,
    kyc_provider_start,
    kyc_record_start,
    kyc_refresh_pending,
    kyc_release_start,
    kyc_reserve_start,
    kyc_start,
    kyc_webhook_receive,
)
from compliance.services.suitability import (
    risk_profile_submit,
    suitability_case_resolve,
    suitability_recheck_for_investor,
)

__all__ = [
    "WATCHLIST_COLUMNS",
    "WebhookRefused",
    "WebhookReplayed",
    "aml_case_decide",
    "aml_record_screening",
    "aml_rescreen_all",
    "aml_screen_investor",
    "case_add_note",
    "compliance_settings_update",
    "kyc_applicant",
    "kyc_apply_result",
    "kyc_confirm_start",
    "kyc_decide",
    "kyc_provider_start",
    "kyc_record_start",
    "kyc_refresh_pending",
    "kyc_release_start",
    "kyc_reserve_start",
    "kyc_start",
    "kyc_webhook_receive",
    "restricted_security_add",
    "restricted_security_lift",
    "risk_profile_submit",
    "suitability_case_resolve",
    "suitability_recheck_for_investor",
    "watchlist_import",
]
