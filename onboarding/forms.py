from decimal import Decimal

from django import forms

from accounts.models import Advisor, EmploymentStatus, Household, IncomeRange, InvestmentObjective, NetWorthRange
from portfolios.models import InvestmentAccount


class HouseholdCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Household name")
    advisor = forms.ModelChoiceField(
        queryset=Advisor.objects.none(), required=False, help_text="Operations: who advises it."
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)

    def __init__(self, *args, firm_id=None, choose_advisor=False, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if choose_advisor:
            advisor_field: forms.ModelChoiceField = self.fields["advisor"]  # type: ignore[assignment]
            advisor_field.queryset = Advisor.objects.filter(firm_id=firm_id, is_active=True).select_related("user")
            self.fields["advisor"].required = True
        else:
            del self.fields["advisor"]


def _choices(enum):  # type: ignore[no-untyped-def]
    return [("", "— choose —"), *enum.choices]


class InvestorForm(forms.Form):
    """Customer identification, as the API takes it (flat names; the service validates the rules)."""

    first_name = forms.CharField(max_length=100)
    middle_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD")
    email = forms.EmailField()
    phone = forms.CharField(max_length=30)
    tax_id = forms.CharField(
        label="Taxpayer id (SSN/ITIN)",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="US persons: NNN-NN-NNNN or 9 digits. Others: your country's id. Stored encrypted; shown as its last 4.",
    )
    citizenship = forms.CharField(max_length=2, min_length=2, initial="US", help_text="Two-letter country code.")
    tax_residency = forms.CharField(
        max_length=2, min_length=2, required=False, help_text="Defaults to the country of residence."
    )
    address_line1 = forms.CharField(max_length=200, label="Address")
    address_line2 = forms.CharField(max_length=200, required=False, label="Address line 2")
    city = forms.CharField(max_length=100)
    state = forms.CharField(max_length=100, required=False)
    postal_code = forms.CharField(max_length=20)
    country = forms.CharField(max_length=2, min_length=2, initial="US", help_text="Country of residence (two letters).")
    employment_status = forms.ChoiceField(choices=_choices(EmploymentStatus))
    employer = forms.CharField(max_length=200, required=False)
    occupation = forms.CharField(max_length=200, required=False)
    annual_income = forms.ChoiceField(choices=_choices(IncomeRange))
    net_worth = forms.ChoiceField(choices=_choices(NetWorthRange))
    investment_objective = forms.ChoiceField(choices=_choices(InvestmentObjective))
    trusted_contact_name = forms.CharField(max_length=200, required=False, label="Trusted contact")
    trusted_contact_relationship = forms.CharField(max_length=100, required=False)
    trusted_contact_phone = forms.CharField(max_length=30, required=False)
    trusted_contact_email = forms.EmailField(required=False)

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        return {k: v for k, v in data.items() if not (v in ("", None) and not self.fields[k].required)}


class AccountOpenForm(forms.Form):
    name = forms.CharField(max_length=120, label="Account name")
    account_type = forms.ChoiceField(choices=InvestmentAccount.AccountType.choices)
    owners = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, help_text="Joint: two or more. UTMA/UGMA: the custodian and the minor."
    )

    def __init__(self, *args, household: Household, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        members = household.members.select_related("investor").order_by("id")
        owners: forms.MultipleChoiceField = self.fields["owners"]  # type: ignore[assignment]
        owners.choices = [(str(m.investor_id), m.investor.full_name) for m in members]


class BeneficiaryForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    relationship = forms.CharField(max_length=100, required=False)
    share_percent = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        required=False,
        label="Share %",
    )
    kind = forms.ChoiceField(choices=[("primary", "Primary"), ("contingent", "Contingent")], required=False)

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        filled = [data.get(k) for k in ("name", "relationship", "share_percent")]
        if any(v not in (None, "") for v in filled) and not all(v not in (None, "") for v in filled):
            raise forms.ValidationError("Give the beneficiary's name, relationship and share, or leave the row empty.")
        return data


BeneficiaryFormSet = forms.formset_factory(BeneficiaryForm, extra=3, max_num=10)


class SignForm(forms.Form):
    signed_name = forms.CharField(max_length=200, label="Type your full name to sign")
    agree = forms.BooleanField(label="I have read this document and agree to sign it electronically.")
