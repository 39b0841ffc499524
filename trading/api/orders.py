"""Orders through the API: list, place, read and cancel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.decimals import decimal_to_str
from kronos.api.fields import DecimalStringField, InputSerializer, MoneyField, QuantityField, money_dict
from kronos.api.pagination import Pagination, paginated
from kronos.api.params import id_parameter, query_id
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent, service_key
from kronos.ratelimit import money_moving
from kronos.readcache import cached_read
from portfolios.selectors import account_for_user
from trading import selectors, services
from trading.api.common import account_for_write
from trading.errors import TradingError
from trading.models import Order
from trading.selectors import OrderRow


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField(source="security.symbol")
    side = serializers.CharField()
    order_type = serializers.CharField()
    quantity = DecimalStringField(allow_null=True, read_only=True)
    amount = MoneyField(allow_null=True, currency_from="account.base_currency", read_only=True)
    limit_price = DecimalStringField(allow_null=True, read_only=True)
    status = serializers.CharField()
    status_reason = serializers.CharField()
    filled_quantity = DecimalStringField(read_only=True)
    average_price = DecimalStringField(allow_null=True, read_only=True)
    client_order_id = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # the field is named "source" in the contract
    created_at = serializers.DateTimeField()
    lot_selection = serializers.JSONField(
        allow_null=True, read_only=True, help_text="A sell's tax lots; null: the account's lot relief method."
    )


class OrderInput(InputSerializer):
    account = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    symbol = serializers.CharField(max_length=20)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    order_type = serializers.ChoiceField(choices=["market", "limit"], default="market")
    quantity = QuantityField(required=False)
    amount = MoneyField(required=False, allow_zero=False)
    limit_price = QuantityField(required=False, max_places=6, what="limit price")
    lot_selection = serializers.JSONField(
        required=False,
        help_text='A sell\'s tax lots: {"method": "specific", "lots": [{"id": 12, "quantity": "5"}]} (open lots of '
        'this account and security, quantities summing to the order\'s), or {"method": "hifo" | '
        '"tax_optimised" | "fifo"}. Without it, the account\'s lot relief method.',
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("quantity" in data) == ("amount" in data):
            raise serializers.ValidationError({"quantity": ["Give either a quantity or an amount, not both."]})
        return data


@extend_schema(
    methods=["GET"],
    responses=paginated(OrderOutput),
    parameters=[id_parameter("account"), OpenApiParameter("status", str)],
    operation_id="orders_list",
)
@extend_schema(methods=["POST"], request=OrderInput, responses={201: OrderOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["GET", "POST"])
@money_moving
@cached_read
def order_list(request: Request) -> Response:
    if request.method == "POST":
        return _order_create(request)
    user = api_user(request)
    account_id = query_id(request, "account")
    if account_id is not None:
        account_for_user(user=user, pk=account_id)  # 404 when it is not the user's (the same scope)
    status = request.query_params.get("status", "")[:20]
    paginator = Pagination()
    page = paginator.paginate_counted(
        lambda offset, limit: selectors.order_rows_page_for_user(
            user=user, offset=offset, limit=limit, account_id=account_id, status=status
        ),
        lambda: selectors.order_row_values_for_user(user=user, account_id=account_id, status=status),
        request,
    )
    return paginator.get_paginated_response([order_dict(OrderRow(*row)) for row in page])


_CREATED_AT = serializers.DateTimeField()


def order_dict(row: OrderRow) -> dict[str, Any]:
    """What `OrderOutput` writes for an order (the same keys, in its order, and the same
    strings), built from its row: `OrderOutput` stays the schema; a test keeps them equal."""
    currency = row.base_currency
    return {
        "id": row.pk,
        "account": row.account_id,
        "symbol": row.symbol,
        "side": row.side,
        "order_type": row.order_type,
        "quantity": None if row.quantity is None else decimal_to_str(row.quantity),
        "amount": None if row.amount is None else money_dict(row.amount, currency),
        "limit_price": None if row.limit_price is None else decimal_to_str(row.limit_price),
        "status": row.status,
        "status_reason": row.status_reason,
        "filled_quantity": decimal_to_str(row.filled_quantity),
        "average_price": None if row.average_price is None else decimal_to_str(row.average_price),
        "client_order_id": row.client_order_id,
        "source": row.source,
        "created_at": _CREATED_AT.to_representation(row.created_at),
        "lot_selection": row.lot_selection,
    }


@idempotent
def _order_create(request: Request) -> Response:
    data = OrderInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    account = account_for_write(request, v["account"])
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
        lot_selection=v.get("lot_selection"),
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


@extend_schema(request=None, responses=OrderOutput, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@idempotent
def order_cancel(request: Request, pk: int) -> Response:
    order = selectors.order_get_for_user(user=api_user(request), pk=pk)
    account_for_write(request, order.account_id)
    order = services.order_cancel(order=order, acting_user=api_user(request))
    return Response(OrderOutput(order).data)
