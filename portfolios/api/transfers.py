"""Transfers in: `/accounts/<id>/transfers-in/`."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import InputSerializer, MoneyField, QuantityField, money_dict
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent, service_key
from kronos.ratelimit import money_moving
from portfolios.api.common import (
    _require_account_editor,
)
from portfolios.models import Security
from portfolios.selectors.accounts import account_get_for_user
from portfolios.services.transfers import transfer_in


class TransferPositionInput(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    quantity = QuantityField()
    cost_basis = MoneyField()
    acquired_on = serializers.DateField(required=False)

    def validate_acquired_on(self, value: date) -> date:
        if value > timezone.localdate():
            raise serializers.ValidationError("The date cannot be in the future.")
        return value


class TransferInInput(InputSerializer):
    schema_min_properties = 1  # nothing to transfer is refused
    positions = TransferPositionInput(many=True, required=False, default=list, min_length=1, max_length=1000)  # type: ignore[call-arg]
    cash = MoneyField(required=False, allow_zero=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("positions") and attrs.get("cash") is None:
            raise serializers.ValidationError({"non_field_errors": ["Nothing to transfer: give positions or cash."]})
        symbols = {p["symbol"].strip().upper() for p in attrs.get("positions", [])}
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        errors = {
            str(i): {"symbol": [f"Unknown symbol: {p['symbol'].strip().upper()}."]}
            for i, p in enumerate(attrs.get("positions", []))
            if p["symbol"].strip().upper() not in known
        }
        if errors:
            raise serializers.ValidationError({"positions": errors})
        return attrs


class TransferInOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField()
    effective_date = serializers.DateField()
    positions = serializers.ListField()
    cash = serializers.DictField(allow_null=True)


@extend_schema(
    request=TransferInInput,
    responses={201: TransferInOutput},
    parameters=[IDEMPOTENCY_KEY],
    operation_id="accounts_transfers_in",
)
@api_view(["POST"])
@money_moving
@idempotent
def transfers_in(request: Request, pk: int) -> Response:
    """Bring positions (with their cost basis) and cash in from another custodian. Needs an Idempotency-Key."""
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    _require_account_editor(user, account.household)
    data = TransferInInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    currency = account.base_currency
    for i, p in enumerate(v["positions"]):
        if str(p["cost_basis"].currency) != currency:
            raise serializers.ValidationError(
                {"positions": {str(i): {"cost_basis": [f"Give the cost in {currency}."]}}}
            )
    if v.get("cash") is not None and str(v["cash"].currency) != currency:
        raise serializers.ValidationError({"cash": [f"The account holds {currency}: send cash in {currency}."]})
    entry = transfer_in(
        account=account,
        acting_user=user,
        idempotency_key=service_key(request, "api-transfer-in"),
        positions=[
            {
                "symbol": p["symbol"].strip().upper(),
                "quantity": p["quantity"],
                "cost_basis": p["cost_basis"].amount,
                **({"acquired_on": p["acquired_on"]} if p.get("acquired_on") else {}),
            }
            for p in v["positions"]
        ],
        cash=v["cash"].amount if v.get("cash") is not None else None,
    )
    body = {
        "id": entry.pk,
        "account": account.pk,
        "effective_date": entry.effective_date,
        "positions": [
            {
                "symbol": p["symbol"].strip().upper(),
                "quantity": QuantityField().to_representation(p["quantity"]),
                "cost_basis": money_dict(p["cost_basis"].amount, currency),
                "acquired_on": (p.get("acquired_on") or entry.effective_date).isoformat(),
            }
            for p in v["positions"]
        ],
        "cash": money_dict(v["cash"].amount, currency) if v.get("cash") is not None else None,
    }
    return Response(TransferInOutput(body).data, status=status.HTTP_201_CREATED)
