"""Operations' admin for securities, prices, models, accounts and the ledger (read-only where the ledger rules)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from simple_history.admin import SimpleHistoryAdmin

from kronos.admin import SHARED, FirmScopedAdmin
from kronos.retention import RetainedAdminMixin
from portfolios.errors import PortfoliosError
from portfolios.models import (
    Benchmark,
    BenchmarkComponent,
    CashBalance,
    CorporateAction,
    CorporateActionEntitlement,
    HouseholdBenchmark,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    LotClosure,
    ModelPortfolio,
    ModelTarget,
    Position,
    Posting,
    Price,
    Security,
    TaxLot,
    ValuationSnapshot,
    WashSaleAdjustment,
)
from portfolios.services.corporate_actions import corporate_action_create, corporate_action_update
from portfolios.services.model_portfolios import clean_targets


class ReadOnlyAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    """Ledger rows change only through `portfolios.ledger`: the admin shows them, never edits."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Security)
class SecurityAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = SHARED
    list_display = ["symbol", "name", "asset_class", "currency", "is_active"]
    list_filter = ["asset_class", "is_active"]
    search_fields = ["symbol", "name"]


@admin.register(Price)
class PriceAdmin(FirmScopedAdmin, admin.ModelAdmin):
    firm_scope = SHARED
    # The model fields' validators refuse closes <= 0 and future dates in this form.
    list_display = ["security", "date", "close", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["security__symbol"]
    date_hierarchy = "date"
    autocomplete_fields = ["security"]
    list_select_related = ["security"]


class ModelTargetFormSet(BaseInlineFormSet):
    """Holds the admin to the service's rule: targets plus cash sum to exactly 100%."""

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return
        targets = [
            (form.cleaned_data["security"].symbol, form.cleaned_data["weight"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("security")
        ]
        try:
            clean_targets(targets, self.instance.cash_target)
        except PortfoliosError as exc:
            raise ValidationError(exc.message) from exc


class ModelTargetInline(FirmScopedAdmin, admin.TabularInline):
    firm_scope = ("model__firm",)
    model = ModelTarget
    formset = ModelTargetFormSet
    extra = 0
    autocomplete_fields = ["security"]


@admin.register(ModelPortfolio)
class ModelPortfolioAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["name", "firm", "risk_level", "cash_target", "is_active"]
    list_filter = ["firm", "is_active", "risk_level"]
    search_fields = ["name"]
    inlines = [ModelTargetInline]


@admin.register(ModelTarget)
class ModelTargetAdmin(ReadOnlyAdmin):
    """Targets change with their model (whose form checks the 100% rule), never one by one."""

    firm_scope = ("model__firm",)

    list_display = ["model", "security", "weight"]
    list_select_related = ["model", "security"]


class BenchmarkComponentInline(FirmScopedAdmin, admin.TabularInline):
    firm_scope = ("benchmark__firm",)
    model = BenchmarkComponent
    extra = 0


@admin.register(Benchmark)
class BenchmarkAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    """Blends are validated by `services.benchmark_create` (weights summing to 1); one edited here
    to weights that do not is read in proportion to them (`selectors.performance._spec`)."""

    firm_scope = ("firm",)
    list_display = ["name", "firm"]
    inlines = [BenchmarkComponentInline]


@admin.register(HouseholdBenchmark)
class HouseholdBenchmarkAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("household__firm",)
    list_display = ["household", "benchmark"]
    list_select_related = ["household", "benchmark"]


@admin.register(InvestmentAccount)
class InvestmentAccountAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("household__firm",)
    # The model is assigned on the advisor's pages or the API, through `model_assign`, which
    # runs the suitability check; the admin shows it but cannot bypass that check.
    readonly_fields = ["model"]
    list_display = ["custodian_account_number", "name", "household", "account_type", "model", "status"]
    list_filter = ["status", "account_type", "rebalance_mode"]
    search_fields = ["custodian_account_number", "name", "household__name"]
    list_select_related = ["household", "model"]
    raw_id_fields = ["household"]


@admin.register(LedgerBook)
class LedgerBookAdmin(ReadOnlyAdmin):
    firm_scope = ("firm", "account__household__firm")
    list_display = ["code", "kind", "name", "firm"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


class PostingInline(FirmScopedAdmin, admin.TabularInline):
    firm_scope = ("book__firm", "book__account__household__firm")
    model = Posting
    extra = 0
    can_delete = False
    readonly_fields = ["book", "security", "currency", "quantity", "price"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    firm_scope = ("postings__book__firm", "postings__book__account__household__firm")
    list_display = ["id", "kind", "effective_date", "memo", "created_by", "reference_type", "reference_id"]
    list_filter = ["kind"]
    search_fields = ["memo", "idempotency_key", "reference_id"]
    date_hierarchy = "effective_date"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    firm_scope = ("book__firm", "book__account__household__firm")
    list_display = ["entry", "book", "security", "currency", "quantity"]
    list_select_related = ["entry", "book", "security"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "security", "quantity", "updated_at"]
    list_select_related = ["account", "security"]
    search_fields = ["account__custodian_account_number", "security__symbol"]


@admin.register(CashBalance)
class CashBalanceAdmin(ReadOnlyAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "currency", "amount", "updated_at"]
    list_select_related = ["account"]


@admin.register(TaxLot)
class TaxLotAdmin(ReadOnlyAdmin):
    firm_scope = ("account__household__firm",)
    list_display = [
        "account",
        "security",
        "quantity",
        "original_quantity",
        "cost_per_share",
        "acquired_on",
        "closed_on",
    ]
    list_select_related = ["account", "security"]


@admin.register(LotClosure)
class LotClosureAdmin(ReadOnlyAdmin):
    firm_scope = ("lot__account__household__firm",)
    list_display = ["lot", "quantity", "proceeds", "cost", "gain", "wash_sale_disallowed", "closed_on"]


@admin.register(WashSaleAdjustment)
class WashSaleAdjustmentAdmin(ReadOnlyAdmin):
    firm_scope = ("closure__lot__account__household__firm",)
    list_display = ["closure", "replacement", "quantity", "disallowed", "held_days", "created_at"]


@admin.register(ValuationSnapshot)
class ValuationSnapshotAdmin(ReadOnlyAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["account", "date", "market_value", "cash", "net_external_flow"]
    list_select_related = ["account"]
    date_hierarchy = "date"


class EntitlementInline(FirmScopedAdmin, admin.TabularInline):
    model = CorporateActionEntitlement
    firm_scope = ("account__household__firm",)
    extra = 0
    can_delete = False
    fields = ["account", "quantity", "new_quantity", "fraction", "amount", "cash_in_lieu", "status", "entry"]
    readonly_fields = ["account", "quantity", "new_quantity", "fraction", "amount", "cash_in_lieu", "status", "entry"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(CorporateAction)
class CorporateActionAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    """Operations enter an action the provider missed (or correct one not processed yet). The
    form shows the model's rules as field errors (ratio > 0, pay date on or after the ex-date,
    ...); saving goes through `portfolios.services.corporate_actions`, attributed to the signed-in user."""

    # An action is the issuer's, like its security: every firm's (its entitlements are scoped).
    firm_scope = SHARED
    list_display = ["security", "kind", "ex_date", "pay_date", "amount_per_share", "ratio", "status", "source"]
    list_filter = ["kind", "status", "source"]
    search_fields = ["security__symbol", "external_id"]
    date_hierarchy = "ex_date"
    autocomplete_fields = ["security"]
    list_select_related = ["security"]
    fields = [
        "security",
        "kind",
        "ex_date",
        "record_date",
        "pay_date",
        "amount_per_share",
        "currency",
        "ratio_numerator",
        "ratio_denominator",
        "cash_in_lieu_price",
        "source",
        "external_id",
        "status",
        "processed_at",
        "paid_at",
    ]
    readonly_fields = ["source", "external_id", "status", "processed_at", "paid_at"]
    inlines = [EntitlementInline]

    @admin.display(description="ratio")
    def ratio(self, obj: CorporateAction) -> str:
        return f"{obj.ratio_numerator}-for-{obj.ratio_denominator}" if obj.ratio_numerator else ""

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Once processed, an action is history: a mistake is corrected by a new entry, not an edit.
        if obj is not None and obj.status != CorporateAction.Status.ANNOUNCED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        try:
            if change:
                corporate_action_update(action=obj, acting_user=request.user)
                return
            created = corporate_action_create(
                security=obj.security,
                kind=obj.kind,
                ex_date=obj.ex_date,
                record_date=obj.record_date,
                pay_date=obj.pay_date,
                amount_per_share=obj.amount_per_share,
                ratio_numerator=obj.ratio_numerator,
                ratio_denominator=obj.ratio_denominator,
                cash_in_lieu_price=obj.cash_in_lieu_price,
                currency=obj.currency,
                source="manual",
                acting_user=request.user,
            )
        except PortfoliosError as exc:  # the form validated the same rules; a race is all that is left
            raise ValidationError(exc.message) from exc
        obj.pk, obj.status = created.pk, created.status
        obj._state.adding = False


@admin.register(CorporateActionEntitlement)
class CorporateActionEntitlementAdmin(ReadOnlyAdmin):
    firm_scope = ("account__household__firm",)
    list_display = ["action", "account", "quantity", "new_quantity", "amount", "cash_in_lieu", "status", "reinvest"]
    list_filter = ["status", "reinvest"]
    list_select_related = ["action__security", "account"]
    search_fields = ["account__custodian_account_number", "action__security__symbol"]
