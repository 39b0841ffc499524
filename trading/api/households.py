"""Household-wide trading through the API: a rebalancing group's proposals."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.api.fields import DecimalStringField
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent
from trading import selectors, services
from trading.api.proposals import ProposalOutput
from trading.errors import TradingError


class GroupDriftRowOutput(serializers.Serializer):
    symbol = serializers.CharField()
    target_weight = DecimalStringField(read_only=True)
    actual_weight = DecimalStringField(read_only=True)
    drift = DecimalStringField(read_only=True)
    breached = serializers.BooleanField()


class HouseholdRebalanceInput(serializers.Serializer):
    group = serializers.IntegerField(
        required=False, min_value=1, help_text="The rebalancing group (its only one if left out)."
    )
    force = serializers.BooleanField(required=False, default=False, help_text="Rebalance inside the bands too.")


class HouseholdRebalanceOutput(serializers.Serializer):
    group = serializers.IntegerField(source="group.pk")
    needed = serializers.BooleanField(source="plan.needed")
    drift_before = GroupDriftRowOutput(source="plan.drift_before", many=True)
    drift_after = GroupDriftRowOutput(source="plan.drift_after", many=True)
    realised_gain = DecimalStringField(source="plan.realised_gain_taxable", output_places=2, read_only=True)
    notes = serializers.ListField(source="plan.notes", child=serializers.CharField())
    proposals = ProposalOutput(many=True)


@extend_schema(request=HouseholdRebalanceInput, responses={201: HouseholdRebalanceOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@idempotent
def household_rebalance_create(request: Request, pk: int) -> Response:
    """Plan the household's rebalancing group as a whole and store a proposal per account that
    trades (sells in tax-deferred accounts first; bonds and real estate bought there first)."""
    user = api_user(request)
    household = selectors.household_for_trading(user=user, pk=pk)
    data = HouseholdRebalanceInput(data=request.data or {})
    data.is_valid(raise_exception=True)
    group = selectors.rebalancing_group_for_household(household=household, pk=data.validated_data.get("group"))
    if group is None:
        raise TradingError("Name one of the household's active rebalancing groups.", field="group")
    result = services.household_rebalance_propose(group=group, acting_user=user, force=data.validated_data["force"])
    proposals = [selectors.proposal_get_for_user(user=user, pk=p.pk) for p in result.proposals]
    body = HouseholdRebalanceOutput({"group": result.group, "plan": result.plan, "proposals": proposals}).data
    return Response(body, status=status.HTTP_201_CREATED)


class HarvestOutput(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField()
    substitute = serializers.CharField()
    quantity = DecimalStringField(source="sell.quantity", read_only=True)
    substitute_quantity = DecimalStringField(source="buy.quantity", allow_null=True, read_only=True, default=None)
    loss = DecimalStringField(output_places=2, read_only=True)


class HouseholdHarvestOutput(serializers.Serializer):
    household = serializers.IntegerField(source="household.pk")
    harvests = HarvestOutput(source="plan.harvests", many=True)
    notes = serializers.ListField(source="plan.notes", child=serializers.CharField())
    proposals = ProposalOutput(many=True)


@extend_schema(request=None, responses={201: HouseholdHarvestOutput}, parameters=[IDEMPOTENCY_KEY])
@api_view(["POST"])
@idempotent
def household_harvest_create(request: Request, pk: int) -> Response:
    """Scan the household for losses to harvest now and store a proposal per account that
    harvests (the firm's automatic mode approves them as they are made)."""
    user = api_user(request)
    household = selectors.household_for_trading(user=user, pk=pk)
    result = services.harvest_proposals_create(household=household, acting_user=user)
    proposals = [selectors.proposal_get_for_user(user=user, pk=p.pk) for p in result.proposals]
    body = HouseholdHarvestOutput({"household": household, "plan": result.plan, "proposals": proposals}).data
    return Response(body, status=status.HTTP_201_CREATED)
