from django import forms

from operations.models import FeeSchedule, ReconciliationBreak


class BreakFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "All"), *ReconciliationBreak.Status.choices], required=False, initial="open"
    )


class BreakResolveForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    adjust = forms.BooleanField(
        required=False,
        initial=True,
        label="Adjust our books to the custodian's figure (an adjustment journal entry)",
    )


class BillingPreviewForm(forms.Form):
    period_start = forms.DateField(
        label="Period starting", widget=forms.DateInput(attrs={"type": "date"}), help_text="e.g. 2025-01-01"
    )
    cycle = forms.ChoiceField(choices=FeeSchedule.Cycle.choices, required=False, initial=FeeSchedule.Cycle.QUARTERLY)
