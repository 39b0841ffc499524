"""Statements through the API: `/accounts/<id>/statements/` (list; POST queues one) and the PDF.

The figures of a statement are those of `reports.selectors.statement_figures`, the same the PDF
and the statement page show; `figures` carries them once the statement is ready.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from kronos.api.fields import money_dict
from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.api.serializers import InputSerializer
from kronos.idempotency import idempotent
from portfolios import selectors as portfolio_selectors
from reports import selectors, services
from reports.models import Statement
from reports.views import pdf_response


class StatementInput(InputSerializer):
    period_end = serializers.DateField()


class StatementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    kind = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    as_of = serializers.DateField(allow_null=True)
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_url(self, statement: Statement) -> str | None:
        return services.statement_api_url(statement)


class StatementDetailOutput(StatementOutput):
    figures = serializers.SerializerMethodField()

    def get_figures(self, statement: Statement) -> dict[str, Any] | None:
        """The summary figures as of the period end (money as {amount, currency})."""
        if statement.status != Statement.Status.READY or statement.account is None:
            return None
        f = selectors.statement_figures(statement.account, period_end=statement.period_end)
        out: dict[str, Any] = {k: money_dict(v, f.currency) for k, v in f.summary().items()}
        out["twr"] = None if f.twr is None else str(f.twr)
        out["benchmark"] = f.benchmark
        out["benchmark_twr"] = None if f.benchmark_twr is None else str(f.benchmark_twr)
        out["twr_gross"] = None if f.twr_gross is None else str(f.twr_gross)
        out["mwr"] = None if f.mwr is None else str(f.mwr)
        out["holdings"] = [
            {
                "symbol": h.symbol,
                "quantity": str(h.quantity),
                "market_value": money_dict(h.market_value, f.currency),
                "cost_basis": money_dict(h.cost_basis, f.currency),
            }
            for h in f.holdings
        ]
        return out


@extend_schema(methods=["GET"], responses=paginated(StatementOutput), operation_id="account_statements_list")
@extend_schema(
    methods=["POST"],
    request=StatementInput,
    responses={202: StatementOutput},
    parameters=[IDEMPOTENCY_KEY],
    operation_id="account_statements_create",
)
@api_view(["GET", "POST"])
def account_statements(request: Request, pk: int) -> Response:
    """An account's statements, newest first; POST `{"period_end": "YYYY-MM-DD"}` queues the
    statement of the quarter to that date (202; the same statement if it exists already)."""
    account = portfolio_selectors.account_get_for_user(user=api_user(request), pk=pk)
    if request.method == "POST":
        return _statement_create(request, account)
    paginator = Pagination()
    page = paginator.paginate_queryset(selectors.statement_list_for_account(account=account), request)
    return paginator.get_paginated_response(StatementOutput(page, many=True).data)


@idempotent
def _statement_create(request: Request, account: Any) -> Response:
    data = StatementInput(data=request.data)
    data.is_valid(raise_exception=True)
    statement = services.statement_request(
        account=account, period_end=data.validated_data["period_end"], acting_user=api_user(request)
    )
    return Response(StatementOutput(statement).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses=StatementDetailOutput, operation_id="account_statement_detail")
@api_view(["GET"])
def account_statement_detail(request: Request, pk: int, statement_id: int) -> Response:
    account = portfolio_selectors.account_get_for_user(user=api_user(request), pk=pk)
    statement = _statement_of(account, statement_id)
    return Response(StatementDetailOutput(statement).data)


def _negotiation(cls: type) -> Any:
    """Give an `@api_view` function its content negotiation (DRF reads the function's attribute)."""

    def decorate(func: Any) -> Any:
        func.content_negotiation_class = cls
        return func

    return decorate


class PDFRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; the view answers the PDF's bytes itself
    (an error body, a dict, is written as JSON)."""

    media_type = "application/pdf"
    format = "pdf"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)


class _NoFormatOverride:
    """The API settings, without the `?format=` override."""

    URL_FORMAT_OVERRIDE = None

    def __getattr__(self, name: str) -> Any:
        return getattr(api_settings, name)


class PDFNegotiation(DefaultContentNegotiation):
    """The PDF or, for an error, JSON by the Accept header; `?format=pdf` is not a way to ask (an
    error answered to it would be JSON labelled as a PDF)."""

    settings = _NoFormatOverride()  # type: ignore[assignment]


@extend_schema(
    responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The statement's PDF.")},
    operation_id="account_statement_pdf",
)
@api_view(["GET"])
@renderer_classes([JSONRenderer, PDFRenderer])
@_negotiation(PDFNegotiation)
def account_statement_pdf(request: Request, pk: int, statement_id: int) -> Any:
    """The statement's PDF (`application/pdf`); 404 until it is ready, and for anyone who may not see the account."""
    account = portfolio_selectors.account_get_for_user(user=api_user(request), pk=pk)
    return pdf_response(_statement_of(account, statement_id))


def _statement_of(account: Any, statement_id: int) -> Statement:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        selectors.statement_list_for_account(account=account).select_related("document", "account__household"),
        pk=statement_id,
    )
