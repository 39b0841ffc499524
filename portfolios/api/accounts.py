"""Accounts and their positions: `/accounts/`, `/accounts/<id>/`, `/accounts/<id>/positions/`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Household, Investor
from accounts.selectors import household_list_for_user
from kronos.api.fields import DecimalStringField, FractionField, InputSerializer, MoneyField, QuantityField, money_dict
from kronos.api.pagination import Pagination, paginated
from kronos.api.params import id_parameter, query_id
from kronos.api.permissions import api_user
from kronos.db import CompiledIdsRead
from kronos.idempotency import idempotent_when_keyed
from kronos.readcache import cached_read
from portfolios.api.common import (
    WEIGHT_OUT,
    _require_account_editor,
)
from portfolios.models import ACCOUNT_SETTINGS, AccountOwner, Beneficiary, InvestmentAccount, ModelPortfolio
from portfolios.selectors.accounts import (
    AccountRow,
    account_row_for_user,
    account_row_values_for_user,
    account_rows_page_for_user,
    model_portfolio_list_for_user,
    row_figures,
)
from portfolios.selectors.figures import ComputedFigures, kept_figures
from portfolios.selectors.holdings import PositionRow, positions_for_user
from portfolios.services.accounts import account_create, account_update, model_assign
from portfolios.services.ownership import BeneficiarySpec

# --- Accounts ---------------------------------------------------------------------------------------


class AccountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    household = serializers.IntegerField(source="household_id")
    name = serializers.CharField()
    account_type = serializers.CharField()
    custodian_account_number = serializers.CharField(
        allow_null=True, help_text="Null while the custodian is opening the account (status pending)."
    )
    base_currency = serializers.CharField()
    status = serializers.CharField()
    owners = serializers.SerializerMethodField()
    beneficiaries = serializers.SerializerMethodField()
    model = serializers.IntegerField(source="model_id", allow_null=True)
    drift_threshold = FractionField()
    cash_reserve = FractionField()
    min_trade_amount = serializers.SerializerMethodField()
    fractional_shares = serializers.BooleanField()
    reinvest_dividends = serializers.BooleanField()
    rebalance_mode = serializers.CharField()
    rebalance_schedule = serializers.CharField()
    lot_relief_method = serializers.CharField()
    market_value = serializers.SerializerMethodField()
    cash = serializers.SerializerMethodField()
    max_drift = serializers.SerializerMethodField()

    def _money(self, amount: Decimal, account: InvestmentAccount) -> dict[str, str]:
        return money_dict(amount, account.base_currency)

    def get_min_trade_amount(self, account: InvestmentAccount) -> dict[str, str]:
        return self._money(account.min_trade_amount, account)

    def _figures(self, account: InvestmentAccount) -> ComputedFigures:
        return self.context["figures"][account.pk]  # type: ignore[no-any-return]

    def get_market_value(self, account: InvestmentAccount) -> dict[str, str]:
        """Securities plus cash: the account's total value."""
        return self._money(self._figures(account).total_value, account)

    def get_cash(self, account: InvestmentAccount) -> dict[str, str]:
        return self._money(self._figures(account).cash, account)

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_owners(self, account: InvestmentAccount) -> list[dict[str, Any]]:
        return [{"investor": o.investor_id, "name": o.investor.full_name, "role": o.role} for o in account.owners.all()]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_beneficiaries(self, account: InvestmentAccount) -> list[dict[str, Any]]:
        return [
            {"name": b.name, "relationship": b.relationship, "share_percent": str(b.share_percent), "kind": b.kind}
            for b in account.beneficiaries.all()
        ]

    def get_max_drift(self, account: InvestmentAccount) -> str | None:
        drift = self._figures(account).max_drift
        return None if drift is None else _DRIFT_OUT.to_representation(drift)


_DRIFT_OUT = FractionField(**WEIGHT_OUT)
_FRACTION_OUT = FractionField()


Parties = dict[int, list[dict[str, Any]]]


