"""Forms of the portfolios pages: the book's filters, models, account settings and transfers in."""

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils import timezone

from portfolios.models import ACCOUNT_SETTINGS, InvestmentAccount, ModelPortfolio
from portfolios.selectors.pages import BOOK_SORTS


class BookFilterForm(forms.Form):
    """The book's search, filters and sort; every field optional, bad values fall back to defaults."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Model")
    breached = forms.BooleanField(required=False, label="Breached only")
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in BOOK_SORTS])
    dir = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")])

    def __init__(self, *args, models=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # `models`: (pk, name) pairs.
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "All models"), *models]

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


# --- Write forms: they only parse (strings -> Decimal/date, never float); the services decide ----------
#
# Weights, bands and the cash reserve are entered as PERCENT (60 = 60%) with up to 4 places and
# turned into fractions of 1 here (an exact division by 100), the unit the services take.

HUNDRED = Decimal(100)


def percent_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=f"{label} (%)", required=required, max_digits=8, decimal_places=4, help_text=help_text
    )


def to_fraction(percent: Decimal) -> Decimal:
    """A percent as a fraction of 1 (exact: 4 places of percent are 6 places of fraction)."""
    return percent / HUNDRED


def to_percent(fraction: Decimal | None) -> Decimal | None:
    """For the initial values of a form: a stored fraction shown as a percent, trailing zeros dropped."""
    if fraction is None:
        return None
    value = (fraction * HUNDRED).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral() else value


class ModelPortfolioForm(forms.Form):
    name = forms.CharField(max_length=120)
    risk_level = forms.IntegerField(
        min_value=1, max_value=10, help_text="1 (most conservative) to 10 (most aggressive)."
    )
    cash_target = percent_field("Cash target", help_text="Targets plus cash must sum to exactly 100%.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class TargetForm(forms.Form):
    symbol = forms.CharField(max_length=20, required=False, widget=forms.TextInput(attrs={"aria-label": "Symbol"}))
    weight = percent_field("Weight", required=False)

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["weight"].widget.attrs["aria-label"] = "Weight (%)"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        symbol = (data.get("symbol") or "").strip().upper()
        data["symbol"] = symbol
        if symbol and data.get("weight") is None and "weight" not in self.errors:
            self.add_error("weight", f"Give a weight for {symbol}.")
        if not symbol and data.get("weight") is not None:
            self.add_error("symbol", "Give the symbol of this weight.")
        return data


TargetFormSet = forms.formset_factory(TargetForm, extra=3, max_num=60, validate_max=True)


class AccountSettingsForm(forms.Form):
    model = forms.ModelChoiceField(queryset=ModelPortfolio.objects.none(), required=False, empty_label="No model")
    drift_threshold = percent_field("Drift threshold", help_text="Absolute band around each target.")
    band_mode = forms.ChoiceField(choices=InvestmentAccount.BandMode.choices)
    relative_band = percent_field("Relative band", help_text="A share of each target (relative mode).")
    cash_reserve = percent_field("Cash reserve", help_text="Cash kept aside, a share of the account's value.")
    min_trade_amount = forms.DecimalField(label="Minimum trade ($)", max_digits=20, decimal_places=2)
    fractional_shares = forms.BooleanField(required=False)
    reinvest_dividends = forms.BooleanField(
        required=False, help_text="Cash dividends buy more of the paying security when they are paid."
    )
    rebalance_mode = forms.ChoiceField(choices=InvestmentAccount.RebalanceMode.choices)
    rebalance_schedule = forms.ChoiceField(
        choices=InvestmentAccount.RebalanceSchedule.choices,
        label="Calendar rebalancing",
        required=False,  # a form posted without it keeps the account's schedule
        help_text="Also rebalance to target on the first business day of each month or quarter.",
    )
    lot_relief_method = forms.ChoiceField(
        choices=InvestmentAccount.LotReliefMethod.choices,
        label="Tax lots sold first",
        required=False,  # a form posted without it keeps the account's method
        help_text="Which lots a sale relieves when the order names none.",
    )

    #: The settings shown as percents here and kept as fractions of 1 on the account.
    PERCENT_SETTINGS = frozenset({"drift_threshold", "relative_band", "cash_reserve"})

    def __init__(self, *args, models=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["model"]).queryset = models

    @classmethod
    def initial_for(cls, account: InvestmentAccount) -> dict[str, Any]:
        """The form's starting values: the account's model and settings, fractions as percents."""
        initial: dict[str, Any] = {"model": account.model_id}
        for name in ACCOUNT_SETTINGS:
            value = getattr(account, name)
            if name in cls.PERCENT_SETTINGS:
                value = to_percent(value)
            elif name == "min_trade_amount":
                value = getattr(value, "amount", value)
            initial[name] = value
        return initial

    def settings_changes(self, account: InvestmentAccount) -> dict[str, Any]:
        """The cleaned settings as `account_update` takes them (percents back to fractions; a
        form posted without a schedule keeps the account's)."""
        data = self.cleaned_data
        changes = {name: data[name] for name in ACCOUNT_SETTINGS}
        for name in self.PERCENT_SETTINGS:
            changes[name] = to_fraction(data[name])
        changes["rebalance_schedule"] = data["rebalance_schedule"] or account.rebalance_schedule
        changes["lot_relief_method"] = data["lot_relief_method"] or account.lot_relief_method
        return changes


class TransferPositionForm(forms.Form):
    symbol = forms.CharField(max_length=20, required=False)
    quantity = forms.DecimalField(required=False, max_digits=28, decimal_places=9)
    cost_basis = forms.DecimalField(
        required=False, max_digits=20, decimal_places=2, label="Cost basis ($)", help_text="The lot's total cost."
    )
    acquired_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = field.label or ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["symbol"] = (data.get("symbol") or "").strip().upper()
        if not data["symbol"]:
            if any(data.get(f) is not None for f in ("quantity", "cost_basis", "acquired_on")):
                self.add_error("symbol", "Give the symbol of this position.")
            return data
        if data.get("quantity") is None and "quantity" not in self.errors:
            self.add_error("quantity", f"Give the quantity of {data['symbol']}.")
        acquired = data.get("acquired_on")
        if acquired is not None and acquired > timezone.localdate():
            self.add_error("acquired_on", f"The acquisition date {acquired} is in the future.")
        return data


TransferPositionFormSet = forms.formset_factory(TransferPositionForm, extra=3, max_num=200, validate_max=True)


class TransferInForm(forms.Form):
    cash = forms.DecimalField(required=False, max_digits=20, decimal_places=2, label="Cash ($)")
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
