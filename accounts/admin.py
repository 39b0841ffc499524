"""The admin of the accounts app: users, firms, advisors, households and investors (with their
history), and operations' view of events out: the events, the subscriptions (with replay from
a cursor) and the delivery log. The events part is read-only but the replay action; staff see
their firm's."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from accounts.errors import AccountsError
from accounts.models import (
    Advisor,
    Event,
    Firm,
    Household,
    HouseholdMember,
    Investor,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from accounts.permissions import PRIVILEGE_FIELDS, may_change_privileges
from accounts.services.webhooks import subscription_replay
from kronos.admin import FirmScopedAdmin
from kronos.retention import RetainedAdminMixin


@admin.register(User)
class UserAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin, BaseUserAdmin):
    firm_scope = ("firm", "investor__firm")
    ordering = ["email"]
    list_display = ["email", "full_name", "firm", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "groups", "firm"]
    search_fields = ["email", "full_name"]
    list_select_related = ["firm"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name", "firm")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "firm", "password1", "password2")}),
    )

    # Privileges (superuser and staff flags, roles, permissions) are a superuser's to change, and
    # never their own: read-only in the form, and refused on save whatever was posted.

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not may_change_privileges(acting_user=request.user, user=obj):
            fields += [name for name in PRIVILEGE_FIELDS if name not in fields]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a superuser changes a superuser (their password included).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not may_change_privileges(acting_user=request.user, user=obj if change else None):
            before = User.objects.filter(pk=obj.pk).values("is_superuser", "is_staff").first() if change else None
            before = before or {"is_superuser": False, "is_staff": False}
            if (bool(obj.is_superuser), bool(obj.is_staff)) != (before["is_superuser"], before["is_staff"]):
                raise PermissionDenied("Only a superuser changes the superuser or staff flag, and not their own.")
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        user = form.instance
        before = None
        if not may_change_privileges(acting_user=request.user, user=user if change else None):
            before = _privileges(user)
        super().save_related(request, form, formsets, change)
        if before is not None and _privileges(user) != before:
            raise PermissionDenied("Only a superuser changes roles or permissions, and not their own.")


def _privileges(user: User) -> tuple[frozenset[int], frozenset[int]]:
    return (
        frozenset(user.groups.values_list("pk", flat=True)),
        frozenset(user.user_permissions.values_list("pk", flat=True)),
    )


@admin.register(Firm)
class FirmAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("id",)
    list_display = ["name", "slug", "time_zone", "base_currency"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Advisor)
class AdvisorAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["__str__", "firm", "crd_number", "is_active"]
    list_select_related = ["user", "firm"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]


class HouseholdMemberInline(FirmScopedAdmin, RetainedAdminMixin, admin.TabularInline):
    firm_scope = ("household__firm",)
    model = HouseholdMember
    extra = 0
    autocomplete_fields = ["investor"]


@admin.register(Household)
class HouseholdAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["name", "firm", "advisor", "status", "updated_at"]
    list_filter = ["status", "firm"]
    list_select_related = ["firm", "advisor__user"]
    search_fields = ["name", "investors__last_name"]
    inlines = [HouseholdMemberInline]


@admin.register(Investor)
class InvestorAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ["full_name", "email", "firm", "country"]
    list_select_related = ["firm"]
    search_fields = ["first_name", "last_name", "email"]
    autocomplete_fields = ["user"]


@admin.register(HouseholdMember)
class HouseholdMemberAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("household__firm",)
    list_display = ["household", "investor", "relationship"]
    list_select_related = ["household", "investor"]


# --- Events out and webhooks ---------------------------------------------------------------------


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(FirmScopedAdmin, _ReadOnly, admin.ModelAdmin):
    firm_scope = ("firm",)
    list_display = ["id", "position", "kind", "firm", "household_id", "account_id", "occurred_at", "published_at"]
    list_filter = ["kind"]
    search_fields = ["kind", "subject_type"]
    list_select_related = ["firm"]
    readonly_fields = [f.name for f in Event._meta.fields]
    show_full_result_count = False


class ReplayForm(forms.Form):
    after = forms.IntegerField(
        min_value=0, label="Replay events after cursor", help_text="0 replays every event the subscription takes."
    )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(FirmScopedAdmin, _ReadOnly, admin.ModelAdmin):
    firm_scope = ("firm",)
    list_display = ["id", "url", "user", "firm", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["user", "firm"]
    search_fields = ["url", "user__email"]
    readonly_fields = ["firm", "user", "url", "events", "is_active", "created_at", "deactivated_at", "start_position"]
    exclude = ["secret"]
    actions = ["replay_from_cursor"]

    @admin.action(description="Replay from a cursor…", permissions=["view"])
    def replay_from_cursor(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = ReplayForm(request.POST)
            if form.is_valid():
                total = 0
                for sub in queryset:
                    try:
                        total += subscription_replay(subscription=sub, after=form.cleaned_data["after"])
                    except AccountsError as exc:
                        self.message_user(request, f"{sub}: {exc.message}", messages.ERROR)
                self.message_user(request, f"{total} deliveries queued again.", messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
        else:
            form = ReplayForm()
        return TemplateResponse(
            request,
            "admin/accounts/replay_from_cursor.html",
            {
                **self.admin_site.each_context(request),
                "title": "Replay webhook deliveries from a cursor",
                "subscriptions": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


class WebhookAttemptInline(FirmScopedAdmin, _ReadOnly, admin.TabularInline):
    firm_scope = ("delivery__subscription__firm",)
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "response_excerpt", "error", "duration_ms")
    readonly_fields = fields
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(FirmScopedAdmin, _ReadOnly, admin.ModelAdmin):
    firm_scope = ("subscription__firm",)
    list_display = [
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "last_response",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status"]
    list_select_related = ["event", "subscription"]
    search_fields = ["subscription__url"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    show_full_result_count = False
