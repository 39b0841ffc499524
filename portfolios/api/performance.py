"""An account's performance: `/accounts/<id>/performance/`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField, money_dict
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.api.common import (
    RETURN_OUT,
)
from portfolios.selectors.accounts import account_get_for_user
from portfolios.selectors.performance import benchmark_symbol, performance_between


class PerformanceQuery(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = timezone.localdate()
        end = attrs.get("end") or today
        start = attrs.get("start") or end - timedelta(days=365)
        if end > today:
            raise serializers.ValidationError({"end": ["The end cannot be in the future."]})
        if start >= end:
            raise serializers.ValidationError({"start": ["The start must be before the end."]})
        return {"start": start, "end": end}


class PerformancePointOutput(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.DictField()
    twr = DecimalStringField(**RETURN_OUT)


class PerformanceOutput(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    annualized_twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    benchmark = serializers.CharField()
    benchmark_twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    series = PerformancePointOutput(many=True)


@extend_schema(
    responses=PerformanceOutput,
    parameters=[
        OpenApiParameter(
            "start", OpenApiTypes.DATE, description="YYYY-MM-DD, before `end` (default: a year before it)."
        ),
        OpenApiParameter("end", OpenApiTypes.DATE, description="YYYY-MM-DD, not in the future (default: today)."),
    ],
    operation_id="accounts_performance",
)
@api_view(["GET"])
@cached_read
def account_performance(request: Request, pk: int) -> Response:
    """Time-weighted return over [start, end] (default: the last year), the benchmark's, and the daily series.

    Returns are fractions of 1 (unrounded decimal strings); `annualized_twr` only for periods over a year.
    """
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    query = PerformanceQuery(data=request.query_params.dict())  # "start=" is a bad date, not no date
    query.is_valid(raise_exception=True)

    result = performance_between(account, start=query.validated_data["start"], end=query.validated_data["end"])
    body = {
        "start": result.start,
        "end": result.end,
        "twr": result.twr,
        "annualized_twr": result.annualized_twr,
        "benchmark": benchmark_symbol(),
        "benchmark_twr": result.benchmark_twr,
        "series": [
            {"date": d, "value": money_dict(value, account.base_currency), "twr": cumulative}
            for d, value, cumulative in result.series
        ],
    }
    return Response(PerformanceOutput(body).data)
