from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from kronos.admin import SUPERUSER_ONLY, FirmScopedAdmin
from operations.models import (
    AccountBilling,
    BillingRun,
    BillingSettings,
    FeeAssignment,
    FeeCharge,
    FeeSchedule,
    FeeTier,
    JobChunk,
    JobRun,
    ReconciliationBreak,
)


class JobChunkInline(FirmScopedAdmin, admin.TabularInline):
    firm_scope = SUPERUSER_ONLY
    model = JobChunk
    extra = 0
    readonly_fields = ("index", "status", "attempts", "counts", "finished_at")
    fields = readonly_fields
    can_delete = False
    show_change_link = False


@admin.register(JobRun)
class JobRunAdmin(FirmScopedAdmin, admin.ModelAdmin):
    # A run covers every firm and its errors name their accounts; staff read runs at /ops/jobs/,
    # which shows each firm only its own errors.
    firm_scope = SUPERUSER_ONLY
    list_display = ["job", "business_date", "status", "started_at", "finished_at", "chunks_done", "chunks_total"]
    list_filter = ["job", "status"]
    date_hierarchy = "business_date"
    readonly_fields = ["started_at"]
    inlines = [JobChunkInline]


@admin.register(ReconciliationBreak)
class ReconciliationBreakAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "business_date", "asset", "ours", "theirs", "difference", "status"]
    list_filter = ["status", "business_date"]
    list_select_related = ["account"]
    search_fields = ["account__custodian_account_number", "asset"]
    readonly_fields = ["ours", "theirs", "difference", "adjustment_entry", "resolved_by", "resolved_at"]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class FeeTierInline(FirmScopedAdmin, admin.TabularInline):
    firm_scope = ("schedule__firm",)
    model = FeeTier
    extra = 0


@admin.register(FeeSchedule)
class FeeScheduleAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = [
        "name", "firm", "method", "flat_bps", "basis", "cycle", "timing", "aggregate_household",
        "minimum_annual_fee", "is_active",
    ]  # fmt: skip
    list_filter = ["method", "basis", "cycle", "timing", "aggregate_household", "is_active"]
    filter_horizontal = ["excluded_securities"]
    inlines = [FeeTierInline]


@admin.register(AccountBilling)
class AccountBillingAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "schedule", "excluded", "paid_from"]
    list_select_related = ["account", "schedule", "paid_from"]
    raw_id_fields = ["account", "paid_from"]


@admin.register(BillingSettings)
class BillingSettingsAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["firm", "credit_withdrawals"]


@admin.register(FeeAssignment)
class FeeAssignmentAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("household__firm",)
    list_display = ["household", "schedule"]
    list_select_related = ["household", "schedule"]
    autocomplete_fields = ["household"]


@admin.register(BillingRun)
class BillingRunAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["firm", "period_start", "period_end", "status", "total", "charge_count"]
    list_filter = ["status"]
    readonly_fields = ["total", "charge_count", "approved_by", "approved_at", "created_by"]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(FeeCharge)
class FeeChargeAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "period_start", "basis_amount", "effective_bps", "days_billed", "amount", "status"]
    list_filter = ["status", "period_start"]
    list_select_related = ["account"]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
