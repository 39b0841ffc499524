from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from kronos.admin import FirmScopedAdmin
from kronos.history import save_attributed
from kronos.retention import RetainedAdminMixin
from reports.models import LOGO_MAX_BYTES, FirmBranding, Statement, StatementBatch

#: What a logo may be, by the file's first bytes (its declared type is not trusted).
LOGO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


class FirmBrandingForm(forms.ModelForm):
    logo_file = forms.FileField(required=False, label="Logo", help_text="PNG or JPEG, at most 256 KB.")
    remove_logo = forms.BooleanField(required=False)

    class Meta:
        model = FirmBranding
        fields = ["firm", "display_name", "logo_file", "remove_logo", "accent_color", "disclosures"]

    def clean_logo_file(self) -> Any:
        upload = self.cleaned_data.get("logo_file")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError("The logo is over 256 KB.")
        content = upload.read()
        for magic, content_type in LOGO_TYPES:
            if content.startswith(magic):
                return (content, content_type)
        raise forms.ValidationError("The logo must be a PNG or JPEG image.")

    def save(self, commit: bool = True) -> Any:
        instance = super().save(commit=False)
        logo = self.cleaned_data.get("logo_file")
        if logo:
            instance.logo, instance.logo_content_type = logo
        elif self.cleaned_data.get("remove_logo"):
            instance.logo, instance.logo_content_type = b"", ""
        if commit:
            instance.save()
        return instance


@admin.register(FirmBranding)
class FirmBrandingAdmin(FirmScopedAdmin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    form = FirmBrandingForm
    list_display = ("firm", "display_name", "accent_color", "updated_at")

    def save_model(self, request: HttpRequest, obj: FirmBranding, form: Any, change: bool) -> None:
        save_attributed(obj, acting_user=request.user, reason="branding changed")  # type: ignore[arg-type]


@admin.register(StatementBatch)
class StatementBatchAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ("period_end", "firm", "advisor", "status", "done", "failed", "total", "created_at")
    list_filter = ("status", "scheduled")
    readonly_fields = [f.name for f in StatementBatch._meta.fields] + ["statements"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False


@admin.register(Statement)
class StatementAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("firm",)
    list_display = ("period_end", "kind", "household", "account", "status", "attempts", "error")
    list_filter = ("status", "kind")
    readonly_fields = [f.name for f in Statement._meta.fields]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False
