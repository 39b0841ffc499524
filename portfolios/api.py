"""The portfolios API under /api/v1/: securities, prices, model portfolios, accounts,
positions, transfers in, drift and performance.

Contract (names fixed; fields may be added): weights, drift, thresholds and returns are
fractions of 1 as decimal strings ("0.6" is 60%); money is {"amount", "currency"};
quantities are decimal strings. Reads are scoped to the user (another's object is a 404);
writes need the token's `trade` scope (kronos.api.permissions) AND a role that may do them:
operations for securities and prices, the household's advisor (or the firm's operations)
for its accounts, advisors for their firm's models (a 403 otherwise).
"""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Household, Investor, User
from accounts.selectors import household_list_for_user
from kronos.api.fields import DecimalStringField, FractionField, InputSerializer, MoneyField, QuantityField, money_dict
from kronos.api.pagination import Pagination, paginated
from kronos.api.params import id_parameter, query_id
from kronos.api.permissions import api_user
from kronos.api.schema import IDEMPOTENCY_KEY
from kronos.idempotency import idempotent, idempotent_when_keyed, service_key
from kronos.ratelimit import money_moving
from kronos.readcache import cached_read
from portfolios import permissions, services
from portfolios.models import ACCOUNT_SETTINGS, AssetClass, InvestmentAccount, ModelPortfolio, Security
from portfolios.selectors import (
    AccountFigures,
    FigureInput,
    account_figures,
    account_get_for_user,
    account_list_for_user,
    account_positions,
    account_total,
    benchmark_symbol,
    drift_reports,
    model_portfolio_list_for_user,
    performance_between,
    security_list,
)

CASH_SYMBOL = "CASH"
#: Computed weights and drift are rounded to 6 places (the models' weight precision), returns
#: to 8, ROUND_HALF_EVEN: the API's one rounding place for them.
WEIGHT_OUT: dict[str, Any] = {"output_places": 6, "strip_zeros": True}
RETURN_OUT: dict[str, Any] = {"output_places": 8, "strip_zeros": True}


# --- Who may write ---------------------------------------------------------------------------------


def _require_operations(user: User) -> None:
    if not permissions.may_change_securities(user):
        raise PermissionDenied("Only operations staff may change securities and prices.")


def _require_model_author(user: User, model: ModelPortfolio | None = None) -> None:
    if not permissions.may_author_models(user):
        raise PermissionDenied("Only advisors may create or change model portfolios.")
    if model is not None and not permissions.may_change_model(user, model):
        raise PermissionDenied("Advisors may change only their own firm's models.")


def _require_account_editor(user: User, household: Household) -> None:
    if not permissions.may_edit_household_accounts(user, household):
        raise PermissionDenied("Only the household's advisor may change its accounts.")


# --- Securities ----------------------------------------------------------------------------------


class SecurityOutput(serializers.ModelSerializer):
    class Meta:
        model = Security
        fields = ["id", "symbol", "name", "asset_class", "currency", "is_active"]


