"""An account's drift: `/accounts/<id>/drift/`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField, FractionField
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.api.common import (
    WEIGHT_OUT,
)
from portfolios.selectors.accounts import account_for_user
from portfolios.selectors.pages import drift_reports


class DriftRowOutput(serializers.Serializer):
    symbol = serializers.CharField()
    target_weight = FractionField(**WEIGHT_OUT)
    actual_weight = FractionField(**WEIGHT_OUT)
    drift = DecimalStringField(**WEIGHT_OUT)
    band = FractionField(**WEIGHT_OUT)
    breached = serializers.BooleanField()


class DriftOutput(serializers.Serializer):
    max_drift = DecimalStringField(allow_null=True, **WEIGHT_OUT)
    threshold = FractionField()
    needs_rebalance = serializers.BooleanField()
    reason = serializers.CharField()
    holdings = DriftRowOutput(many=True)


@extend_schema(responses=DriftOutput, operation_id="accounts_drift")
@api_view(["GET"])
@cached_read
def drift(request: Request, pk: int) -> Response:
    """Actual against target weight per holding (cash as the symbol CASH), and whether to rebalance."""
    user = api_user(request)
    account = account_for_user(user=user, pk=pk)
    report = drift_reports([account]).get(account.pk)
    if report is None:
        body = {
            "max_drift": None,
            "threshold": account.drift_threshold,
            "needs_rebalance": False,
            "reason": "No model is assigned.",
            "holdings": [],
        }
    else:
        body = {
            "max_drift": report.report.max_drift,
            "threshold": report.threshold,
            "needs_rebalance": report.decision.rebalance,
            "reason": report.decision.reason,
            "holdings": [
                {
                    "symbol": row.symbol,
                    "target_weight": row.target_weight,
                    "actual_weight": row.actual_weight,
                    "drift": row.drift,
                    "band": row.band,
                    "breached": row.breached,
                }
                for row in report.report.rows
            ],
        }
    return Response(DriftOutput(body).data)
