"""An account's journal through the API: its entries with the account's own postings."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import decimal_to_str
from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from trading import selectors


class PostingOutput(serializers.Serializer):
    asset = serializers.SerializerMethodField()
    quantity = serializers.SerializerMethodField()

    def get_asset(self, p: Any) -> str:
        return p.security.symbol if p.security_id else p.currency

    def get_quantity(self, p: Any) -> str:
        # Shares as they are, cash in cents: the places depend on the posting.
        return decimal_to_str(p.quantity, None if p.security_id else 2)


class TransactionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    memo = serializers.CharField()
    effective_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    postings = PostingOutput(many=True, source="account_postings")


@extend_schema(responses=paginated(TransactionOutput))
@api_view(["GET"])
@cached_read
def account_transactions(request: Request, pk: int) -> Response:
    account = selectors.account_get_for_user(user=api_user(request), pk=pk)
    paginator = Pagination()
    page = paginator.paginate_queryset(selectors.account_transactions(account=account), request)
    return paginator.get_paginated_response(TransactionOutput(page, many=True).data)
