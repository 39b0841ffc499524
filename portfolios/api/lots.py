"""An account's tax lots and realised gains: `/accounts/<id>/lots/`, `/accounts/<id>/realized-gains/`.

Money is {"amount", "currency"} in the account's currency; `term` is "short" or "long"
(`portfolios.engine.lots.holding_term`: long when held more than one year, counted from the day
a wash sale moved the holding period back to, if it did)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField, QuantityField, money_dict
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.selectors.accounts import account_for_user
from portfolios.selectors.lots import lot_rows, realised_gains

MIN_YEAR, MAX_YEAR = 1900, 2100


class LotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    symbol = serializers.CharField()
    acquired_on = serializers.DateField()
    held_from = serializers.DateField(help_text="The day the holding period counts from (earlier after a wash sale).")
    quantity = QuantityField(read_only=True)
    cost_per_share = DecimalStringField()
    cost_basis = serializers.DictField()
    market_value = serializers.DictField(allow_null=True)
    unrealized_gain = serializers.DictField(allow_null=True, help_text="Null while the security has no price.")
    term = serializers.ChoiceField(choices=["short", "long"])
    wash_sale_disallowed = serializers.DictField(help_text="Disallowed losses carried into this lot's cost basis.")


@extend_schema(responses=LotOutput(many=True), operation_id="accounts_lots")
@api_view(["GET"])
@cached_read
def lots(request: Request, pk: int) -> Response:
    """The account's open tax lots at the latest prices, with their term as of today (a list)."""
    account = account_for_user(user=api_user(request), pk=pk)
    currency = account.base_currency

    def money(amount: Any) -> dict[str, str] | None:
        return money_dict(amount, currency) if amount is not None else None

    rows = [
        {
            "id": r.lot.pk,
            "symbol": r.symbol,
            "acquired_on": r.acquired_on,
            "held_from": r.held_from,
            "quantity": r.quantity,
            "cost_per_share": r.cost_per_share,
            "cost_basis": money(r.cost_basis),
            "market_value": money(r.market_value),
            "unrealized_gain": money(r.unrealized_gain),
            "term": r.term.value,
            "wash_sale_disallowed": money(r.wash_sale_disallowed),
        }
        for r in lot_rows(accounts=[account], as_of=timezone.localdate())
    ]
    return Response(LotOutput(rows, many=True).data)


class GainsQuery(serializers.Serializer):
    year = serializers.IntegerField(required=False, min_value=MIN_YEAR, max_value=MAX_YEAR)


class ClosedLotOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The lot closure.")
    lot = serializers.IntegerField()
    symbol = serializers.CharField()
    quantity = QuantityField(read_only=True)
    acquired_on = serializers.DateField()
    closed_on = serializers.DateField()
    proceeds = serializers.DictField()
    cost_basis = serializers.DictField()
    gain = serializers.DictField(help_text="Proceeds - cost basis (a loss is negative).")
    term = serializers.ChoiceField(choices=["short", "long"])
    wash_sale_disallowed = serializers.DictField(help_text="The part of a loss a wash sale disallowed.")


class RealisedGainsOutput(serializers.Serializer):
    year = serializers.IntegerField()
    short_term = serializers.DictField(help_text="Short-term gains less losses, the disallowed losses added back.")
    long_term = serializers.DictField(help_text="Long-term gains less losses, the disallowed losses added back.")
    wash_sale_disallowed = serializers.DictField()
    lots = ClosedLotOutput(many=True)


@extend_schema(
    responses=RealisedGainsOutput,
    parameters=[OpenApiParameter("year", OpenApiTypes.INT, description=f"{MIN_YEAR}-{MAX_YEAR} (default: this year).")],
    operation_id="accounts_realized_gains",
)
@api_view(["GET"])
@cached_read
def realized_gains(request: Request, pk: int) -> Response:
    """The lots the account closed in `year`: each with its gain, term and wash-sale disallowed
    loss; the year's short- and long-term totals (what counts for tax: gain + disallowed loss)."""
    account = account_for_user(user=api_user(request), pk=pk)
    query = GainsQuery(data=request.query_params.dict())  # "year=" is a bad year, not no year
    query.is_valid(raise_exception=True)
    year = query.validated_data.get("year") or timezone.localdate().year
    gains = realised_gains(accounts=[account], year=year)
    currency = account.base_currency
    body = {
        "year": year,
        "short_term": money_dict(gains.short_term, currency),
        "long_term": money_dict(gains.long_term, currency),
        "wash_sale_disallowed": money_dict(gains.wash_sale_disallowed, currency),
        "lots": [
            {
                "id": r.closure.pk,
                "lot": r.lot_id,
                "symbol": r.symbol,
                "quantity": r.quantity,
                "acquired_on": r.acquired_on,
                "closed_on": r.closed_on,
                "proceeds": money_dict(r.proceeds, currency),
                "cost_basis": money_dict(r.cost_basis, currency),
                "gain": money_dict(r.gain, currency),
                "term": r.term.value,
                "wash_sale_disallowed": money_dict(r.wash_sale_disallowed, currency),
            }
            for r in gains.rows
        ],
    }
    return Response(RealisedGainsOutput(body).data)
