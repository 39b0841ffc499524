"""The onboarding part of the API: a household's steps, submitting it, its documents."""

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import household_get_for_user, household_may_edit
from kronos.api.permissions import api_user
from kronos.idempotency import idempotent
from kronos.readcache import cached_read
from onboarding import permissions, selectors, services


class StepOutput(serializers.Serializer):
    key = serializers.ChoiceField(
        choices=[
            "household",
            "investors",
            "identification",
            "kyc",
            "aml",
            "invitation",
            "risk_questionnaire",
            "agreements",
            "account",
        ]
    )
    label = serializers.CharField()  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=["done", "waiting", "action_needed", "blocked"])
    missing = serializers.ListField(child=serializers.CharField())
    subject = serializers.CharField()


class OnboardingOutput(serializers.Serializer):
    household = serializers.IntegerField()
    complete = serializers.BooleanField()
    steps = StepOutput(many=True)


class SubmitOutput(serializers.Serializer):
    household = serializers.IntegerField()
    complete = serializers.BooleanField()
    steps = StepOutput(many=True)
    screened = serializers.ListField(child=serializers.CharField())
    invited = serializers.ListField(child=serializers.CharField())
    requested = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(child=serializers.CharField())


def _answer(onboarding: selectors.Onboarding) -> dict[str, Any]:
    return {
        "household": onboarding.household.pk,
        "complete": onboarding.complete,
        "steps": [s.as_dict() for s in onboarding.steps],
    }


@extend_schema(methods=["GET"], responses=OnboardingOutput, operation_id="households_onboarding_retrieve")
@api_view(["GET"])
@cached_read
def household_onboarding(request: Request, pk: int) -> Response:
    """Each onboarding step of the household with its status and what is missing."""
    return Response(_answer(selectors.onboarding_get_for_user(user=api_user(request), pk=pk)))


@extend_schema(
    request=None,
    responses={200: SubmitOutput},
    parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    operation_id="households_onboarding_submit",
)
@api_view(["POST"])
@idempotent
def household_onboarding_submit(request: Request, pk: int) -> Response:
    """Submit the household: KYC and AML screening start, investors are invited, accounts whose
    owners are cleared are asked of the custodian. Its advisor or operations only."""
    user = api_user(request)
    household = household_get_for_user(user=user, pk=pk)
    if not household_may_edit(user=user, household=household):
        raise PermissionDenied("Only the household's advisor or operations staff may submit it.")
    result = services.onboarding_submit(household=household, acting_user=user, base_url=request.build_absolute_uri("/"))
    return Response(
        {
            **_answer(selectors.onboarding_for(household)),
            "screened": result.screened,
            "invited": result.invited,
            "requested": result.requested,
            "problems": result.problems,
        },
        status=status.HTTP_200_OK,
    )


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    signature = serializers.SerializerMethodField()

    def get_url(self, document: Any) -> str:
        return f"/api/v1/documents/{document.pk}/"

    def get_signature(self, document: Any) -> dict[str, Any] | None:
        sig = getattr(document, "signature", None)
        if sig is None:
            return None
        return {
            "investor": sig.investor_id,
            "signer": sig.signer_id,
            "document_version": sig.document_version,
            "document_sha256": sig.document_sha256,
            "signed_at": sig.signed_at.isoformat(),
            "ip_address": sig.ip_address,
            "user_agent": sig.user_agent,
        }


@extend_schema(responses=DocumentOutput(many=True), operation_id="households_documents_list")
@api_view(["GET"])
@cached_read
def household_documents(request: Request, pk: int) -> Response:
    """The household's documents (signed agreements): its investors, advisor and compliance."""
    user = api_user(request)
    household = household_get_for_user(user=user, pk=pk)
    if not permissions.may_read_documents(user=user, household=household):
        raise Http404
    documents = selectors.document_list_for_user(user=user, household=household)
    return Response(DocumentOutput(documents, many=True).data)


@extend_schema(
    responses={(200, "application/pdf"): OpenApiResponse(description="The document's bytes.")},
    operation_id="documents_download",
)
@api_view(["GET"])
def document_download(request: Request, pk: int) -> HttpResponse:
    """One document's file (404 for anyone who may not open it)."""
    document = selectors.document_get_for_user(user=api_user(request), pk=pk)
    response = HttpResponse(bytes(document.content), content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["X-Content-SHA256"] = document.sha256
    return response
