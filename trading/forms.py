"""Page forms of the trading app."""

from decimal import Decimal
from typing import Any

from django import forms

from trading.lifecycle import OrderStatus
from trading.models import Order


class OrderForm(forms.Form):
    symbol = forms.CharField(max_length=20)
    side = forms.ChoiceField(choices=[("buy", "Buy"), ("sell", "Sell")])
    order_type = forms.ChoiceField(choices=Order.OrderType.choices, initial="market", label="Type")
    quantity = forms.DecimalField(
        required=False, max_digits=19, decimal_places=9, min_value=Decimal("0.000000001"), help_text="Shares"
    )
    amount = forms.DecimalField(
        required=False, max_digits=14, decimal_places=2, min_value=Decimal("0.01"), help_text="Or an amount of cash"
    )
    limit_price = forms.DecimalField(required=False, max_digits=14, decimal_places=6, min_value=Decimal("0.000001"))
    lot_method = forms.ChoiceField(
        required=False,
        label="Tax lots (a sell)",
        choices=[
            ("", "The account's method"),
            ("hifo", "Highest cost first"),
            ("tax_optimised", "Tax-optimised"),
            ("fifo", "First in, first out"),
            ("specific", "Specific lots (below)"),
        ],
    )
    lots = forms.CharField(
        required=False,
        max_length=2000,
        label="Specific lots",
        help_text="Lot number: shares, comma separated (e.g. 12: 5, 14: 3); the shares add up to the quantity.",
    )

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean_lots(self) -> list[dict[str, str]]:
        items = []
        for part in filter(None, (p.strip() for p in self.cleaned_data["lots"].split(","))):
            lot_id, sep, shares = part.partition(":")
            if not sep or not (lot_id.strip().isascii() and lot_id.strip().isdigit()):
                raise forms.ValidationError(f"Write each lot as number: shares ({part!r} is not).")
            items.append({"id": lot_id.strip(), "quantity": shares.strip()})
        return items

    def lot_selection(self) -> dict[str, Any] | None:
        """The sell's lot selection as `order_create` takes it (None: the account's method)."""
        method = self.cleaned_data.get("lot_method")
        if not method:
            return None
        if method == "specific":
            return {"method": method, "lots": self.cleaned_data.get("lots") or []}
        return {"method": method}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and (data.get("quantity") is None) == (data.get("amount") is None):
            raise forms.ValidationError("Give either a quantity of shares or an amount, not both.")
        if data.get("order_type") == "limit" and data.get("limit_price") is None:
            self.add_error("limit_price", "A limit order needs a limit price.")
        return data


class TransferForm(forms.Form):
    direction = forms.ChoiceField(choices=[("deposit", "Deposit"), ("withdrawal", "Withdraw")])
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    raise_cash = forms.BooleanField(
        required=False,
        initial=True,
        label="Sell holdings to raise the cash",
        help_text="For a withdrawal larger than the withdrawable cash: sell the most overweight holdings "
        "and send the withdrawal once the sales have settled.",
    )


class BlotterFilterForm(forms.Form):
    """The trade blotter's filters (every one optional; bad values are form errors, not 500s)."""

    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *[(s.value, s.label) for s in OrderStatus]])
    side = forms.ChoiceField(required=False, choices=[("", "Buys and sells"), ("buy", "Buy"), ("sell", "Sell")])
    symbol = forms.CharField(required=False, max_length=20)
    account = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, label="Account id")
    advisor = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, label="Advisor id")
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data
