"""The inbox in the API: `GET /api/v1/notifications/` (the caller's own, newest first, paginated;
`?unread=true` for the unread ones only, whose `count` is the unread count) and
`POST /api/v1/notifications/{id}/read/` (marks one read; idempotent by nature, an
`Idempotency-Key` is optional). Another user's notification is a 404."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.idempotency import idempotent_when_keyed
from notifications import selectors, services
from notifications.catalogue import KINDS
from notifications.models import Notification


class NotificationOutput(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=sorted(KINDS), help_text="The kind, as on the preferences page.")
    is_read = serializers.BooleanField(help_text="Whether it has been marked read.")

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at", "is_read"]


class NotificationQuery(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


@extend_schema(
    operation_id="notifications_list",
    responses=paginated(NotificationOutput),
    parameters=[OpenApiParameter("unread", bool, description="Only the unread ones (default: all).")],
)
@api_view(["GET"])
def notification_list(request: Request) -> Response:
    query = NotificationQuery(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    rows = selectors.notification_list_for_user(user=api_user(request), unread_only=query.validated_data["unread"])
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response(NotificationOutput(page, many=True).data)


@extend_schema(
    operation_id="notifications_read",
    request=None,
    responses=NotificationOutput,
    parameters=[
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            required=False,
            description="Optional: marking read is idempotent.",
        )
    ],
)
@api_view(["POST"])
@idempotent_when_keyed
def notification_read(request: Request, pk: int) -> Response:
    user = api_user(request)
    notification = selectors.notification_get_for_user(user=user, pk=pk)
    services.notification_mark_read(notification=notification, acting_user=user)
    return Response(NotificationOutput(notification).data)
