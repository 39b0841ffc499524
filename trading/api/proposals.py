"""Rebalance proposals through the API: propose now, read, approve."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent
from kronos.ratelimit import money_moving
from kronos.readcache import cached_read
from trading import selectors, services
from trading.api.common import account_for_write
from trading.api.orders import OrderOutput
from trading.errors import TradingError


class ProposalTradeOutput(serializers.Serializer):
    symbol = serializers.CharField()
    side = serializers.CharField()
    quantity = DecimalStringField(read_only=True)
    price = DecimalStringField(read_only=True)
    estimated_amount = DecimalStringField(output_places=2, read_only=True)


class ProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    needed = serializers.BooleanField()
    status = serializers.CharField()
    as_of = serializers.DateField()
    max_drift_before = DecimalStringField(read_only=True)
    max_drift_after = DecimalStringField(allow_null=True, read_only=True)
    estimated_cost = DecimalStringField(output_places=2, read_only=True)
    realised_gain = DecimalStringField(output_places=2, read_only=True)
    trades = ProposalTradeOutput(many=True, source="trade_list")
    drift_before = serializers.JSONField(source="drift_before_rows")
    drift_after = serializers.JSONField(source="drift_after_rows")
    created_at = serializers.DateTimeField()


@extend_schema(request=None, responses={201: ProposalOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@idempotent
def proposal_create(request: Request, pk: int) -> Response:
    """Run the rebalancing workflow for the account now and store its proposal."""
    account = account_for_write(request, pk)
    created = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=api_user(request))
    if not created:
        raise TradingError("The account has no model portfolio to rebalance to.", field="account")
    proposal = selectors.proposal_get_for_user(user=api_user(request), pk=created[0].pk)
    return Response(ProposalOutput(proposal).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=ProposalOutput)
@api_view(["GET"])
@cached_read
def proposal_detail(request: Request, pk: int) -> Response:
    return Response(ProposalOutput(selectors.proposal_get_for_user(user=api_user(request), pk=pk)).data)


class ApproveOutput(serializers.Serializer):
    orders = OrderOutput(many=True)


@extend_schema(request=None, responses=ApproveOutput, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@money_moving
@idempotent
def proposal_approve(request: Request, pk: int) -> Response:
    proposal = selectors.proposal_get_for_user(user=api_user(request), pk=pk)
    account_for_write(request, proposal.account_id)
    orders = services.proposal_approve(proposal=proposal, acting_user=api_user(request))
    return Response({"orders": OrderOutput(orders, many=True).data})
