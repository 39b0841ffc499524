from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Household


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        "invalid_login": "That email and password do not match an account. Check both and try again; "
        "repeated failures lock the login for a while.",
        "inactive": "This account is inactive.",
    }


class TokenForm(forms.Form):
    token = forms.RegexField(
        label="Code from your authenticator app",
        regex=r"^\d{6}$",
        error_messages={"invalid": "Enter the six digits your authenticator app shows."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")


class HouseholdForm(forms.Form):
    name = forms.CharField(max_length=200)
    status = forms.ChoiceField(choices=Household.Status.choices)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