def _owners(account_ids: list[int]) -> QuerySet[AccountOwner, tuple[Any, ...]]:
    return (
        AccountOwner.objects.filter(account_id__in=account_ids)
        .order_by("account_id", "id")
        .values_list("account_id", "investor_id", "investor__first_name", "investor__last_name", "role")
    )


def _beneficiaries(account_ids: list[int]) -> QuerySet[Beneficiary, tuple[Any, ...]]:
    return (
        Beneficiary.objects.filter(account_id__in=account_ids)
        .order_by("account_id", "kind", "id")
        .values_list("account_id", "name", "relationship", "share_percent", "kind")
    )


#: The two reads, their SQL built once for each number of accounts.
_OWNERS = CompiledIdsRead(_owners)
_BENEFICIARIES = CompiledIdsRead(_beneficiaries)


def account_parties(account_ids: list[int]) -> tuple[Parties, Parties]:
    """The owners and beneficiaries of these accounts as the answer writes them (two queries,
    no model instances: a prefetch builds a queryset per account)."""
    owners: Parties = {pk: [] for pk in account_ids}
    beneficiaries: Parties = {pk: [] for pk in account_ids}
    for account_id, investor_id, first, last, role in _OWNERS.rows(account_ids):
        owners[account_id].append({"investor": investor_id, "name": f"{first} {last}".strip(), "role": role})
    for account_id, name, relationship, share, kind in _BENEFICIARIES.rows(account_ids):
        beneficiaries[account_id].append(
            {"name": name, "relationship": relationship, "share_percent": str(share), "kind": kind}
        )
    return owners, beneficiaries


def account_dict(
    account: InvestmentAccount | AccountRow, figures: dict[int, ComputedFigures], parties: tuple[Parties, Parties]
) -> dict[str, Any]:
    """What `AccountOutput` writes for an account (the same keys, in its order, and the same
    strings), built directly: a page of 50 accounts is the list's hot path, and DRF's per-field
    machinery was most of its time. `AccountOutput` stays the schema; a test keeps them equal."""
    f = figures[account.pk]
    currency = account.base_currency
    drift = f.max_drift
    return {
        "id": account.pk,
        "household": account.household_id,
        "name": account.name,
        "account_type": account.account_type,
        "custodian_account_number": account.custodian_account_number,
        "base_currency": currency,
        "status": account.status,
        "owners": parties[0][account.pk],
        "beneficiaries": parties[1][account.pk],
        "model": account.model_id,
        "drift_threshold": _FRACTION_OUT.to_representation(account.drift_threshold),
        "cash_reserve": _FRACTION_OUT.to_representation(account.cash_reserve),
        "min_trade_amount": money_dict(account.min_trade_amount, currency),
        "fractional_shares": account.fractional_shares,
        "reinvest_dividends": account.reinvest_dividends,
        "rebalance_mode": account.rebalance_mode,
        "rebalance_schedule": account.rebalance_schedule,
        "lot_relief_method": account.lot_relief_method,
        "market_value": money_dict(f.total_value, currency),
        "cash": money_dict(f.cash, currency),
        "max_drift": None if drift is None else _DRIFT_OUT.to_representation(drift),
    }