class SecurityInput(InputSerializer):
    symbol = serializers.RegexField(
        r"^[A-Za-z0-9.\-]{1,20}$", error_messages={"invalid": "A symbol is 1 to 20 letters, digits, dots or dashes."}
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    asset_class = serializers.ChoiceField(choices=AssetClass.choices, default=AssetClass.US_EQUITY)
    currency = serializers.CharField(min_length=3, max_length=3, default="USD")

    def validate_currency(self, value: str) -> str:
        if value.upper() not in settings.CURRENCIES:
            raise serializers.ValidationError(f"Use one of {', '.join(settings.CURRENCIES)}.")
        return value.upper()


@extend_schema(
    methods=["GET"],
    responses=paginated(SecurityOutput),
    parameters=[OpenApiParameter("search", str)],
    operation_id="securities_list",
)
@extend_schema(
    methods=["POST"], request=SecurityInput, responses={201: SecurityOutput}, operation_id="securities_create"
)
@api_view(["GET", "POST"])
@cached_read
def securities(request: Request) -> Response:
    """List securities, or (operations) add one."""
    user = api_user(request)
    if request.method == "POST":
        _require_operations(user)
        data = SecurityInput(data=request.data)
        data.is_valid(raise_exception=True)
        security = services.security_create(acting_user=user, **data.validated_data)
        return Response(SecurityOutput(security).data, status=status.HTTP_201_CREATED)
    paginator = Pagination()
    page = paginator.paginate_queryset(security_list(search=request.query_params.get("search", "")[:50]), request)
    return paginator.get_paginated_response(SecurityOutput(page, many=True).data)


# --- Prices --------------------------------------------------------------------------------------


class PriceInput(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    date = serializers.DateField()
    close = DecimalStringField(max_places=6, min_value=0, min_exclusive=True, what="close")

    def validate_date(self, value: dt.date) -> dt.date:
        if value > timezone.localdate():
            raise serializers.ValidationError("The date cannot be in the future.")
        return value


class PricesInput(InputSerializer):
    prices = PriceInput(many=True, allow_empty=False, max_length=10000)  # type: ignore[call-arg]  # DRF >= 3.14

    def validate_prices(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        symbols = {row["symbol"].strip().upper() for row in rows}
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        # Keyed by row index, as DRF keys the rows' own field errors.
        errors = {
            str(i): {"symbol": [f"Unknown symbol: {row['symbol'].strip().upper()}."]}
            for i, row in enumerate(rows)
            if row["symbol"].strip().upper() not in known
        }
        if errors:
            raise serializers.ValidationError(errors)
        return rows


class PricesOutput(serializers.Serializer):
    stored = serializers.IntegerField()
    inserted = serializers.IntegerField()
    changed = serializers.IntegerField()


@extend_schema(request=PricesInput, responses={201: PricesOutput}, operation_id="prices_store")
@api_view(["POST"])
def prices(request: Request) -> Response:
    """Store closes (operations): all rows or none; the answer counts the rows stored."""
    user = api_user(request)
    _require_operations(user)
    data = PricesInput(data=request.data)
    data.is_valid(raise_exception=True)
    result = services.prices_store(rows=data.validated_data["prices"], source="api")
    return Response(
        {"stored": result.rows, "inserted": result.inserted, "changed": result.changed}, status=status.HTTP_201_CREATED
    )


# --- Model portfolios ------------------------------------------------------------------------------


class TargetField(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    weight = FractionField(min_value=0, min_exclusive=True)


class ModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    risk_level = serializers.IntegerField()
    cash_weight = FractionField(source="cash_target")
    targets = serializers.SerializerMethodField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()

    def get_targets(self, model: ModelPortfolio) -> list[dict[str, str]]:
        return [
            {"symbol": t.security.symbol, "weight": FractionField().to_representation(t.weight)}
            for t in model.targets.all()
        ]


class ModelInput(InputSerializer):
    name = serializers.CharField(max_length=120)
    risk_level = serializers.IntegerField(min_value=1, max_value=10)
    targets = TargetField(many=True, allow_empty=True)
    cash_weight = FractionField(required=False, default=Decimal(0))
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    is_active = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        symbols = [t["symbol"].strip().upper() for t in attrs["targets"]]
        if len(set(symbols)) != len(symbols):
            raise serializers.ValidationError({"targets": ["A symbol appears twice in the targets."]})
        total = sum((t["weight"] for t in attrs["targets"]), Decimal(0)) + attrs["cash_weight"]
        if total != 1:
            raise serializers.ValidationError(
                {"targets": [f"Target weights plus cash_weight sum to {total}; they must sum to exactly 1."]}
            )
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        unknown = sorted(set(symbols) - known)
        if unknown:
            raise serializers.ValidationError({"targets": [f"Unknown symbol: {', '.join(unknown)}."]})
        return attrs


def _model_for_user(user: User, pk: int) -> ModelPortfolio:
    return get_object_or_404(model_portfolio_list_for_user(user=user, active_only=False), pk=pk)


@extend_schema(methods=["GET"], responses=paginated(ModelOutput), operation_id="models_list")
@extend_schema(methods=["POST"], request=ModelInput, responses={201: ModelOutput}, operation_id="models_create")
@api_view(["GET", "POST"])
@cached_read
def models(request: Request) -> Response:
    """The firm's model portfolios, or (advisors) a new one."""
    user = api_user(request)
    if request.method == "POST":
        _require_model_author(user)
        firm = user.firm
        if firm is None:
            raise PermissionDenied("You belong to no firm.")
        data = ModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model = services.model_portfolio_create(
            firm=firm,
            name=v["name"],
            risk_level=v["risk_level"],
            targets=[(t["symbol"], t["weight"]) for t in v["targets"]],
            cash_target=v["cash_weight"],
            description=v["description"],
            is_active=v["is_active"],
            acting_user=user,
        )
        return Response(ModelOutput(_model_for_user(user, model.pk)).data, status=status.HTTP_201_CREATED)
    paginator = Pagination()
    page = paginator.paginate_queryset(model_portfolio_list_for_user(user=user, active_only=False), request)
    return paginator.get_paginated_response(ModelOutput(page, many=True).data)


@extend_schema(methods=["GET"], responses=ModelOutput, operation_id="models_retrieve")
@extend_schema(methods=["PUT"], request=ModelInput, responses=ModelOutput, operation_id="models_update")
@api_view(["GET", "PUT"])
@cached_read
def model_detail(request: Request, pk: int) -> Response:
    """One of the firm's models; PUT replaces its name, risk level and targets (every version is kept)."""
    user = api_user(request)
    model = _model_for_user(user, pk)
    if request.method == "PUT":
        _require_model_author(user, model)
        data = ModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.model_portfolio_update(
            model=model,
            acting_user=user,
            targets=[(t["symbol"], t["weight"]) for t in v["targets"]],
            cash_target=v["cash_weight"],
            name=v["name"],
            risk_level=v["risk_level"],
            description=v["description"],
            is_active=v["is_active"],
        )
        model = _model_for_user(user, pk)
    return Response(ModelOutput(model).data)


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
    market_value = serializers.SerializerMethodField()
    cash = serializers.SerializerMethodField()
    max_drift = serializers.SerializerMethodField()

    def _money(self, amount: Decimal, account: InvestmentAccount) -> dict[str, str]:
        return money_dict(amount, account.base_currency)

    def get_min_trade_amount(self, account: InvestmentAccount) -> dict[str, str]:
        return self._money(account.min_trade_amount, account)

    def get_market_value(self, account: InvestmentAccount) -> dict[str, str]:
        """Securities plus cash: the account's total value."""
        return self._money(account_total(account), account)

    def get_cash(self, account: InvestmentAccount) -> dict[str, str]:
        return self._money(account.cash, account)  # type: ignore[attr-defined]

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
        figures: AccountFigures | None = self.context.get("figures", {}).get(account.pk)
        if figures is None or figures.max_drift is None:
            return None
        return FractionField(**WEIGHT_OUT).to_representation(figures.max_drift)


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


def _figures(accounts: list[InvestmentAccount]) -> dict[int, AccountFigures]:
    """Max drift of the listed accounts: the book's four-query read, not the full engine snapshot."""
    return account_figures([FigureInput.of(a) for a in accounts])


def _account_answer(request: Request, pk: int) -> dict[str, Any]:
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    prefetch_related_objects([account], "owners__investor", "beneficiaries")
    return dict(AccountOutput(account, context={"figures": _figures([account])}).data)


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
        account = services.account_create(
            household=v["household"],
            name=v["name"],
            custodian_account_number=v.get("custodian_account_number"),
            account_type=v.get("account_type", InvestmentAccount.AccountType.INDIVIDUAL),
            model=v.get("model"),
            owners=v.get("owners"),
            beneficiaries=[services.BeneficiarySpec(**b) for b in v.get("beneficiaries", [])],
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
    page = paginator.paginate_queryset(account_list_for_user(user=user, **filters), request)
    prefetch_related_objects(page or [], "owners__investor", "beneficiaries")
    figures = _figures(page or [])
    return paginator.get_paginated_response(AccountOutput(page, many=True, context={"figures": figures}).data)


@extend_schema(methods=["GET"], responses=AccountOutput, operation_id="accounts_retrieve")
@extend_schema(methods=["PATCH"], request=AccountSettingsInput, responses=AccountOutput, operation_id="accounts_update")
@api_view(["GET", "PATCH"])
@cached_read
def account_detail(request: Request, pk: int) -> Response:
    """One account; PATCH changes its name, type, model or rebalancing settings (its advisor only)."""
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
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
            services.account_update(account=account, acting_user=user, **changes)
        if "model" in v:
            services.model_assign(account=account, model=v["model"], acting_user=user)
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
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    holdings = account_positions(account)
    currency = account.base_currency
    rows = [
        {
            "symbol": p.symbol,
            "quantity": p.quantity,
            "price": p.price,
            "market_value": money_dict(p.market_value, currency),
            "weight": p.weight,
            "cost_basis": money_dict(p.cost_basis, currency),
            "unrealised_gain": money_dict(p.unrealised_gain, currency),
        }
        for p in holdings.positions
    ]
    return Response(PositionOutput(rows, many=True).data)


class TransferPositionInput(InputSerializer):
    symbol = serializers.CharField(max_length=20)
    quantity = QuantityField()
    cost_basis = MoneyField()
    acquired_on = serializers.DateField(required=False)

    def validate_acquired_on(self, value: date) -> date:
        if value > timezone.localdate():
            raise serializers.ValidationError("The date cannot be in the future.")
        return value


class TransferInInput(InputSerializer):
    schema_min_properties = 1  # nothing to transfer is refused
    positions = TransferPositionInput(many=True, required=False, default=list, min_length=1, max_length=1000)  # type: ignore[call-arg]
    cash = MoneyField(required=False, allow_zero=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("positions") and attrs.get("cash") is None:
            raise serializers.ValidationError({"non_field_errors": ["Nothing to transfer: give positions or cash."]})
        symbols = {p["symbol"].strip().upper() for p in attrs.get("positions", [])}
        known = set(Security.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
        errors = {
            str(i): {"symbol": [f"Unknown symbol: {p['symbol'].strip().upper()}."]}
            for i, p in enumerate(attrs.get("positions", []))
            if p["symbol"].strip().upper() not in known
        }
        if errors:
            raise serializers.ValidationError({"positions": errors})
        return attrs


class TransferInOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField()
    effective_date = serializers.DateField()
    positions = serializers.ListField()
    cash = serializers.DictField(allow_null=True)


@extend_schema(
    request=TransferInInput,
    responses={201: TransferInOutput},
    parameters=[IDEMPOTENCY_KEY],
    operation_id="accounts_transfers_in",
)
@api_view(["POST"])
@money_moving
@idempotent
def transfers_in(request: Request, pk: int) -> Response:
    """Bring positions (with their cost basis) and cash in from another custodian. Needs an Idempotency-Key."""
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    _require_account_editor(user, account.household)
    data = TransferInInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    currency = account.base_currency
    for i, p in enumerate(v["positions"]):
        if str(p["cost_basis"].currency) != currency:
            raise serializers.ValidationError(
                {"positions": {str(i): {"cost_basis": [f"Give the cost in {currency}."]}}}
            )
    if v.get("cash") is not None and str(v["cash"].currency) != currency:
        raise serializers.ValidationError({"cash": [f"The account holds {currency}: send cash in {currency}."]})
    entry = services.transfer_in(
        account=account,
        acting_user=user,
        idempotency_key=service_key(request, "api-transfer-in"),
        positions=[
            {
                "symbol": p["symbol"].strip().upper(),
                "quantity": p["quantity"],
                "cost_basis": p["cost_basis"].amount,
                **({"acquired_on": p["acquired_on"]} if p.get("acquired_on") else {}),
            }
            for p in v["positions"]
        ],
        cash=v["cash"].amount if v.get("cash") is not None else None,
    )
    body = {
        "id": entry.pk,
        "account": account.pk,
        "effective_date": entry.effective_date,
        "positions": [
            {
                "symbol": p["symbol"].strip().upper(),
                "quantity": QuantityField().to_representation(p["quantity"]),
                "cost_basis": money_dict(p["cost_basis"].amount, currency),
                "acquired_on": (p.get("acquired_on") or entry.effective_date).isoformat(),
            }
            for p in v["positions"]
        ],
        "cash": money_dict(v["cash"].amount, currency) if v.get("cash") is not None else None,
    }
    return Response(TransferInOutput(body).data, status=status.HTTP_201_CREATED)


class DriftRowOutput(serializers.Serializer):
    symbol = serializers.CharField()
    target_weight = FractionField(**WEIGHT_OUT)
    actual_weight = FractionField(**WEIGHT_OUT)
    drift = DecimalStringField(**WEIGHT_OUT)
    band = FractionField(**WEIGHT_OUT)
    breached = serializers.BooleanField()


class DriftOutput(serializers.Serializer):
    max_drift = DecimalStringField(allow_null=True, **WEIGHT_OUT)
    threshold = FractionField()
    needs_rebalance = serializers.BooleanField()
    reason = serializers.CharField()
    holdings = DriftRowOutput(many=True)


@extend_schema(responses=DriftOutput, operation_id="accounts_drift")
@api_view(["GET"])
@cached_read
def drift(request: Request, pk: int) -> Response:
    """Actual against target weight per holding (cash as the symbol CASH), and whether to rebalance."""
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    report = drift_reports([account]).get(account.pk)
    if report is None:
        body = {
            "max_drift": None,
            "threshold": account.drift_threshold,
            "needs_rebalance": False,
            "reason": "No model is assigned.",
            "holdings": [],
        }
    else:
        body = {
            "max_drift": report.report.max_drift,
            "threshold": report.threshold,
            "needs_rebalance": report.decision.rebalance,
            "reason": report.decision.reason,
            "holdings": [
                {
                    "symbol": row.symbol,
                    "target_weight": row.target_weight,
                    "actual_weight": row.actual_weight,
                    "drift": row.drift,
                    "band": row.band,
                    "breached": row.breached,
                }
                for row in report.report.rows
            ],
        }
    return Response(DriftOutput(body).data)


class PerformanceQuery(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = timezone.localdate()
        end = attrs.get("end") or today
        start = attrs.get("start") or end - timedelta(days=365)
        if end > today:
            raise serializers.ValidationError({"end": ["The end cannot be in the future."]})
        if start >= end:
            raise serializers.ValidationError({"start": ["The start must be before the end."]})
        return {"start": start, "end": end}


class PerformancePointOutput(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.DictField()
    twr = DecimalStringField(**RETURN_OUT)


class PerformanceOutput(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    annualized_twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    benchmark = serializers.CharField()
    benchmark_twr = DecimalStringField(allow_null=True, **RETURN_OUT)
    series = PerformancePointOutput(many=True)


@extend_schema(
    responses=PerformanceOutput,
    parameters=[
        OpenApiParameter(
            "start", OpenApiTypes.DATE, description="YYYY-MM-DD, before `end` (default: a year before it)."
        ),
        OpenApiParameter("end", OpenApiTypes.DATE, description="YYYY-MM-DD, not in the future (default: today)."),
    ],
    operation_id="accounts_performance",
)
@api_view(["GET"])
@cached_read
def account_performance(request: Request, pk: int) -> Response:
    """Time-weighted return over [start, end] (default: the last year), the benchmark's, and the daily series.

    Returns are fractions of 1 (unrounded decimal strings); `annualized_twr` only for periods over a year.
    """
    user = api_user(request)
    account = account_get_for_user(user=user, pk=pk)
    query = PerformanceQuery(data=request.query_params.dict())  # "start=" is a bad date, not no date
    query.is_valid(raise_exception=True)

    result = performance_between(account, start=query.validated_data["start"], end=query.validated_data["end"])
    body = {
        "start": result.start,
        "end": result.end,
        "twr": result.twr,
        "annualized_twr": result.annualized_twr,
        "benchmark": benchmark_symbol(),
        "benchmark_twr": result.benchmark_twr,
        "series": [
            {"date": d, "value": money_dict(value, account.base_currency), "twr": cumulative}
            for d, value, cumulative in result.series
        ],
    }
    return Response(PerformanceOutput(body).data)
