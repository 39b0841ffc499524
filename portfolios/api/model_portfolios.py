"""Model portfolios: `/models/`, `/models/<id>/`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from kronos.api.fields import FractionField, InputSerializer
from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.api.common import (
    _require_model_author,
)
from portfolios.models import ModelPortfolio, Security
from portfolios.selectors.accounts import model_portfolio_list_for_user
from portfolios.services.model_portfolios import model_portfolio_create, model_portfolio_update

# --- Model portfolios ------------------------------------------------------------------------------


class TargetField(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    weight = FractionField(min_value=0, min_exclusive=True)


class ModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    risk_level = serializers.IntegerField()
    cash_weight = FractionField(source="cash_target")
    targets = serializers.SerializerMethodField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()

    def get_targets(self, model: ModelPortfolio) -> list[dict[str, str]]:
        return [
            {"symbol": t.security.symbol, "weight": FractionField().to_representation(t.weight)}
            for t in model.targets.all()
        ]


class ModelInput(InputSerializer):
    name = serializers.CharField(max_length=120)
    risk_level = serializers.IntegerField(min_value=1, max_value=10)
    targets = TargetField(many=True, allow_empty=True)
    cash_weight = FractionField(required=False, default=Decimal(0))
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    is_active = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        symbols = [t["symbol"].strip().upper() for t in attrs["targets"]]
        if len(set(symbols)) != len(symbols):
            raise serializers.ValidationError({"targets": ["A symbol appears twice in the targets."]})
        total = sum((t["weight"] for t in attrs["targets"]), Decimal(0)) + attrs["cash_weight"]
        if total != 1:
            raise serializers.ValidationError(
                {"targets": [f"Target weights plus cash_weight sum to {total}; they must sum to exactly 1."]}
            )
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        unknown = sorted(set(symbols) - known)
        if unknown:
            raise serializers.ValidationError({"targets": [f"Unknown symbol: {', '.join(unknown)}."]})
        return attrs


def _model_for_user(user: User, pk: int) -> ModelPortfolio:
    return get_object_or_404(model_portfolio_list_for_user(user=user, active_only=False), pk=pk)


@extend_schema(methods=["GET"], responses=paginated(ModelOutput), operation_id="models_list")
@extend_schema(methods=["POST"], request=ModelInput, responses={201: ModelOutput}, operation_id="models_create")
@api_view(["GET", "POST"])
@cached_read
def models(request: Request) -> Response:
    """The firm's model portfolios, or (advisors) a new one."""
    user = api_user(request)
    if request.method == "POST":
        _require_model_author(user)
        firm = user.firm
        if firm is None:
            raise PermissionDenied("You belong to no firm.")
        data = ModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model = model_portfolio_create(
            firm=firm,
            name=v["name"],
            risk_level=v["risk_level"],
            targets=[(t["symbol"], t["weight"]) for t in v["targets"]],
            cash_target=v["cash_weight"],
            description=v["description"],
            is_active=v["is_active"],
            acting_user=user,
        )
        return Response(ModelOutput(_model_for_user(user, model.pk)).data, status=status.HTTP_201_CREATED)
    paginator = Pagination()
    page = paginator.paginate_queryset(model_portfolio_list_for_user(user=user, active_only=False), request)
    return paginator.get_paginated_response(ModelOutput(page, many=True).data)


@extend_schema(methods=["GET"], responses=ModelOutput, operation_id="models_retrieve")
@extend_schema(methods=["PUT"], request=ModelInput, responses=ModelOutput, operation_id="models_update")
@api_view(["GET", "PUT"])
@cached_read
def model_detail(request: Request, pk: int) -> Response:
    """One of the firm's models; PUT replaces its name, risk level and targets (every version is kept)."""
    user = api_user(request)
    model = _model_for_user(user, pk)
    if request.method == "PUT":
        _require_model_author(user, model)
        data = ModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model_portfolio_update(
            model=model,
            acting_user=user,
            targets=[(t["symbol"], t["weight"]) for t in v["targets"]],
            cash_target=v["cash_weight"],
            name=v["name"],
            risk_level=v["risk_level"],
            description=v["description"],
            is_active=v["is_active"],
        )
        model = _model_for_user(user, pk)
    return Response(ModelOutput(model).data)
