from typing import cast

from django import forms

from compliance.audit import audit_models
from compliance.engine import risk


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[])
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["decision"]).choices = choices


class OrderReviewForm(DecisionForm):
    """An officer's decision on an order in review: nothing is chosen for them, and a rejection
    says why (the advisor reads the note as the order's reason)."""

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, choices=choices, **kwargs)
        self.fields["decision"].error_messages["required"] = "Choose approve or reject."
        cast(forms.ChoiceField, self.fields["decision"]).choices = [("", "Choose a decision…"), *choices]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        if data.get("decision") == "reject" and not (data.get("note") or "").strip():
            self.add_error("note", "Write why the order is rejected: the advisor reads this note.")
        return data


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RiskQuestionnaireForm(forms.Form):
    """One radio group per question of `compliance.engine.risk.QUESTIONS`."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        for q in risk.QUESTIONS:
            self.fields[q.key] = forms.ChoiceField(
                label=q.text, choices=[(v, label) for v, label, _ in q.choices], widget=forms.RadioSelect
            )


class AuditFilterForm(forms.Form):
    model = forms.ChoiceField(required=False)
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    user = forms.CharField(required=False, max_length=254, label="User (email)")
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    field = forms.CharField(required=False, max_length=100, label="Field changed")

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "All models")] + [
            (label, label) for label in audit_models()
        ]
