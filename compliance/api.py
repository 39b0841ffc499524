"""The compliance part of the API: KYC status and start, risk profiles, an order's pre-trade
checks, and the audit trail (compliance officers only). One view per operation, explicit
input and output serializers."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.selectors import household_get_for_user, household_scope_q
from compliance import audit, permissions, selectors, services
from compliance.engine import risk
from compliance.models import RiskProfile
from kronos.api.fields import DateTimeInputField, InputSerializer
from kronos.api.params import parse_id
from kronos.api.permissions import api_user
from kronos.readcache import cached_read
from trading.models import Order


class KYCMemberOutput(serializers.Serializer):
    investor_id = serializers.IntegerField(source="investor.id")
    name = serializers.CharField(source="investor.full_name")
    relationship = serializers.CharField()
    kyc_status = serializers.CharField()
    risk_level = serializers.IntegerField(allow_null=True)
    aml_frozen = serializers.BooleanField()


class KYCOutput(serializers.Serializer):
    investor_id = serializers.IntegerField()
    status = serializers.CharField()
    redirect_url = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)


@extend_schema(responses=KYCMemberOutput(many=True), summary="KYC status of a household's members")
@api_view(["GET"])
@cached_read
def household_kyc(request: Request, pk: int) -> Response:
    household = household_get_for_user(user=api_user(request), pk=pk)
    return Response(KYCMemberOutput(selectors.household_compliance(household=household), many=True).data)


@extend_schema(request=None, responses={201: KYCOutput}, summary="Start an investor's identity verification")
@api_view(["POST"])
def investor_kyc_start(request: Request, pk: int) -> Response:
    user = api_user(request)
    investor = selectors.investor_get_for_user(user=user, pk=pk)
    if not permissions.may_start_kyc(user=user, households=investor.households.select_related("advisor")):
        raise PermissionDenied("Only the investor's advisor or a compliance officer starts a verification.")
    verification = services.kyc_start(investor=investor, acting_user=user)
    return Response(
        KYCOutput(
            {
                "investor_id": investor.pk,
                "status": verification.status,
                "redirect_url": verification.redirect_url,
                "started_at": verification.started_at,
            }
        ).data,
        status=status.HTTP_201_CREATED,
    )


class RiskProfileInput(InputSerializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            q.key: serializers.ChoiceField(choices=[c for c, _, _ in q.choices], help_text=q.text)
            for q in risk.QUESTIONS
        }


class RiskProfileOutput(serializers.ModelSerializer):
    investor_id = serializers.IntegerField()

    class Meta:
        model = RiskProfile
        fields = ["investor_id", "risk_level", "score", "version", "answers", "completed_at"]


@extend_schema(
    methods=["GET"], responses={200: RiskProfileOutput, 404: None}, summary="An investor's current risk profile"
)
@extend_schema(
    methods=["POST"], request=RiskProfileInput, responses={201: RiskProfileOutput}, summary="Submit the questionnaire"
)
@api_view(["GET", "POST"])
@cached_read
def investor_risk_profile(request: Request, pk: int) -> Response:
    user = api_user(request)
    investor = selectors.investor_get_for_user(user=user, pk=pk)
    if request.method == "GET":
        profile = getattr(investor, "risk_profile", None)
        if profile is None:
            raise Http404
        return Response(RiskProfileOutput(profile).data)
    data = RiskProfileInput(data=request.data)
    data.is_valid(raise_exception=True)
    profile = services.risk_profile_submit(investor=investor, answers=data.validated_data, acting_user=user)
    return Response(RiskProfileOutput(profile).data, status=status.HTTP_201_CREATED)


class CheckOutput(serializers.Serializer):
    rule = serializers.CharField()
    outcome = serializers.CharField()
    hard = serializers.BooleanField()
    message = serializers.CharField()


@extend_schema(responses=CheckOutput(many=True), summary="The pre-trade compliance checks of an order")
@api_view(["GET"])
@cached_read
def order_checks(request: Request, pk: int) -> Response:
    scoped = Order.objects.filter(household_scope_q(user=api_user(request), prefix="account__household__")).values("pk")
    order = Order.objects.filter(pk__in=scoped, pk=pk).prefetch_related("checks").first()
    if order is None:
        raise Http404
    return Response(CheckOutput(order.checks.all(), many=True).data)


class AuditQuery(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True)
    object_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    user = serializers.CharField(required=False, allow_blank=True, help_text="A user id or email.")
    since = DateTimeInputField(required=False)
    until = DateTimeInputField(required=False)
    field = serializers.CharField(required=False, allow_blank=True, max_length=100)
    after = serializers.CharField(required=False, allow_blank=True, help_text="The `next` cursor of a page.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)

    def validate_model(self, value: str) -> str:
        if value and value not in audit.audit_models():
            raise serializers.ValidationError(f"Unknown model {value!r}: use app_label.ModelName.")
        return value

    def validate_after(self, value: str) -> str:
        if value and audit.decode_cursor(value) is None:
            raise serializers.ValidationError("Not a cursor from this API.")
        return value


class AuditChangeOutput(serializers.Serializer):
    field = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class AuditEntryOutput(serializers.Serializer):
    model = serializers.CharField()
    object_id = serializers.CharField()
    history_id = serializers.IntegerField()
    date = serializers.DateTimeField()
    action = serializers.CharField(source="kind")
    user_id = serializers.IntegerField(allow_null=True)
    user = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.SerializerMethodField()

    def get_changes(self, entry: audit.AuditEntry) -> list[dict[str, Any]]:
        return [{"field": f, "before": b, "after": a} for f, b, a in entry.changes]


@extend_schema(
    parameters=[AuditQuery],
    responses=inline_serializer(
        "AuditPage", {"next": serializers.CharField(allow_null=True), "results": AuditEntryOutput(many=True)}
    ),
    summary="The audit trail (compliance officers only), newest first, cursor-paginated",
    operation_id="audit_list",
)
@api_view(["GET"])
@cached_read
def audit_list(request: Request) -> Response:
    if not permissions.is_compliance_officer(api_user(request)):
        raise PermissionDenied("The audit trail is for compliance officers.")
    query = AuditQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    flt = audit.AuditFilter.for_user(
        api_user(request),
        model=data.get("model", ""),
        object_id=data.get("object_id", ""),
        since=data.get("since"),
        until=data.get("until"),
        field=data.get("field", ""),
    )
    who = (data.get("user") or "").strip()
    if who:
        user = (
            User.objects.filter(pk=parse_id(who, name="user")).first()
            if who.isascii() and who.isdigit()
            else User.objects.filter(email__iexact=who).first()
        )
        flt.user_id = user.pk if user else -1
    entries, cursor = audit.audit_page(flt=flt, after=data.get("after", ""), size=data["page_size"])
    next_url = None
    if cursor:
        params = request.query_params.copy()
        params["after"] = cursor
        next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return Response({"next": next_url, "results": AuditEntryOutput(entries, many=True).data})
