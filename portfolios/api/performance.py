"""Performance: `/accounts/<id>/performance/` and `/households/<id>/performance/`."""

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

from accounts.selectors import household_get_for_user
from kronos.api.fields import DecimalStringField, money_dict
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from portfolios.api.common import (
    RETURN_OUT,
)
from portfolios.selectors.accounts import account_get_for_user, account_list_for_user
from portfolios.selectors.performance import (
    Performance,
    benchmark_for_account,
    household_performance_between,
    performance_between,
)


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
    twr_net = DecimalStringField(allow_null=True, help_text="Time-weighted, net of fees (= twr).", **RETURN_OUT)
    twr_gross = DecimalStringField(
        allow_null=True, help_text="Time-weighted, gross of fees (fees added back as withdrawals).", **RETURN_OUT
    )
    mwr = DecimalStringField(
        allow_null=True, help_text="Money-weighted (XIRR) over the period, net of fees; not annualised.", **RETURN_OUT
    )
    annualized_mwr = DecimalStringField(allow_null=True, help_text="The XIRR, for periods over a year.", **RETURN_OUT)
    benchmark = serializers.CharField(help_text='The benchmark, e.g. "SPY" or "60% SPY / 40% AGG".')
    benchmark_twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    series = PerformancePointOutput(many=True)


class HouseholdPerformanceOutput(PerformanceOutput):
    accounts = serializers.ListField(child=serializers.IntegerField(), help_text="The accounts summed.")
    currency = serializers.CharField()


def _body(result: Performance, *, benchmark: str, currency: str) -> dict[str, Any]:
    return {
        "start": result.start,
        "end": result.end,
        "twr": result.twr,
        "annualized_twr": result.annualized_twr,
        "twr_net": result.twr_net,
        "twr_gross": result.twr_gross,
        "mwr": result.mwr,
        "annualized_mwr": result.annualized_mwr,
        "benchmark": benchmark,
        "benchmark_twr": result.benchmark_twr,
        "series": [
            {"date": d, "value": money_dict(value, currency), "twr": cumulative}
            for d, value, cumulative in result.series
        ],
    }


_QUERY_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="YYYY-MM-DD, before `end` (default: a year before it)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="YYYY-MM-DD, not in the future (default: today)."),
]


@extend_schema(
    responses=PerformanceOutput,
    parameters=_QUERY_PARAMETERS,
    operation_id="accounts_performance",
)
@api_view(["GET"])
@cached_read
def account_performance(request: Request, pk: int) -> Response:
    """Time-weighted return over [start, end] (default: the last year) net and gross of fees, the
    money-weighted return, the benchmark's (the account's, its household's or its model's, else
    the firm-wide one; a blend is rebalanced monthly), and the daily series.

    Returns are fractions of 1 (unrounded decimal strings); `annualized_*` only for periods over a year.
    """
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    query = PerformanceQuery(data=request.query_params.dict())  # "start=" is a bad date, not no date
    query.is_valid(raise_exception=True)

    spec = benchmark_for_account(account)
    result = performance_between(
        account, start=query.validated_data["start"], end=query.validated_data["end"], benchmark=spec
    )
    return Response(PerformanceOutput(_body(result, benchmark=spec.description, currency=account.base_currency)).data)


@extend_schema(
    responses=HouseholdPerformanceOutput, parameters=_QUERY_PARAMETERS, operation_id="households_performance"
)
@api_view(["GET"])
@cached_read
def household_performance(request: Request, pk: int) -> Response:
    """The household's returns over [start, end] across the accounts the caller may see in it: the
    TWR of their summed values and flows (the value-weighted linking of the accounts' daily
    returns), net and gross of fees, the money-weighted return, and the household's benchmark.
    Values are summed in the household's accounts' currency (USD accounts only when mixed)."""
    user = api_user(request)
    household = household_get_for_user(user=user, pk=pk)
    query = PerformanceQuery(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    accounts = [a for a in account_list_for_user(user=user, household_id=household.pk) if a.base_currency == "USD"]
    result, spec = household_performance_between(
        household.pk, accounts, start=query.validated_data["start"], end=query.validated_data["end"]
    )
    body = _body(result, benchmark=spec.description, currency="USD")
    body["accounts"] = [a.pk for a in accounts]
    body["currency"] = "USD"
    return Response(HouseholdPerformanceOutput(body).data)
