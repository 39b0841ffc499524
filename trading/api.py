"""The trading API: proposals, orders, transfers and the account's journal.

Function-per-operation views with explicit input and output serializers. Every POST
that moves money or places an order needs an Idempotency-Key (kronos.idempotency).
Reads: the household's advisor, its investors and the firm's compliance and operations
staff; writes: the advisor (transfers also the household's investors). Others get 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import InputSerializer, MoneyField, QuantityField, decimal_to_str, money_dict
from kronos.api.pagination import Pagination, paginated
from kronos.api.params import id_parameter, query_id
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent, service_key
from kronos.ratelimit import money_moving
from kronos.readcache import cached_read
from trading import selectors, services
from trading.errors import TradingError
from trading.models import CashTransfer, Order, RebalanceProposal
from trading.services.transfers import MAX_TRANSFER

IDEMPOTENCY_HEADER = IDEMPOTENCY_KEY


def _dec(value: Any, places: int | None = None) -> str | None:
    return None if value is None else decimal_to_str(value, places)


# --- output ------------------------------------------------------------------------------------


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField(source="security.symbol")
    side = serializers.CharField()
    order_type = serializers.CharField()
    quantity = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()
    limit_price = serializers.SerializerMethodField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    filled_quantity = serializers.SerializerMethodField()
    average_price = serializers.SerializerMethodField()
    client_order_id = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # the field is named "source" in the contract
    created_at = serializers.DateTimeField()

    def get_quantity(self, o: Order) -> str | None:
        return _dec(o.quantity)

    def get_amount(self, o: Order) -> dict[str, str] | None:
        return None if o.amount is None else money_dict(o.amount, o.account.base_currency)

    def get_limit_price(self, o: Order) -> str | None:
        return _dec(o.limit_price)

    def get_filled_quantity(self, o: Order) -> str:
        return decimal_to_str(o.filled_quantity)

    def get_average_price(self, o: Order) -> str | None:
        return _dec(o.average_price)


class ProposalTradeOutput(serializers.Serializer):
    symbol = serializers.CharField()
    side = serializers.CharField()
    quantity = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()
    estimated_amount = serializers.SerializerMethodField()

    def get_quantity(self, t: Any) -> str:
        return decimal_to_str(t.quantity)

    def get_price(self, t: Any) -> str:
        return decimal_to_str(t.price)

    def get_estimated_amount(self, t: Any) -> str:
        return decimal_to_str(t.estimated_amount, 2)


class ProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    needed = serializers.BooleanField()
    status = serializers.CharField()
    as_of = serializers.DateField()
    max_drift_before = serializers.SerializerMethodField()
    max_drift_after = serializers.SerializerMethodField()
    estimated_cost = serializers.SerializerMethodField()
    realised_gain = serializers.SerializerMethodField()
    trades = ProposalTradeOutput(many=True)
    drift_before = serializers.JSONField()
    drift_after = serializers.JSONField()
    created_at = serializers.DateTimeField()

    def get_max_drift_before(self, p: RebalanceProposal) -> str:
        return decimal_to_str(p.max_drift_before)

    def get_max_drift_after(self, p: RebalanceProposal) -> str | None:
        return _dec(p.max_drift_after)

    def get_estimated_cost(self, p: RebalanceProposal) -> str:
        return decimal_to_str(p.estimated_cost, 2)

    def get_realised_gain(self, p: RebalanceProposal) -> str:
        return decimal_to_str(p.realised_gain, 2)


class TransferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    direction = serializers.CharField()
    amount = serializers.SerializerMethodField()
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    proposal = serializers.IntegerField(
        source="proposal_id",
        allow_null=True,
        help_text="The sell proposal raising the cash of a withdrawal that waits for it (status awaiting_cash).",
    )
    created_at = serializers.DateTimeField()

    def get_amount(self, t: CashTransfer) -> dict[str, str]:
        return money_dict(t.amount, t.currency)


class PostingOutput(serializers.Serializer):
    asset = serializers.SerializerMethodField()
    quantity = serializers.SerializerMethodField()

    def get_asset(self, p: Any) -> str:
        return p.security.symbol if p.security_id else p.currency

    def get_quantity(self, p: Any) -> str:
        return decimal_to_str(p.quantity, None if p.security_id else 2)


class TransactionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    memo = serializers.CharField()
    effective_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    postings = PostingOutput(many=True, source="account_postings")


# --- input -------------------------------------------------------------------------------------


class OrderInput(InputSerializer):
    account = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    symbol = serializers.CharField(max_length=20)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    order_type = serializers.ChoiceField(choices=["market", "limit"], default="market")
    quantity = QuantityField(required=False)
    amount = MoneyField(required=False, allow_zero=False)
    limit_price = QuantityField(required=False, max_places=6, what="limit price")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("quantity" in data) == ("amount" in data):
            raise serializers.ValidationError({"quantity": ["Give either a quantity or an amount, not both."]})
        return data


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


# --- views ------------------------------------------------------------------------------------


def _account_for_write(request: Request, pk: int, *, transfer: bool = False) -> Any:
    account = selectors.account_get_for_user(user=api_user(request), pk=pk)
    allowed = (
        selectors.account_may_transfer(user=api_user(request), account=account)
        if transfer
        else selectors.account_may_trade(user=api_user(request), account=account)
    )
    if not allowed:
        raise NotFound()
    return account


@extend_schema(request=None, responses={201: ProposalOutput}, parameters=[IDEMPOTENCY_HEADER])
@api_view(["POST"])
@idempotent
def proposal_create(request: Request, pk: int) -> Response:
    """Run the rebalancing workflow for the account now and store its proposal."""
    account = _account_for_write(request, pk)
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


@extend_schema(request=None, responses=ApproveOutput, parameters=[IDEMPOTENCY_HEADER])
@api_view(["POST"])
@money_moving
@idempotent
def proposal_approve(request: Request, pk: int) -> Response:
    proposal = selectors.proposal_get_for_user(user=api_user(request), pk=pk)
    _account_for_write(request, proposal.account_id)
    orders = services.proposal_approve(proposal=proposal, acting_user=api_user(request))
    return Response({"orders": OrderOutput(orders, many=True).data})


@extend_schema(
    methods=["GET"],
    responses=paginated(OrderOutput),
    parameters=[id_parameter("account"), OpenApiParameter("status", str)],
    operation_id="orders_list",
)
@extend_schema(methods=["POST"], request=OrderInput, responses={201: OrderOutput}, parameters=[IDEMPOTENCY_HEADER])
@api_view(["GET", "POST"])
@money_moving
@cached_read
def order_list(request: Request) -> Response:
    if request.method == "POST":
        return _order_create(request)
    account = None
    account_id = query_id(request, "account")
    if account_id is not None:
        account = selectors.account_get_for_user(user=api_user(request), pk=account_id)
    qs = selectors.order_list_for_user(
        user=api_user(request), account=account, status=request.query_params.get("status", "")[:20]
    )
    paginator = Pagination()
    page = paginator.paginate_queryset(qs, request)
    return paginator.get_paginated_response(OrderOutput(page, many=True).data)


@idempotent
def _order_create(request: Request) -> Response:
    data = OrderInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    account = _account_for_write(request, v["account"])
    amount = v.get("amount")
    if amount is not None and str(amount.currency) != account.base_currency:
        raise TradingError(f"The account holds {account.base_currency}.", field="amount")
    order = services.order_create(
        account=account,
        security=v["symbol"],
        side=v["side"],
        order_type=v["order_type"],
        quantity=v.get("quantity"),
        amount=amount.amount if amount is not None else None,
        limit_price=v.get("limit_price"),
        acting_user=api_user(request),
        source=Order.Source.API,
        idempotency_key=service_key(request, "api"),
    )
    return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=OrderOutput)
@api_view(["GET"])
@cached_read
def order_detail(request: Request, pk: int) -> Response:
    return Response(OrderOutput(selectors.order_get_for_user(user=api_user(request), pk=pk)).data)


@extend_schema(request=None, responses=OrderOutput, parameters=[IDEMPOTENCY_HEADER])
@api_view(["POST"])
@idempotent
def order_cancel(request: Request, pk: int) -> Response:
    order = selectors.order_get_for_user(user=api_user(request), pk=pk)
    _account_for_write(request, order.account_id)
    order = services.order_cancel(order=order, acting_user=api_user(request))
    return Response(OrderOutput(order).data)


def _transfer(request: Request, pk: int, direction: str) -> Response:
    account = _account_for_write(request, pk, transfer=True)
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
            approve=selectors.account_may_trade(user=api_user(request), account=account),
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


@extend_schema(request=TransferInput, responses={201: TransferOutput}, parameters=[IDEMPOTENCY_HEADER])
@api_view(["POST"])
@money_moving
@idempotent
def deposit_create(request: Request, pk: int) -> Response:
    return _transfer(request, pk, CashTransfer.Direction.DEPOSIT)


@extend_schema(request=WithdrawalInput, responses={201: TransferOutput}, parameters=[IDEMPOTENCY_HEADER])
@api_view(["POST"])
@money_moving
@idempotent
def withdrawal_create(request: Request, pk: int) -> Response:
    return _transfer(request, pk, CashTransfer.Direction.WITHDRAWAL)


@extend_schema(responses=paginated(TransactionOutput))
@api_view(["GET"])
@cached_read
def account_transactions(request: Request, pk: int) -> Response:
    account = selectors.account_get_for_user(user=api_user(request), pk=pk)
    paginator = Pagination()
    page = paginator.paginate_queryset(selectors.account_transactions(account=account), request)
    return paginator.get_paginated_response(TransactionOutput(page, many=True).data)
