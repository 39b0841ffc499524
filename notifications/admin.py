from django.contrib import admin
from django.http import HttpRequest

from kronos.admin import FirmScopedAdmin
from notifications.models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(FirmScopedAdmin, admin.ModelAdmin):
    firm_scope = ("user__firm", "event__firm")
    list_display = ("id", "user", "kind", "title", "delivery", "created_at", "read_at", "emailed_at")
    list_filter = ("kind", "delivery")
    search_fields = ("user__email", "title")
    raw_id_fields = ("user", "event")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(FirmScopedAdmin, admin.ModelAdmin):
    firm_scope = ("user__firm",)
    list_display = ("user", "kind", "delivery", "updated_at")
    list_filter = ("kind", "delivery")
    raw_id_fields = ("user",)
