"""The events part of the API: the replay by cursor and webhook subscriptions.

`GET /api/v1/events/?after=<cursor>` answers the events the token's user may see (the
`read` scope), oldest first; `next_cursor` is what to send as `after` next time (the same
cursor when there was nothing new, so a client may poll with it). Subscriptions are the
user's own; a POST needs an `Idempotency-Key` (and the `trade` scope, as every write) and is
the only answer that carries the signing secret.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import KINDS, WebhookSubscription
from accounts.permissions import subscription_may_create
from accounts.selectors.events import event_as_dict, event_list_for_user
from accounts.services import webhooks
from kronos.api.fields import InputSerializer
from kronos.api.pagination import Pagination, paginated
from kronos.api.permissions import api_user
from kronos.idempotency import idempotent

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 2**62
KIND_NAMES = sorted(KINDS)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=True, description="Unique per request; reuse on retry."
)


class EventOutput(serializers.Serializer):
    id = serializers.CharField(help_text="evt_<n>: the Standard Webhooks webhook-id, stable across retries.")
    cursor = serializers.IntegerField(help_text="Position in the replay; send the last one seen as `after`.")
    type = serializers.ChoiceField(choices=KIND_NAMES)
    occurred_at = serializers.DateTimeField()
    firm = serializers.IntegerField()
    household = serializers.IntegerField(allow_null=True)
    investor = serializers.IntegerField(allow_null=True)
    account = serializers.IntegerField(allow_null=True)
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="The kind's payload; decimals are strings, money {amount, currency}."
    )


class EventPage(serializers.Serializer):
    results = EventOutput(many=True)
    next_cursor = serializers.IntegerField(help_text="Send as `after` to continue (unchanged if nothing new).")
    has_more = serializers.BooleanField(help_text="True when more events wait beyond this page.")


#: At most this many types in `type` (each named once would do; repeats are harmless).
MAX_TYPES = 1000 // (max(len(name) for name in KIND_NAMES) + 1)


class EventQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, default=0, max_value=MAX_CURSOR)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=DEFAULT_LIMIT)
    type = serializers.CharField(required=False, allow_blank=True, max_length=1000)

    def validate_type(self, value: str) -> list[str]:
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        if len(kinds) > MAX_TYPES:
            raise serializers.ValidationError(f"At most {MAX_TYPES} event types.")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise serializers.ValidationError(f"Unknown event type: {', '.join(unknown)}.")
        return kinds


@extend_schema(
    operation_id="events_list",
    responses=EventPage,
    parameters=[
        OpenApiParameter(
            "after",
            {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR, "default": 0},
            description="Cursor: answer events after this position (0: from the start).",
        ),
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            description=f"At most this many events (1 to {MAX_LIMIT}).",
        ),
        OpenApiParameter(
            "type",
            {"type": "array", "items": {"type": "string", "enum": list(KIND_NAMES)}, "maxItems": MAX_TYPES},
            style="form",
            explode=False,
            description="Event types to keep, comma-separated (default: all).",
        ),
    ],
    description="Replay the events the caller may see, in order, after a cursor. Event types: "
    + ", ".join(f"`{k.name}` ({k.description})" for k in KINDS.values()),
)
@api_view(["GET"])
def event_list(request: Request) -> Response:
    query = EventQuery(data=request.query_params.dict())  # "after=" is not a number, not the default
    query.is_valid(raise_exception=True)
    after = query.validated_data["after"]
    limit = query.validated_data["limit"]
    events = event_list_for_user(
        user=api_user(request), after=after, kinds=query.validated_data.get("type") or (), limit=limit + 1
    )
    page = events[:limit]
    return Response(
        {
            "results": [event_as_dict(e) for e in page],
            "next_cursor": page[-1].position if page else after,
            "has_more": len(events) > limit,
        }
    )


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 500, "pattern": "^https://"})
class HttpsURLField(serializers.URLField):
    """A webhook URL: the service (accounts.services.webhook_delivery.url_check) refuses any scheme but https."""


class SubscriptionInput(InputSerializer):
    url = HttpsURLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *KIND_NAMES]),
        min_length=1,
        max_length=len(KINDS) + 1,
        help_text='Event types to receive, or ["*"] for all.',
    )


class SubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "is_active", "created_at"]


class SubscriptionCreated(SubscriptionOutput):
    secret = serializers.CharField(help_text="whsec_…: the signing secret, shown only in this answer.")

    class Meta(SubscriptionOutput.Meta):
        fields = [*SubscriptionOutput.Meta.fields, "secret"]


@extend_schema(methods=["GET"], responses=paginated(SubscriptionOutput), operation_id="webhook_subscriptions_list")
@extend_schema(
    methods=["POST"],
    operation_id="webhook_subscriptions_create",
    request=SubscriptionInput,
    responses={201: SubscriptionCreated},
    parameters=[IDEMPOTENCY_HEADER],
    description="Subscribe a URL to event types. Deliveries are signed as Standard Webhooks "
    "(webhook-id, webhook-timestamp, webhook-signature) with the secret in this answer, and retried "
    "with backoff for three days.",
)
@api_view(["GET", "POST"])
def subscription_list(request: Request) -> Response:
    if request.method == "POST":
        return _subscription_create(request)
    paginator = Pagination()
    page: list[WebhookSubscription] | None = paginator.paginate_queryset(
        webhooks.subscriptions_for_user(user=api_user(request)), request
    )
    return paginator.get_paginated_response(SubscriptionOutput(page, many=True).data)


@idempotent
def _subscription_create(request: Request) -> Response:
    user = api_user(request)
    if not subscription_may_create(user):
        raise PermissionDenied("Only a firm's staff may subscribe to webhooks.")
    data = SubscriptionInput(data=request.data)
    data.is_valid(raise_exception=True)
    sub = webhooks.subscription_create(user=user, url=data.validated_data["url"], events=data.validated_data["events"])
    return Response(SubscriptionCreated(sub).data, status=status.HTTP_201_CREATED)


def _own(request: Request, pk: int) -> WebhookSubscription:
    return get_object_or_404(webhooks.subscriptions_for_user(user=api_user(request)), pk=pk)


@extend_schema(methods=["GET"], responses=SubscriptionOutput)
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "DELETE"])
def subscription_detail(request: Request, pk: int) -> Response:
    sub = _own(request, pk)
    if request.method == "DELETE":
        webhooks.subscription_deactivate(subscription=sub, acting_user=api_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(SubscriptionOutput(sub).data)
