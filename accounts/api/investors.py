"""The API of investors: adding one to a household (onboarding), reading and changing one."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.households import IDEMPOTENCY_HEADER
from accounts.errors import AccountsError
from accounts.models import (
    EmploymentStatus,
    HouseholdMember,
    IncomeRange,
    InvestmentObjective,
    Investor,
    NetWorthRange,
)
from accounts.permissions import household_may_edit, investor_may_edit
from accounts.selectors.households import household_get_for_user, investor_get_for_user
from accounts.services.investors import investor_onboard, investor_update
from kronos.api.fields import InputSerializer
from kronos.api.permissions import api_user
from kronos.idempotency import idempotent
from kronos.readcache import cached_read


class AddressSerializer(InputSerializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    state = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", max_length=2, min_length=2, help_text="ISO 3166-1 alpha-2.")


class TrustedContactSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    relationship = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


COUNTRY_FIELD: dict[str, Any] = {"max_length": 2, "min_length": 2, "help_text": "ISO 3166-1 alpha-2."}


class InvestorInput(InputSerializer):
    first_name = serializers.CharField(max_length=100)
    middle_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    email = serializers.EmailField()
    phone = serializers.CharField(max_length=30)
    tax_id = serializers.CharField(
        write_only=True,
        max_length=20,
        help_text="SSN/ITIN (NNN-NN-NNNN or 9 digits) for a US person; else the country's id, 4-20 characters. "
        "Write-only: answered as tax_id_last4.",
    )
    citizenship = serializers.RegexField(r"^[A-Za-z]{2}$", **COUNTRY_FIELD)
    tax_residency = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, **COUNTRY_FIELD)
    address = AddressSerializer()
    employment_status = serializers.ChoiceField(choices=EmploymentStatus.choices)
    employer = serializers.CharField(max_length=200, required=False, allow_blank=True)
    occupation = serializers.CharField(max_length=200, required=False, allow_blank=True)
    annual_income = serializers.ChoiceField(choices=IncomeRange.choices)
    net_worth = serializers.ChoiceField(choices=NetWorthRange.choices)
    investment_objective = serializers.ChoiceField(choices=InvestmentObjective.choices)
    trusted_contact = TrustedContactSerializer(required=False)
    relationship = serializers.ChoiceField(
        choices=HouseholdMember.Relationship.choices,
        required=False,
        help_text="Membership of the household: the first investor is primary, later ones joint unless given.",
    )


class InvestorOutput(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    middle_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    email = serializers.CharField()
    phone = serializers.CharField()
    tax_id_last4 = serializers.CharField()
    citizenship = serializers.CharField()
    tax_residency = serializers.CharField()
    address = serializers.SerializerMethodField()
    employment_status = serializers.CharField()
    employer = serializers.CharField()
    occupation = serializers.CharField()
    annual_income = serializers.CharField()
    net_worth = serializers.CharField()
    investment_objective = serializers.CharField()
    trusted_contact = serializers.SerializerMethodField()
    households = serializers.SerializerMethodField()
    has_login = serializers.SerializerMethodField()

    @extend_schema_field(AddressSerializer)
    def get_address(self, investor: Investor) -> dict[str, str]:
        return {
            "line1": investor.address_line1,
            "line2": investor.address_line2,
            "city": investor.city,
            "state": investor.state,
            "postal_code": investor.postal_code,
            "country": investor.country,
        }

    @extend_schema_field(TrustedContactSerializer(allow_null=True))
    def get_trusted_contact(self, investor: Investor) -> dict[str, str] | None:
        if not investor.trusted_contact_name:
            return None
        return {
            "name": investor.trusted_contact_name,
            "relationship": investor.trusted_contact_relationship,
            "phone": investor.trusted_contact_phone,
            "email": investor.trusted_contact_email,
        }

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_households(self, investor: Investor) -> list[int]:
        return sorted(m.household_id for m in investor.memberships.all())

    def get_has_login(self, investor: Investor) -> bool:
        return investor.user_id is not None


_ADDRESS_NAMES = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "city",
    "state": "state",
    "postal_code": "postal_code",
    "country": "country",
}
_TRUSTED_NAMES = {
    "name": "trusted_contact_name",
    "relationship": "trusted_contact_relationship",
    "phone": "trusted_contact_phone",
    "email": "trusted_contact_email",
}


def _flatten(v: dict[str, Any]) -> dict[str, Any]:
    """The API's nested input as the service's flat field names."""
    out = {k: val for k, val in v.items() if k not in ("address", "trusted_contact", "relationship")}
    for key, field in _ADDRESS_NAMES.items():
        if key in v.get("address", {}):
            out[field] = v["address"][key]
    for key, field in _TRUSTED_NAMES.items():
        if key in (v.get("trusted_contact") or {}):
            out[field] = v["trusted_contact"][key]
    return out


def _api_errors(exc: AccountsError) -> serializers.ValidationError:
    """A service's field errors under the API's (nested) names."""
    if not exc.errors:
        return serializers.ValidationError({exc.field or "non_field_errors": [exc.message]})
    nested: dict[str, Any] = {}
    back_address = {v: k for k, v in _ADDRESS_NAMES.items()}
    back_trusted = {v: k for k, v in _TRUSTED_NAMES.items()}
    for field, messages in exc.errors.items():
        if field in back_address and field != "country":
            nested.setdefault("address", {})[back_address[field]] = messages
        elif field == "country":
            nested.setdefault("address", {})["country"] = messages
        elif field in back_trusted:
            nested.setdefault("trusted_contact", {})[back_trusted[field]] = messages
        else:
            nested[field] = messages
    return serializers.ValidationError(nested)


def _investor_answer(pk: int) -> dict[str, Any]:
    investor = Investor.objects.prefetch_related("memberships").get(pk=pk)
    return dict(InvestorOutput(investor).data)


@extend_schema(
    request=InvestorInput,
    responses={201: InvestorOutput},
    parameters=[IDEMPOTENCY_HEADER],
    operation_id="households_investors_create",
)
@api_view(["POST"])
@idempotent
def household_investors(request: Request, pk: int) -> Response:
    """Add an investor with their customer-identification data to a household (its advisor or
    operations). The taxpayer id is write-only and stored encrypted; answered as `tax_id_last4`."""
    user = api_user(request)
    household = household_get_for_user(user=user, pk=pk)
    if not household_may_edit(user=user, household=household):
        raise PermissionDenied("Only the household's advisor or operations staff may add investors.")
    data = InvestorInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    try:
        investor = investor_onboard(
            household=household, acting_user=user, relationship=v.get("relationship", ""), **_flatten(v)
        )
    except AccountsError as exc:
        raise _api_errors(exc) from exc
    return Response(_investor_answer(investor.pk), status=status.HTTP_201_CREATED)


class InvestorUpdateInput(InvestorInput):
    schema_min_properties = 1  # an empty PATCH is refused: nothing to change
    address = AddressSerializer(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.pop("relationship")


@extend_schema(methods=["GET"], responses=InvestorOutput, operation_id="investors_retrieve")
@extend_schema(
    methods=["PATCH"], request=InvestorUpdateInput, responses=InvestorOutput, operation_id="investors_update"
)
@api_view(["GET", "PATCH"])
@cached_read
def investor_detail(request: Request, pk: int) -> Response:
    """One investor of your households; PATCH changes their identification data (their
    advisor or operations), validated as at onboarding."""
    user = api_user(request)
    investor = investor_get_for_user(user=user, pk=pk)
    if request.method == "PATCH":
        if not investor_may_edit(user=user, investor=investor):
            raise PermissionDenied("Only the investor's advisor or operations staff may change them.")
        data = InvestorUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = _flatten(data.validated_data)
        if not changes:
            raise serializers.ValidationError({"non_field_errors": ["Nothing to change."]})
        try:
            investor_update(investor=investor, acting_user=user, **changes)
        except AccountsError as exc:
            raise _api_errors(exc) from exc
    return Response(_investor_answer(investor.pk))
