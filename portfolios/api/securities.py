"""Securities and their prices: `/securities/`, `/prices/`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField, InputSerializer
from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.api.common import (
    _require_operations,
)
from portfolios.models import AssetClass, Security
from portfolios.selectors.prices import security_list
from portfolios.services.securities import prices_store, security_create

# --- Securities ----------------------------------------------------------------------------------


class SecurityOutput(serializers.ModelSerializer):
    class Meta:
        model = Security
        fields = ["id", "symbol", "name", "asset_class", "currency", "is_active"]


class SecurityInput(InputSerializer):
    symbol = serializers.RegexField(
        r"^[A-Za-z0-9.\-]{1,20}$", error_messages={"invalid": "A symbol is 1 to 20 letters, digits, dots or dashes."}
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    asset_class = serializers.ChoiceField(choices=AssetClass.choices, default=AssetClass.US_EQUITY)
    currency = serializers.CharField(min_length=3, max_length=3, default="USD")

    def validate_currency(self, value: str) -> str:
        if value.upper() not in settings.CURRENCIES:
            raise serializers.ValidationError(f"Use one of {', '.join(settings.CURRENCIES)}.")
        return value.upper()


@extend_schema(
    methods=["GET"],
    responses=paginated(SecurityOutput),
    parameters=[OpenApiParameter("search", str)],
    operation_id="securities_list",
)
@extend_schema(
    methods=["POST"], request=SecurityInput, responses={201: SecurityOutput}, operation_id="securities_create"
)
@api_view(["GET", "POST"])
@cached_read
def securities(request: Request) -> Response:
    """List securities, or (operations) add one."""
    user = api_user(request)
    if request.method == "POST":
        _require_operations(user)
        data = SecurityInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = security_create(acting_user=user, **data.validated_data)
        return Response(SecurityOutput(security).data, status=status.HTTP_201_CREATED)
    paginator = Pagination()
    page = paginator.paginate_queryset(security_list(search=request.query_params.get("search", "")[:50]), request)
    return paginator.get_paginated_response(SecurityOutput(page, many=True).data)


# --- Prices --------------------------------------------------------------------------------------


class PriceInput(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    date = serializers.DateField()
    close = DecimalStringField(max_places=6, min_value=0, min_exclusive=True, what="close")

    def validate_date(self, value: dt.date) -> dt.date:
        if value > timezone.localdate():
            raise serializers.ValidationError("The date cannot be in the future.")
        return value


class PricesInput(InputSerializer):
    prices = PriceInput(many=True, allow_empty=False, max_length=10000)  # type: ignore[call-arg]  # DRF >= 3.14

    def validate_prices(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        symbols = {row["symbol"].strip().upper() for row in rows}
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        # Keyed by row index, as DRF keys the rows' own field errors.
        errors = {
            str(i): {"symbol": [f"Unknown symbol: {row['symbol'].strip().upper()}."]}
            for i, row in enumerate(rows)
            if row["symbol"].strip().upper() not in known
        }
        if errors:
            raise serializers.ValidationError(errors)
        return rows


class PricesOutput(serializers.Serializer):
    stored = serializers.IntegerField()
    inserted = serializers.IntegerField()
    changed = serializers.IntegerField()


@extend_schema(request=PricesInput, responses={201: PricesOutput}, operation_id="prices_store")
@api_view(["POST"])
def prices(request: Request) -> Response:
    """Store closes (operations): all rows or none; the answer counts the rows stored."""
    user = api_user(request)
    _require_operations(user)
    data = PricesInput(data=request.data)
    data.is_valid(raise_exception=True)
    result = prices_store(rows=data.validated_data["prices"], source="api")
    return Response(
        {"stored": result.rows, "inserted": result.inserted, "changed": result.changed}, status=status.HTTP_201_CREATED
    )
