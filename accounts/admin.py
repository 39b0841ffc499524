from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import Advisor, Firm, Household, HouseholdMember, Investor, User
from kronos.retention import RetainedAdminMixin


@admin.register(User)
class UserAdmin(RetainedAdminMixin, SimpleHistoryAdmin, BaseUserAdmin):
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


@admin.register(Firm)
class FirmAdmin(RetainedAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "slug", "time_zone", "base_currency"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Advisor)
class AdvisorAdmin(RetainedAdminMixin, SimpleHistoryAdmin):
    list_display = ["__str__", "firm", "crd_number", "is_active"]
    list_select_related = ["user", "firm"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]


class HouseholdMemberInline(RetainedAdminMixin, admin.TabularInline):
    model = HouseholdMember
    extra = 0
    autocomplete_fields = ["investor"]


@admin.register(Household)
class HouseholdAdmin(RetainedAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "firm", "advisor", "status", "updated_at"]
    list_filter = ["status", "firm"]
    list_select_related = ["firm", "advisor__user"]
    search_fields = ["name", "investors__last_name"]
    inlines = [HouseholdMemberInline]


@admin.register(Investor)
class InvestorAdmin(RetainedAdminMixin, SimpleHistoryAdmin):
    list_display = ["full_name", "email", "firm", "country"]
    list_select_related = ["firm"]
    search_fields = ["first_name", "last_name", "email"]
    autocomplete_fields = ["user"]


@admin.register(HouseholdMember)
class HouseholdMemberAdmin(RetainedAdminMixin, SimpleHistoryAdmin):
    list_display = ["household", "investor", "relationship"]
    list_select_related = ["household", "investor"]
