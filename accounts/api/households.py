"""The API of households (and of the signed-in user, `me/`)."""

from typing import Any

from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import AccountsError
from accounts.models import (
    Household,
    HouseholdMember,
    User,
)
from accounts.permissions import household_creator_advisor, household_may_edit
from accounts.selectors.households import (
    HouseholdRow,
    household_get_for_user,
    household_row_values_for_user,
    household_rows_page_for_user,
    household_rows_with_members,
)
from accounts.services.firms import household_create, household_update
from kronos.api.fields import InputSerializer
from kronos.api.pagination import Pagination
from kronos.api.permissions import api_user
from kronos.idempotency import idempotent
from kronos.readcache import cached_read

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique value per request (e.g. a UUID), reused on a retry: the first answer is replayed.",
)


class FirmRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AdvisorRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()


class MeOutput(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    firm = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "roles", "firm"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_roles(self, user: User) -> list[str]:
        return sorted(user.roles)

    @extend_schema_field(FirmRef(allow_null=True))
    def get_firm(self, user: User) -> dict[str, object] | None:
        return {"id": user.firm.pk, "name": user.firm.name} if user.firm is not None else None


class MemberOutput(serializers.ModelSerializer):
    id = serializers.IntegerField(source="investor.id")
    name = serializers.CharField(source="investor.full_name")

    class Meta:
        model = HouseholdMember
        fields = ["id", "name", "relationship"]


class HouseholdOutput(serializers.ModelSerializer):
    advisor = serializers.SerializerMethodField()
    investors = MemberOutput(source="members", many=True)

    class Meta:
        model = Household
        fields = ["id", "name", "status", "advisor", "investors", "created_at", "updated_at"]

    @extend_schema_field(AdvisorRef)
    def get_advisor(self, household: Household) -> dict[str, object]:
        return {"id": household.advisor_id, "name": str(household.advisor), "email": household.advisor.user.email}


_DATETIME = serializers.DateTimeField()


def household_dict(row: HouseholdRow) -> dict[str, Any]:
    """What `HouseholdOutput` writes for a household (the same keys, in its order, and the same
    strings), built directly: DRF's per-field machinery was most of the list's time.
    `HouseholdOutput` stays the schema; a test keeps them equal."""
    return {
        "id": row.pk,
        "name": row.name,
        "status": row.status,
        "advisor": {"id": row.advisor_id, "name": row.advisor_name, "email": row.advisor_email},
        "investors": [{"id": m.investor_id, "name": m.full_name, "relationship": m.relationship} for m in row.members],
        "created_at": _DATETIME.to_representation(row.created_at),
        "updated_at": _DATETIME.to_representation(row.updated_at),
    }


class MeView(APIView):
    @extend_schema(responses=MeOutput)
    @method_decorator(cached_read)
    def get(self, request: Request) -> Response:
        # The request's user, read this request with its firm and roles (kronos.auth).
        return Response(MeOutput(api_user(request)).data)


class HouseholdCreateInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    advisor = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="Operations only: the advisor (of your firm) who will advise it.",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


@method_decorator(cached_read, name="get")
class HouseholdListView(generics.ListAPIView):
    serializer_class = HouseholdOutput
    queryset = Household.objects.none()  # the schema's model; get_queryset() answers the user's own

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The user's households, a page at a time (`search`: a household's or an investor's name)."""
        user = api_user(request)
        search = request.query_params.get("search", "")[:100]
        paginator = Pagination()
        page = paginator.paginate_counted(
            lambda offset, limit: household_rows_page_for_user(user=user, offset=offset, limit=limit, search=search),
            lambda: household_row_values_for_user(user=user, search=search),
            request,
        )
        rows = household_rows_with_members([HouseholdRow(*row) for row in page])
        return paginator.get_paginated_response([household_dict(row) for row in rows])

    @extend_schema(
        request=HouseholdCreateInput,
        responses={201: HouseholdOutput},
        parameters=[IDEMPOTENCY_HEADER],
        operation_id="households_create",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Create a household in your firm. An advisor becomes its advisor; operations name one
        (`advisor`). Investors and compliance officers cannot create households."""
        user = api_user(request)
        data = HouseholdCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        advisor = household_creator_advisor(user, v.get("advisor"))
        household = household_create(
            firm=advisor.firm, name=v["name"], advisor=advisor, acting_user=user, notes=v.get("notes", "")
        )
        return Response(HouseholdOutput(household_get_for_user(user=user, pk=household.pk)).data, status=201)


class HouseholdUpdateInput(InputSerializer):
    schema_min_properties = 1  # an empty PATCH is refused: nothing to change
    name = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=Household.Status.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


@method_decorator(cached_read, name="get")
class HouseholdDetailView(generics.RetrieveAPIView):
    serializer_class = HouseholdOutput

    def get_object(self) -> Household:
        return household_get_for_user(user=api_user(self.request), pk=self.kwargs["pk"])

    @extend_schema(request=HouseholdUpdateInput, responses=HouseholdOutput)
    def patch(self, request: Request, pk: int) -> Response:
        """Change a household's name, status or notes: its advisor (or operations) only."""
        household = self.get_object()
        if not household_may_edit(user=api_user(request), household=household):
            raise PermissionDenied("Only the household's advisor or operations staff may change it.")
        data = HouseholdUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise AccountsError("Nothing to change: send name, status or notes.")
        household_update(household=household, acting_user=api_user(request), **data.validated_data)
        return Response(HouseholdOutput(self.get_object()).data, status=status.HTTP_200_OK)
