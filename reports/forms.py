from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Advisor, User


class StatementRequestForm(forms.Form):
    period_end = forms.DateField(label="Period end", widget=forms.DateInput(attrs={"type": "date"}))


class BatchForm(forms.Form):
    period_end = forms.DateField(label="Period end", widget=forms.DateInput(attrs={"type": "date"}))
    advisor = forms.ModelChoiceField(
        queryset=Advisor.objects.none(), required=False, empty_label="The whole firm", label="Book"
    )

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        """`user`: operations staff, who choose an advisor's book or the whole firm; advisors don't choose."""
        super().__init__(*args, **kwargs)
        if user is not None and user.firm_id:
            advisors = Advisor.objects.filter(firm_id=user.firm_id).select_related("user")
            self.fields["advisor"].queryset = advisors  # type: ignore[attr-defined]
        else:
            del self.fields["advisor"]

    def advisor_id(self) -> int | None:
        advisor = self.cleaned_data.get("advisor")
        return advisor.pk if advisor is not None else None
