"""Filter forms of the portfolios pages."""

from typing import cast

from django import forms

from portfolios.selectors_web import BOOK_SORTS


class BookFilterForm(forms.Form):
    """The book's search, filters and sort; every field optional, bad values fall back to defaults."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Model")
    breached = forms.BooleanField(required=False, label="Breached only")
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in BOOK_SORTS])
    dir = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")])

    def __init__(self, *args, models=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "All models")] + [(m.pk, m.name) for m in models]

    def filters(self) -> dict[str, object]:
        """The cleaned filters, or the defaults when the query string is malformed."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return {
            "search": data.get("q") or "",
            "model_id": data.get("model"),
            "breached_only": bool(data.get("breached")),
            "sort": data.get("sort") or "household",
            "descending": data.get("dir") == "desc",
        }