class AccountSettingsInput(InputSerializer):
    schema_min_properties = 1  # an empty PATCH is refused: nothing to change
    name = serializers.CharField(max_length=120, required=False)
    account_type = serializers.ChoiceField(choices=InvestmentAccount.AccountType.choices, required=False)
    model = serializers.IntegerField(allow_null=True, required=False, min_value=1, max_value=2**31 - 1)
    drift_threshold = FractionField(min_value=0, min_exclusive=True, required=False)
    cash_reserve = FractionField(max_value=Decimal("0.999999"), required=False)
    min_trade_amount = MoneyField(required=False)
    fractional_shares = serializers.BooleanField(required=False)
    reinvest_dividends = serializers.BooleanField(
        required=False, help_text="Cash dividends buy more of the paying security when they are paid."
    )
    rebalance_mode = serializers.ChoiceField(choices=InvestmentAccount.RebalanceMode.choices, required=False)
    rebalance_schedule = serializers.ChoiceField(choices=InvestmentAccount.RebalanceSchedule.choices, required=False)
    lot_relief_method = serializers.ChoiceField(
        choices=InvestmentAccount.LotReliefMethod.choices,
        required=False,
        help_text="Which tax lots a sale relieves when the order names none (default hifo: highest cost first).",
    )

    def validate_model(self, value: int | None) -> ModelPortfolio | None:
        if value is None:
            return None
        model = model_portfolio_list_for_user(user=self.context["user"], active_only=False).filter(pk=value).first()
        if model is None:
            raise serializers.ValidationError(f"No model with id {value} in your firm.")
        return model


class BeneficiaryInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    relationship = serializers.CharField(max_length=100)
    share_percent = DecimalStringField(
        max_places=2, min_value=0, min_exclusive=True, max_value=100, what="share"
    )  # 0.01 to 100
    kind = serializers.ChoiceField(choices=["primary", "contingent"], default="primary")


class AccountCreateInput(AccountSettingsInput):
    household = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    name = serializers.CharField(max_length=120)
    custodian_account_number = serializers.CharField(
        max_length=40,
        required=False,
        help_text="Only for an account already open at the custodian (a transfer, an import). Without it the "
        "account starts pending and the custodian gives the number once its owners clear KYC and AML.",
    )
    owners = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        required=False,
        max_length=10,
        help_text="Investor ids (household members). Default: the household's primary (and, for joint, joint) members.",
    )
    beneficiaries = serializers.ListField(child=BeneficiaryInput(), required=False, max_length=20)

    def validate_owners(self, value: list[int]) -> list[Any]:
        found = {i.pk: i for i in Investor.objects.filter(pk__in=value)}
        missing = [str(v) for v in value if v not in found]
        if missing:
            raise serializers.ValidationError(f"No investor with id {', '.join(missing)}.")
        return [found[v] for v in value]

    def validate_household(self, value: int) -> Household:
        household = household_list_for_user(user=self.context["user"]).filter(pk=value).first()
        if household is None:
            raise serializers.ValidationError(f"No household with id {value}.")
        return household


def _settings_of(validated: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in validated.items() if k in ACCOUNT_SETTINGS}
    if "min_trade_amount" in out:
        out["min_trade_amount"] = out["min_trade_amount"].amount
    return out


def _account_answer(request: Request, pk: int) -> dict[str, Any]:
    user = api_user(request)
    account = account_row_for_user(user=user, pk=pk)
    return account_dict(account, kept_figures([account]), account_parties([account.pk]))


@extend_schema(
    methods=["GET"],
    responses=paginated(AccountOutput),
    parameters=[id_parameter("household"), id_parameter("model"), OpenApiParameter("search", str)],
    operation_id="accounts_list",
)
@extend_schema(
    methods=["POST"],
    request=AccountCreateInput,
    responses={201: AccountOutput},
    operation_id="accounts_create",
    parameters=[
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            required=False,
            description="Optional here: with a key the account is created once per key (a retry replays the answer).",
        )
    ],
)
@api_view(["GET", "POST"])
@cached_read
@idempotent_when_keyed
def accounts(request: Request) -> Response:
    """The user's accounts (investors: their households'; advisors: their clients'), or a new one."""
    user = api_user(request)
    if request.method == "POST":
        data = AccountCreateInput(data=request.data, context={"user": user})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        _require_account_editor(user, v["household"])
        if v.get("min_trade_amount") is not None and str(v["min_trade_amount"].currency) != "USD":
            raise serializers.ValidationError({"min_trade_amount": ["The minimum trade must be in USD."]})
        account = account_create(
            household=v["household"],
            name=v["name"],
            custodian_account_number=v.get("custodian_account_number"),
            account_type=v.get("account_type", InvestmentAccount.AccountType.INDIVIDUAL),
            model=v.get("model"),
            owners=v.get("owners"),
            beneficiaries=[BeneficiarySpec(**b) for b in v.get("beneficiaries", [])],
            acting_user=user,
            **_settings_of(v),
        )
        return Response(_account_answer(request, account.pk), status=status.HTTP_201_CREATED)
    filters: dict[str, Any] = {"search": request.query_params.get("search", "")[:100]}
    for param, key in (("household", "household_id"), ("model", "model_id")):
        value = query_id(request, param)
        if value is not None:
            filters[key] = value
    paginator = Pagination()
    accounts = [
        AccountRow._make(row)
        for row in paginator.paginate_counted(
            lambda offset, limit: account_rows_page_for_user(user=user, offset=offset, limit=limit, **filters),
            lambda: account_row_values_for_user(user=user, **filters),
            request,
        )
    ]
    figures = row_figures(accounts)
    parties = account_parties([a.pk for a in accounts])
    return paginator.get_paginated_response([account_dict(a, figures, parties) for a in accounts])


