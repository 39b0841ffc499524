"""Deposits and withdrawals through the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import InputSerializer, MoneyField
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent, service_key
from kronos.ratelimit import money_moving
from trading import permissions, services
from trading.api.common import account_for_write
from trading.models import CashTransfer
from trading.services.transfers import MAX_TRANSFER


class TransferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    direction = serializers.CharField()
    amount = MoneyField(currency_from="currency", read_only=True)
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    proposal = serializers.IntegerField(
        source="proposal_id",
        allow_null=True,
        help_text="The sell proposal raising the cash of a withdrawal that waits for it (status awaiting_cash).",
    )
    created_at = serializers.DateTimeField()


class TransferInput(InputSerializer):
    amount = MoneyField(allow_zero=False, max_amount=MAX_TRANSFER)


class WithdrawalInput(TransferInput):
    raise_cash = serializers.BooleanField(
        required=False,
        default=False,
        help_text="When the withdrawable cash is short: sell the most overweight holdings to raise the "
        "difference; the withdrawal waits as awaiting_cash and is sent once the sales have settled. "
        "Without it a withdrawal larger than the cash is refused.",
    )


def _transfer(request: Request, pk: int, direction: str) -> Response:
    account = account_for_write(request, pk, transfer=True)
    data = (WithdrawalInput if direction == CashTransfer.Direction.WITHDRAWAL else TransferInput)(data=request.data)
    data.is_valid(raise_exception=True)
    money = data.validated_data["amount"]
    if data.validated_data.get("raise_cash"):
        transfer, _ = services.withdrawal_request(
            account=account,
            amount=money.amount,
            currency=str(money.currency),
            acting_user=api_user(request),
            idempotency_key=service_key(request, "api"),
            approve=permissions.account_may_trade(user=api_user(request), account=account),
        )
        return Response(TransferOutput(transfer).data, status=status.HTTP_201_CREATED)
    transfer = services.transfer_create(
        account=account,
        direction=direction,
        amount=money.amount,
        currency=str(money.currency),
        acting_user=api_user(request),
        idempotency_key=service_key(request, "api"),
    )
    return Response(TransferOutput(transfer).data, status=status.HTTP_201_CREATED)


@extend_schema(request=TransferInput, responses={201: TransferOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@money_moving
@idempotent
def deposit_create(request: Request, pk: int) -> Response:
    return _transfer(request, pk, CashTransfer.Direction.DEPOSIT)


@extend_schema(request=WithdrawalInput, responses={201: TransferOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@money_moving
@idempotent
def withdrawal_create(request: Request, pk: int) -> Response:
    return _transfer(request, pk, CashTransfer.Direction.WITHDRAWAL)
