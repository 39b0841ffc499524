"""Operations' view of events out: the events, the subscriptions (with replay from a cursor)
and the delivery log. Everything is read-only but the replay action; staff see their firm's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from accounts.errors import AccountsError
from accounts.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription
from accounts.webhooks import subscription_replay
from kronos.admin import FirmScopedAdmin


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
