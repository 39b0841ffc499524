from typing import cast

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import User
from kronos.admin import FirmScopedAdmin
from kronos.history import save_attributed
from kronos.retention import RetainedAdminMixin
from onboarding.models import AgreementTemplate, Signature


class AgreementTemplateForm(forms.ModelForm):
    upload = forms.FileField(
        required=False, help_text="A UTF-8 text file with the document's text (replaces the text box below)."
    )

    class Meta:
        model = AgreementTemplate
        fields = ["firm", "kind", "version", "title", "upload", "body", "is_active"]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if "body" in self.fields:
            self.fields["body"].required = False  # an upload can give it instead

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        upload = data.get("upload")
        if upload:
            if upload.size > 1_000_000:
                raise forms.ValidationError({"upload": "The file is over 1 MB."})
            try:
                data["body"] = upload.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError({"upload": "The file is not UTF-8 text."}) from exc
            self.instance.body = data["body"]
        if not (data.get("body") or "").strip():
            raise forms.ValidationError({"body": "Give the document's text or upload it."})
        if (
            self.instance.pk is None
            and AgreementTemplate.objects.filter(
                firm=data.get("firm"), kind=data.get("kind"), version=(data.get("version") or "").strip()
            ).exists()
        ):
            raise forms.ValidationError({"version": "This version of the document exists already: give a new one."})
        return data

    def _get_validation_exclusions(self):  # type: ignore[no-untyped-def]
        # The one-active-version constraint is kept by save_model (it retires the active version
        # first) and the version's uniqueness by clean(), so the model's check of both is skipped.
        exclusions = super()._get_validation_exclusions()  # type: ignore[misc]
        exclusions.add("kind")
        return exclusions


@admin.register(AgreementTemplate)
class AgreementTemplateAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    """Versioned templates: a saved version's text is fixed (a change is a new version)."""

    firm_scope = ("firm",)
    form = AgreementTemplateForm
    list_display = ["title", "kind", "version", "firm", "is_active", "uploaded_at"]
    list_filter = ["kind", "is_active", "firm"]
    readonly_fields = ["sha256", "uploaded_by", "uploaded_at"]

    list_select_related = ["firm"]

    def get_readonly_fields(self, request: HttpRequest, obj: AgreementTemplate | None = None):  # type: ignore[no-untyped-def]
        fixed = ["firm", "kind", "version", "body"] if obj is not None else []
        return [*self.readonly_fields, *fixed]

    def get_fields(self, request: HttpRequest, obj: AgreementTemplate | None = None):  # type: ignore[no-untyped-def]
        if obj is not None:
            return ["firm", "kind", "version", "title", "body", "is_active", "sha256", "uploaded_by", "uploaded_at"]
        return ["firm", "kind", "version", "title", "upload", "body", "is_active"]

    def save_model(self, request: HttpRequest, obj: AgreementTemplate, form: forms.ModelForm, change: bool) -> None:
        actor = cast(User, request.user)  # the admin site lets only signed-in staff in
        with transaction.atomic():
            if not change:
                obj.sha256 = AgreementTemplate.digest(obj.body.strip())
                obj.body = obj.body.strip()
                obj.uploaded_by = actor
            if obj.is_active:
                for old in AgreementTemplate.objects.filter(firm=obj.firm, kind=obj.kind, is_active=True).exclude(
                    pk=obj.pk
                ):
                    old.is_active = False
                    save_attributed(old, acting_user=actor, reason="superseded", validate=False)
            save_attributed(obj, acting_user=actor, reason="template saved", validate=False)


@admin.register(Signature)
class SignatureAdmin(FirmScopedAdmin, RetainedAdminMixin, SimpleHistoryAdmin):
    firm_scope = ("household__firm",)
    list_display = ["investor", "template", "household", "signed_at", "ip_address"]
    list_select_related = ["investor", "template", "household"]
    readonly_fields = [f.name for f in Signature._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
