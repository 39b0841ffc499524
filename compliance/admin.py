from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from compliance.models import (
    AMLCase,
    AMLScreening,
    ComplianceSettings,
    KYCVerification,
    RestrictedSecurity,
    RiskProfile,
    SuitabilityCase,
    WatchlistEntry,
)
from kronos.admin import SHARED, FirmScopedAdmin
from kronos.retention import RetainedAdminMixin


class RetainedAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    pass


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(RetainedAdmin):
    firm_scope = ("firm",)
    list_display = ["firm", "concentration_limit", "kyc_mode", "aml_mode", "suitability_mode", "concentration_mode"]


@admin.register(KYCVerification)
class KYCVerificationAdmin(RetainedAdmin):
    firm_scope = ("investor__firm",)
    list_display = ["investor", "status", "provider", "started_at", "completed_at"]
    list_filter = ["status"]
    search_fields = ["investor__last_name", "provider_reference"]
    raw_id_fields = ["investor", "decided_by"]


@admin.register(WatchlistEntry)
class WatchlistEntryAdmin(RetainedAdmin):
    firm_scope = SHARED  # the watch list every firm screens against
    list_display = ["name", "list_name", "country", "date_of_birth", "is_active"]
    list_filter = ["list_name", "is_active"]
    search_fields = ["name", "aliases"]


@admin.register(AMLScreening)
class AMLScreeningAdmin(RetainedAdmin):
    firm_scope = ("investor__firm",)
    list_display = ["investor", "trigger", "best_score", "is_hit", "screened_at"]
    list_filter = ["is_hit", "trigger"]
    raw_id_fields = ["investor"]


@admin.register(AMLCase)
class AMLCaseAdmin(RetainedAdmin):
    firm_scope = ("investor__firm",)
    list_display = ["pk", "investor", "status", "best_score", "opened_at", "decided_by"]
    list_filter = ["status"]
    raw_id_fields = ["investor", "screening", "decided_by"]


@admin.register(RiskProfile)
class RiskProfileAdmin(RetainedAdmin):
    firm_scope = ("investor__firm",)
    list_display = ["investor", "risk_level", "score", "version", "completed_at"]
    raw_id_fields = ["investor", "completed_by"]


@admin.register(SuitabilityCase)
class SuitabilityCaseAdmin(RetainedAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["pk", "account", "status", "model_risk_level", "owner_risk_level", "opened_at"]
    list_filter = ["status"]
    raw_id_fields = ["account", "decided_by"]


@admin.register(RestrictedSecurity)
class RestrictedSecurityAdmin(RetainedAdmin):
    firm_scope = ("firm",)
    list_display = ["security", "firm", "reason", "is_active", "added_at"]
    list_filter = ["is_active", "firm"]
    raw_id_fields = ["security"]