@extend_schema(methods=["GET"], responses=AccountOutput, operation_id="accounts_retrieve")
@extend_schema(methods=["PATCH"], request=AccountSettingsInput, responses=AccountOutput, operation_id="accounts_update")
@api_view(["GET", "PATCH"])
@cached_read
def account_detail(request: Request, pk: int) -> Response:
    """One account; PATCH changes its name, type, model or rebalancing settings (its advisor only)."""
    user = api_user(request)
    account = account_row_for_user(user=user, pk=pk)
    if request.method == "PATCH":
        _require_account_editor(user, account.household)
        data = AccountSettingsInput(data=request.data, partial=True, context={"user": user})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if not v:
            raise serializers.ValidationError({"non_field_errors": ["Nothing to change."]})
        changes = _settings_of(v)
        changes.update({k: v[k] for k in ("name", "account_type") if k in v})
        if changes:
            account_update(account=account, acting_user=user, **changes)
        if "model" in v:
            model_assign(account=account, model=v["model"], acting_user=user)
    return Response(_account_answer(request, pk))


# --- Positions, transfers in, drift, performance ---------------------------------------------------


class PositionOutput(serializers.Serializer):
    symbol = serializers.CharField()
    quantity = QuantityField()
    price = DecimalStringField(allow_null=True)
    market_value = serializers.DictField()
    weight = FractionField(**WEIGHT_OUT)
    cost_basis = serializers.DictField()
    unrealised_gain = serializers.DictField()


@extend_schema(responses=PositionOutput(many=True), operation_id="accounts_positions")
@api_view(["GET"])
@cached_read
def positions(request: Request, pk: int) -> Response:
    """The account's holdings at the latest prices (a list; weights of the account's total value)."""
    currency, holdings = positions_for_user(user=api_user(request), pk=pk)  # no target weights
    return Response(position_dicts(holdings.positions, currency))


_QUANTITY_OUT = QuantityField()
_PRICE_OUT = DecimalStringField(allow_null=True)
_WEIGHT_OUT = FractionField(**WEIGHT_OUT)


def position_dicts(positions: tuple[PositionRow, ...], currency: str) -> list[dict[str, Any]]:
    """What `PositionOutput` writes for each position (the same keys, in its order, and the same
    strings), built directly as `account_dict` is; a test keeps them equal."""
    return [
        {
            "symbol": str(p.symbol),
            "quantity": _QUANTITY_OUT.to_representation(p.quantity),
            "price": None if p.price is None else _PRICE_OUT.to_representation(p.price),
            "market_value": money_dict(p.market_value, currency),
            "weight": _WEIGHT_OUT.to_representation(p.weight),
            "cost_basis": money_dict(p.cost_basis, currency),
            "unrealised_gain": money_dict(p.unrealised_gain, currency),
        }
        for p in positions
    ]
