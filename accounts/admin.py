from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import Advisor, Firm, Household, HouseholdMember, Investor, User
from accounts.permissions import PRIVILEGE_FIELDS, may_change_privileges
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


from accounts import events_admin  # noqa: E402, F401  -- registers the events and webhooks admin
