"""Writes to securities, prices, model portfolios, investment accounts, lots and valuations.

Each service validates its input first, runs in one `transaction.atomic()`, records the
acting user on the history rows and raises `PortfoliosError` (with the field) on bad input.
Cash and securities move only through `portfolios.ledger.post_entry`.

Rounding, named here: closes are stored to 6 places (ROUND_HALF_EVEN at import), cost per
share to 6 places, realised proceeds/cost/gain and valuations to cents (ROUND_HALF_EVEN).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.events import event_emit
from accounts.models import Firm, Household
from accounts.selectors import household_may_edit
from kronos.history import attribute, save_attributed
from portfolios import ledger
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.errors import PortfoliosError
from portfolios.ledger import PostingSpec
from portfolios.models import (
    CASH_PLACES,
    PRICE_PLACES,
    ZERO,
    AccountOwner,
    AssetClass,
    Beneficiary,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    LotClosure,
    ModelPortfolio,
    ModelTarget,
    Price,
    Security,
    TaxLot,
    ValuationSnapshot,
)

CENT = Decimal("0.01")
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
COST_QUANTUM = Decimal("0.000001")
HUNDRED = Decimal(100)


def to_cents(value: Decimal) -> Decimal:
    """Cash amounts: 2 places, ROUND_HALF_EVEN."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _decimal(value: Any, *, field: str, what: str) -> Decimal:
    if isinstance(value, float):
        raise PortfoliosError(f"{what} must be given as a decimal, not a float.", field=field)
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise PortfoliosError(f"{what} is not a number: '{value}'.", field=field) from exc
    if not result.is_finite():
        raise PortfoliosError(f"{what} is not a number: '{value}'.", field=field)
    return result


def _may_act_for(user: Any, household: Household) -> bool:
    return bool(getattr(user, "is_system", False)) or household_may_edit(user=user, household=household)


# --- Securities and prices ----------------------------------------------------------------------


@transaction.atomic
def security_create(
    *,
    symbol: str,
    acting_user: Any,
    name: str = "",
    asset_class: str = AssetClass.US_EQUITY,
    currency: str = "USD",
    is_active: bool = True,
) -> Security:
    """Create a security; the symbol is stored upper-case and must be new."""
    symbol = (symbol or "").strip().upper()
    if not symbol:
        raise PortfoliosError("A symbol is required.", field="symbol")
    if Security.objects.filter(symbol=symbol).exists():
        raise PortfoliosError(f"The security {symbol} already exists.", field="symbol", status_code=409)
    if asset_class not in AssetClass.values:
        raise PortfoliosError(f"'{asset_class}' is not an asset class.", field="asset_class")
    security = Security(
        symbol=symbol, name=name.strip(), asset_class=asset_class, currency=currency.upper(), is_active=is_active
    )
    try:
        return save_attributed(security, acting_user=acting_user, reason="security created")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


SECURITY_EDITABLE_FIELDS = frozenset({"name", "asset_class", "currency", "is_active"})


@transaction.atomic
def security_update(*, security: Security, acting_user: Any, **changes: Any) -> Security:
    """Change a security's name, asset class, currency or active flag (the symbol is its identity)."""
    unknown = set(changes) - SECURITY_EDITABLE_FIELDS
    if unknown:
        raise PortfoliosError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    security = Security.objects.select_for_update().get(pk=security.pk)
    for field, value in changes.items():
        setattr(security, field, value)
    if "asset_class" in changes and security.asset_class not in AssetClass.values:
        raise PortfoliosError(f"'{security.asset_class}' is not an asset class.", field="asset_class")
    try:
        return save_attributed(security, acting_user=acting_user, reason="security updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


@dataclass(frozen=True, slots=True)
class PriceRow:
    symbol: str
    date: date
    close: Decimal


@dataclass(frozen=True, slots=True)
class PriceStoreResult:
    rows: int  # rows given
    inserted: int  # new (security, date) rows
    changed: int  # existing rows whose close changed

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.changed


def price_validate(*, symbol: str, day: Any, close: Any, today: date | None = None) -> tuple[str, date, Decimal]:
    """One price's symbol, date and close, validated; the close rounded to 6 places (ROUND_HALF_EVEN)."""
    symbol = (symbol or "").strip().upper()
    if not symbol:
        raise PortfoliosError("The symbol is missing.", field="symbol")
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(day).strip())
        except ValueError as exc:
            raise PortfoliosError(f"'{day}' is not a date (YYYY-MM-DD).", field="date") from exc
    if day > (today or timezone.localdate()):
        raise PortfoliosError(f"The date {day} is in the future.", field="date")
    try:
        value = _decimal(close, field="close", what=f"The close for {symbol}")
    except PortfoliosError as exc:
        raise PortfoliosError(f"The close for {symbol} is not a positive number: '{close}'.", field="close") from exc
    if value <= 0:
        raise PortfoliosError(f"The close for {symbol} is not a positive number: '{close}'.", field="close")
    return symbol, day, value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def prices_store(
    *, rows: Iterable[PriceRow | Mapping[str, Any]], source: str = "manual", create_securities: bool = False
) -> PriceStoreResult:
    """Store closes all-or-nothing: every row is validated (close > 0, date not in the future,
    known symbol unless `create_securities`) before any is written; a day's existing close is
    replaced only when it differs, so storing the same rows twice changes nothing.

    Prices are market data without a history table, so no acting user is needed.
    """
    today = timezone.localdate()
    cleaned: dict[tuple[str, date], Decimal] = {}
    for row in rows:
        if isinstance(row, Mapping):
            symbol, day, close = row.get("symbol", ""), row.get("date"), row.get("close")
        else:
            symbol, day, close = row.symbol, row.date, row.close
        key_symbol, key_day, value = price_validate(symbol=symbol, day=day, close=close, today=today)
        cleaned[(key_symbol, key_day)] = value
    with transaction.atomic():
        ids = security_ids_for(symbols={s for s, _ in cleaned}, create=create_securities)
        result = prices_upsert([(ids[s], d, c) for (s, d), c in cleaned.items()], source=source)
    return result


def security_ids_for(*, symbols: Iterable[str], create: bool = False) -> dict[str, int]:
    """Symbol -> security id; unknown symbols are refused, or created (as 'other') when `create`."""
    wanted = set(symbols)
    ids = dict(Security.objects.filter(symbol__in=wanted).values_list("symbol", "pk"))
    missing = sorted(wanted - set(ids))
    if missing and not create:
        raise PortfoliosError(f"Unknown symbol: {', '.join(missing)}.", field="symbol")
    if missing:
        from accounts.services import system_user

        bulk_create_with_history(
            [Security(symbol=s, name=s, asset_class=AssetClass.OTHER) for s in missing],
            Security,
            default_user=system_user(),
            default_change_reason="created by a price import",
        )
        ids.update(Security.objects.filter(symbol__in=missing).values_list("symbol", "pk"))
    return ids


def prices_upsert(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    """Insert or replace (security_id, date, close) rows already validated; returns what changed.

    On PostgreSQL: COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE
    that only touches rows whose close differs. Elsewhere: read the existing rows and
    bulk-create/-update in batches.
    """
    if not rows:
        return PriceStoreResult(rows=0, inserted=0, changed=0)
    if connection.vendor == "postgresql":
        return _prices_upsert_postgresql(rows, source=source)
    return _prices_upsert_portable(rows, source=source)


# A replaced close changes the row (and counts as changed); an identical one changes nothing.
_PRICE_UPSERT_SQL = """
    INSERT INTO portfolios_price (security_id, date, close, source, updated_at)
    SELECT security_id, date, close, %s, now() FROM portfolios_price_load
    ON CONFLICT (security_id, date) DO UPDATE
       SET close = EXCLUDED.close, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
     WHERE portfolios_price.close IS DISTINCT FROM EXCLUDED.close
    RETURNING (xmax = 0)
"""


def _prices_upsert_postgresql(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    assert Price._meta.db_table == "portfolios_price"  # the statement above names it
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS portfolios_price_load "
            "(security_id bigint, date date, close numeric(20, 6)) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE portfolios_price_load")
        with cursor.cursor.copy("COPY portfolios_price_load (security_id, date, close) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_PRICE_UPSERT_SQL, [source])
        outcomes = [inserted for (inserted,) in cursor.fetchall()]
    inserted = sum(1 for o in outcomes if o)
    return PriceStoreResult(rows=len(rows), inserted=inserted, changed=len(outcomes) - inserted)


def _prices_upsert_portable(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    inserted = changed = 0
    batch = 2000
    with transaction.atomic():
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            securities = {r[0] for r in chunk}
            dates = {r[1] for r in chunk}
            existing = {
                (p.security_id, p.date): p
                for p in Price.objects.filter(security_id__in=securities, date__in=dates).only(
                    "id", "security_id", "date", "close"
                )
            }
            new, updated = [], []
            for security_id, day, close in chunk:
                found = existing.get((security_id, day))
                if found is None:
                    new.append(Price(security_id=security_id, date=day, close=close, source=source))
                elif found.close != close:
                    found.close, found.source, found.updated_at = close, source, timezone.now()
                    updated.append(found)
            Price.objects.bulk_create(new)
            Price.objects.bulk_update(updated, ["close", "source", "updated_at"])
            inserted += len(new)
            changed += len(updated)
    return PriceStoreResult(rows=len(rows), inserted=inserted, changed=changed)


def prices_ingest(*, as_of: date, symbols: Iterable[str] | None = None, start: date | None = None) -> PriceStoreResult:
    """Pull the closes from `start` (default: `as_of`) to `as_of` from the configured market-data
    adapter for `symbols` (default: every active security) and store them with `prices_store`."""
    from portfolios.adapters.market_data import get_provider

    if symbols is None:
        symbols = list(Security.objects.filter(is_active=True).values_list("symbol", flat=True))
    symbols = sorted({s.upper() for s in symbols})
    if not symbols:
        return PriceStoreResult(rows=0, inserted=0, changed=0)
    provider = get_provider()
    closes = provider.daily_closes(symbols, start or as_of, as_of)
    rows = [PriceRow(symbol=s, date=d, close=c) for s, series in closes.items() for d, c in series]
    return prices_store(rows=rows, source=provider.name)


# --- Model portfolios ---------------------------------------------------------------------------


def _clean_targets(
    targets: Mapping[str, Any] | Iterable[tuple[str, Any]], cash_target: Decimal
) -> tuple[dict[int, Decimal], Decimal]:
    items = list(targets.items()) if isinstance(targets, Mapping) else list(targets)
    cash = _decimal(cash_target, field="cash_target", what="The cash target")
    if cash < 0 or cash > 1:
        raise PortfoliosError("The cash target must be between 0% and 100%.", field="cash_target")
    weights: dict[str, Decimal] = {}
    for symbol, weight in items:
        symbol = str(symbol).strip().upper()
        value = _decimal(weight, field="targets", what=f"The weight of {symbol}")
        if value <= 0 or value > 1:
            raise PortfoliosError(f"The weight of {symbol} must be above 0% and at most 100%.", field="targets")
        if symbol in weights:
            raise PortfoliosError(f"{symbol} appears twice in the targets.", field="targets")
        weights[symbol] = value
    if not weights and cash != 1:
        raise PortfoliosError("A model needs at least one target.", field="targets")
    total = sum(weights.values(), ZERO) + cash
    if total != 1:
        shown = (total * HUNDRED).quantize(CENT, rounding=ROUND_HALF_EVEN)
        raise PortfoliosError(
            f"Target weights sum to {shown}%; they must sum to exactly 100%.", field="targets", code="weights_sum"
        )
    ids = dict(Security.objects.filter(symbol__in=weights).values_list("symbol", "pk"))
    unknown = sorted(set(weights) - set(ids))
    if unknown:
        raise PortfoliosError(f"Unknown symbol: {', '.join(unknown)}.", field="targets")
    return {ids[s]: w for s, w in weights.items()}, cash


def _replace_targets(model: ModelPortfolio, weights: dict[int, Decimal], *, acting_user: Any, reason: str) -> None:
    existing = {t.security_id: t for t in ModelTarget.objects.filter(model=model)}
    for security_id, target in existing.items():
        if security_id not in weights:
            attribute(target, acting_user=acting_user, reason=reason)
            target.delete()
    changed = []
    for security_id, weight in weights.items():
        kept = existing.get(security_id)
        if kept is not None and kept.weight != weight:
            kept.weight = weight
            changed.append(kept)
    if changed:
        bulk_update_with_history(
            changed, ModelTarget, ["weight"], default_user=acting_user, default_change_reason=reason
        )
    new = [ModelTarget(model=model, security_id=s, weight=w) for s, w in weights.items() if s not in existing]
    if new:
        bulk_create_with_history(new, ModelTarget, default_user=acting_user, default_change_reason=reason)


@transaction.atomic
def model_portfolio_create(
    *,
    firm: Firm,
    name: str,
    risk_level: int,
    targets: Mapping[str, Any] | Iterable[tuple[str, Any]],
    acting_user: Any,
    cash_target: Decimal = ZERO,
    description: str = "",
    is_active: bool = True,
) -> ModelPortfolio:
    """Create a model with its targets: weights (fractions of 1) plus the cash target sum to exactly 1."""
    weights, cash = _clean_targets(targets, cash_target)
    if not 1 <= int(risk_level) <= 10:
        raise PortfoliosError("The risk level must be from 1 to 10.", field="risk_level")
    if ModelPortfolio.objects.filter(firm=firm, name=name.strip()).exists():
        raise PortfoliosError("A model with this name already exists in the firm.", field="name", status_code=409)
    model = ModelPortfolio(
        firm=firm,
        name=name.strip(),
        risk_level=int(risk_level),
        cash_target=cash,
        description=description,
        is_active=is_active,
    )
    try:
        save_attributed(model, acting_user=acting_user, reason="model created")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    _replace_targets(model, weights, acting_user=acting_user, reason="model created")
    return model


MODEL_EDITABLE_FIELDS = frozenset({"name", "risk_level", "description", "is_active"})


@transaction.atomic
def model_portfolio_update(
    *,
    model: ModelPortfolio,
    acting_user: Any,
    targets: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    cash_target: Decimal | None = None,
    **changes: Any,
) -> ModelPortfolio:
    """Change a model; `targets` (with `cash_target`) replace the old ones and must sum to 100%.

    Every version of the model and its targets stays in their history tables.
    """
    unknown = set(changes) - MODEL_EDITABLE_FIELDS
    if unknown:
        raise PortfoliosError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    model = ModelPortfolio.objects.select_for_update().get(pk=model.pk)
    if targets is not None or cash_target is not None:
        if targets is None:
            targets = [(t.security.symbol, t.weight) for t in model.targets.select_related("security")]
        weights, cash = _clean_targets(targets, model.cash_target if cash_target is None else cash_target)
        model.cash_target = cash
        _replace_targets(model, weights, acting_user=acting_user, reason="model targets changed")
    if "risk_level" in changes and not 1 <= int(changes["risk_level"]) <= 10:
        raise PortfoliosError("The risk level must be from 1 to 10.", field="risk_level")
    for field, value in changes.items():
        setattr(model, field, value.strip() if field == "name" else value)
    try:
        return save_attributed(model, acting_user=acting_user, reason="model updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


# --- Investment accounts ------------------------------------------------------------------------

ACCOUNT_SETTINGS = frozenset(
    {
        "drift_threshold",
        "band_mode",
        "relative_band",
        "cash_reserve",
        "min_trade_amount",
        "fractional_shares",
        "rebalance_mode",
        "reinvest_dividends",
        "rebalance_schedule",
    }
)
ACCOUNT_EDITABLE_FIELDS = ACCOUNT_SETTINGS | {"name", "account_type", "status"}


def _validate_settings(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "drift_threshold" in values:
        v = out["drift_threshold"] = _decimal(values["drift_threshold"], field="drift_threshold", what="The threshold")
        if not 0 < v <= 1:
            raise PortfoliosError("The drift threshold must be above 0% and at most 100%.", field="drift_threshold")
    if "relative_band" in values:
        v = out["relative_band"] = _decimal(values["relative_band"], field="relative_band", what="The relative band")
        if not 0 < v <= 1:
            raise PortfoliosError("The relative band must be above 0% and at most 100%.", field="relative_band")
    if "cash_reserve" in values:
        v = out["cash_reserve"] = _decimal(values["cash_reserve"], field="cash_reserve", what="The cash reserve")
        if not 0 <= v < 1:
            raise PortfoliosError("The cash reserve must be at least 0% and below 100%.", field="cash_reserve")
    if "min_trade_amount" in values:
        amount = values["min_trade_amount"]
        amount = getattr(amount, "amount", amount)  # a Money is accepted in the base currency
        v = out["min_trade_amount"] = _decimal(amount, field="min_trade_amount", what="The minimum trade")
        if v < 0:
            raise PortfoliosError("The minimum trade cannot be negative.", field="min_trade_amount")
    if "band_mode" in values and values["band_mode"] not in InvestmentAccount.BandMode.values:
        raise PortfoliosError(f"'{values['band_mode']}' is not a band mode.", field="band_mode")
    if "reinvest_dividends" in values and not isinstance(values["reinvest_dividends"], bool):
        raise PortfoliosError("Reinvesting dividends is yes or no (true or false).", field="reinvest_dividends")
    if "rebalance_mode" in values and values["rebalance_mode"] not in InvestmentAccount.RebalanceMode.values:
        raise PortfoliosError(f"'{values['rebalance_mode']}' is not a rebalance mode.", field="rebalance_mode")
    schedules = InvestmentAccount.RebalanceSchedule.values
    if "rebalance_schedule" in values and values["rebalance_schedule"] not in schedules:
        raise PortfoliosError(
            f"'{values['rebalance_schedule']}' is not a rebalance schedule.", field="rebalance_schedule"
        )
    return out


@dataclass(frozen=True)
class BeneficiarySpec:
    name: str
    relationship: str
    share_percent: Decimal
    kind: str = "primary"


def _business_date(household: Household) -> date:
    from accounts.services import firm_today

    return firm_today(household.firm)


def _ownership_errors(
    *, household: Household, account_type: str, owners: Sequence[Any], beneficiaries: Sequence[BeneficiarySpec]
) -> tuple[dict[str, list[str]], list[tuple[Any, str]]]:
    """The rules of each account type (field errors), and each owner's role.

    individual, IRAs: exactly one owner, an adult for an individual account (a minor's
    account is a UTMA/UGMA); joint: two or more adult owners; UTMA/UGMA: one adult custodian
    and one minor; trust: one or more trustees; entity: one or more authorized signers.
    Every owner must be a member of the household. An IRA names primary beneficiaries whose
    shares sum to exactly 100 (contingent ones, if any, also to 100)."""
    errors: dict[str, list[str]] = {}
    roles: list[tuple[Any, str]] = []
    today = _business_date(household)
    T = InvestmentAccount.AccountType
    from accounts.identification import is_minor

    members = set(household.members.values_list("investor_id", flat=True))
    strangers = [o for o in owners if o.pk not in members]
    if strangers:
        errors["owners"] = [
            f"Investor {', '.join(str(o.pk) for o in strangers)} is not a member of this household: add them first."
        ]
        return errors, roles
    if len({o.pk for o in owners}) != len(owners):
        errors["owners"] = ["An investor is listed twice."]
        return errors, roles
    minors = [o for o in owners if is_minor(o.date_of_birth, today)]
    adults = [o for o in owners if o not in minors]
    n = len(owners)
    if account_type == T.JOINT:
        if n < 2:
            errors["owners"] = ["A joint account needs at least two owners."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18: a joint owner must be an adult."]
        roles = [(o, "owner") for o in owners]
    elif account_type in InvestmentAccount.CUSTODIAL_TYPES:
        if n != 2 or len(minors) != 1:
            errors["owners"] = ["A UTMA/UGMA account has two owners: an adult custodian and the minor it is for."]
        else:
            roles = [(adults[0], "custodian"), (minors[0], "minor")]
    elif account_type == T.TRUST:
        if n < 1:
            errors["owners"] = ["A trust account needs at least one trustee."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18 and cannot be a trustee."]
        roles = [(o, "trustee") for o in owners]
    elif account_type == T.ENTITY:
        if n < 1:
            errors["owners"] = ["An entity account needs at least one authorized signer."]
        elif minors:
            errors["owners"] = [f"{minors[0].full_name} is under 18 and cannot sign for an entity."]
        roles = [(o, "signer") for o in owners]
    else:  # individual and the IRAs
        label = InvestmentAccount.AccountType(account_type).label
        if n != 1:
            errors["owners"] = [
                f"An {label} account has exactly one owner."
                if label[0] in "AEIOU"
                else f"A {label} account has exactly one owner."
            ]
        elif account_type == T.INDIVIDUAL and minors:
            errors["owners"] = [
                f"{minors[0].full_name} is under 18 on {today:%Y-%m-%d} and cannot be the sole owner of an "
                "individual account: open a UTMA or UGMA account with an adult custodian."
            ]
        roles = [(o, "owner") for o in owners]
    if account_type in InvestmentAccount.IRA_TYPES:
        primaries = [b for b in beneficiaries if b.kind == Beneficiary.Kind.PRIMARY]
        contingents = [b for b in beneficiaries if b.kind == Beneficiary.Kind.CONTINGENT]
        if not primaries:
            errors["beneficiaries"] = ["An IRA needs at least one primary beneficiary."]
        elif sum((b.share_percent for b in primaries), Decimal(0)) != 100:
            errors["beneficiaries"] = ["The primary beneficiaries' shares must add up to exactly 100%."]
        elif contingents and sum((b.share_percent for b in contingents), Decimal(0)) != 100:
            errors["beneficiaries"] = ["The contingent beneficiaries' shares must add up to exactly 100%."]
    for b in beneficiaries:
        if not b.name.strip() or not b.relationship.strip():
            errors.setdefault("beneficiaries", []).append("Each beneficiary needs a name and a relationship.")
            break
        if not (0 < b.share_percent <= 100) or b.share_percent != b.share_percent.quantize(Decimal("0.01")):
            errors.setdefault("beneficiaries", []).append(
                "Each share is a percent above 0 and at most 100, to 2 places."
            )
            break
        if b.kind not in Beneficiary.Kind.values:
            errors.setdefault("beneficiaries", []).append("A beneficiary is primary or contingent.")
            break
    return errors, roles


@transaction.atomic
def account_create(
    *,
    household: Household,
    name: str,
    acting_user: Any,
    custodian_account_number: str | None = None,
    account_type: str = InvestmentAccount.AccountType.INDIVIDUAL,
    base_currency: str = "USD",
    model: ModelPortfolio | None = None,
    opened_on: date | None = None,
    owners: Sequence[Any] | None = None,
    beneficiaries: Sequence[BeneficiarySpec] = (),
    **account_settings: Any,
) -> InvestmentAccount:
    """Open an account for a household. The acting user must be the household's advisor, its
    firm's operations staff or a system user; settings are validated (threshold in (0, 1],
    reserve in [0, 1), minimum trade >= 0); a model goes through `model_assign`'s checks.

    Without a custodian account number the account is opened *through Kronos*: it starts
    `pending` and the custodian gives the number (`account_custodian_opened`); the account
    type's ownership and beneficiary rules (`_ownership_errors`) are enforced, with the
    household's primary and joint members as the owners when none are named. With a number
    the account already exists at the custodian (a transfer, an import) and is recorded as
    it is, owners and beneficiaries validated only when given."""
    unknown = set(account_settings) - ACCOUNT_SETTINGS
    if unknown:
        raise PortfoliosError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    if not _may_act_for(acting_user, household):
        raise PortfoliosError("You may not open accounts for this household.", field="household", code="forbidden")
    if account_type not in InvestmentAccount.AccountType.values:
        raise PortfoliosError(f"'{account_type}' is not an account type.", field="account_type")
    number = (custodian_account_number or "").strip() or None
    if number is not None and InvestmentAccount.objects.filter(custodian_account_number=number).exists():
        raise PortfoliosError(
            f"The custodian account number {number} is already used.", field="custodian_account_number", status_code=409
        )
    if not (name or "").strip():
        raise PortfoliosError("The account needs a name.", field="name")
    roles: list[tuple[Any, str]] = []
    if number is None or owners is not None or beneficiaries:
        if owners is None:
            from accounts.models import HouseholdMember

            owners = [
                m.investor
                for m in household.members.filter(
                    relationship__in=[HouseholdMember.Relationship.PRIMARY, HouseholdMember.Relationship.JOINT]
                )
                .select_related("investor")
                .order_by("id")
            ]
            if account_type == InvestmentAccount.AccountType.INDIVIDUAL or account_type in InvestmentAccount.IRA_TYPES:
                owners = owners[:1]
        errors, roles = _ownership_errors(
            household=household, account_type=account_type, owners=list(owners), beneficiaries=list(beneficiaries)
        )
        if errors:
            field = next(iter(errors))
            raise PortfoliosError(errors[field][0], field=field, errors=errors)
    cleaned = _validate_settings(account_settings)
    account = InvestmentAccount(
        household=household,
        name=name.strip(),
        account_type=account_type,
        custodian_account_number=number,
        status=InvestmentAccount.Status.OPEN if number else InvestmentAccount.Status.PENDING,
        base_currency=base_currency.upper(),
        opened_on=opened_on or timezone.localdate(),
        **cleaned,
    )
    try:
        save_attributed(account, acting_user=acting_user, reason="account opened" if number else "account requested")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    for investor, role in roles:
        save_attributed(
            AccountOwner(account=account, investor=investor, role=role), acting_user=acting_user, reason="owner added"
        )
    for b in beneficiaries:
        save_attributed(
            Beneficiary(
                account=account,
                name=b.name.strip(),
                relationship=b.relationship.strip(),
                share_percent=b.share_percent,
                kind=b.kind,
            ),
            acting_user=acting_user,
            reason="beneficiary named",
        )
    ledger.client_book(account)
    if model is not None:
        account = model_assign(account=account, model=model, acting_user=acting_user)
    if account.status == InvestmentAccount.Status.OPEN:
        account_opened_emit(account)  # a pending account's event comes when the custodian opens it
    account_pk = account.pk
    for path in getattr(settings, "PORTFOLIOS_ACCOUNT_CREATED_HOOKS", []):
        transaction.on_commit(functools.partial(import_string(path), account_id=account_pk))
    return account


def account_opened_emit(account: InvestmentAccount) -> None:
    """The `account.opened` event, in the caller's transaction: at creation for an account that
    already exists at the custodian, when the custodian opens it for one opened through Kronos."""
    household = account.household
    event_emit(
        kind="account.opened",
        firm=household.firm_id,
        household=household,
        account=account,
        subject_type="account",
        subject_id=account.pk,
        payload={
            "account": account.pk,
            "household": household.pk,
            "name": account.name,
            "account_type": account.account_type,
            "base_currency": account.base_currency,
            "opened_on": account.opened_on,
            "status": account.status,
            "custodian_account_number": account.custodian_account_number,
        },
    )


@transaction.atomic
def account_custodian_opened(*, account: InvestmentAccount, number: str, acting_user: Any) -> InvestmentAccount:
    """Record the number the custodian gave a pending account, and open it. Safe to repeat
    (the same number again changes nothing); a different number for an opened account, or a
    number another account holds, is refused."""
    number = (number or "").strip()
    if not number or len(number) > 40:
        raise PortfoliosError(
            "The custodian account number must be 1 to 40 characters.", field="custodian_account_number"
        )
    account = InvestmentAccount.objects.select_for_update().get(pk=account.pk)
    if account.custodian_account_number == number:
        return account
    if account.custodian_account_number:
        raise PortfoliosError(
            f"The account already has the custodian number {account.custodian_account_number}.",
            field="custodian_account_number",
        )
    if InvestmentAccount.objects.filter(custodian_account_number=number).exclude(pk=account.pk).exists():
        raise PortfoliosError(
            f"The custodian account number {number} is already used.", field="custodian_account_number", status_code=409
        )
    account.custodian_account_number = number
    if account.status == InvestmentAccount.Status.PENDING:
        account.status = InvestmentAccount.Status.OPEN
        account.opened_on = timezone.localdate()
    try:
        return save_attributed(account, acting_user=acting_user, reason="opened at the custodian")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


@transaction.atomic
def account_update(*, account: InvestmentAccount, acting_user: Any, **changes: Any) -> InvestmentAccount:
    """Change an account's name, type, status or rebalancing settings (validated as at creation).

    Closing sets `closed_on`; a closed account cannot be reopened."""
    unknown = set(changes) - ACCOUNT_EDITABLE_FIELDS
    if unknown:
        raise PortfoliosError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    account = InvestmentAccount.objects.select_for_update().select_related("household__advisor").get(pk=account.pk)
    if not _may_act_for(acting_user, account.household):
        raise PortfoliosError("You may not change this account.", code="forbidden")
    cleaned = _validate_settings(changes)
    if "status" in cleaned:
        status = cleaned["status"]
        if status not in InvestmentAccount.Status.values:
            raise PortfoliosError(f"'{status}' is not an account status.", field="status")
        if account.status == InvestmentAccount.Status.CLOSED and status != InvestmentAccount.Status.CLOSED:
            raise PortfoliosError("A closed account cannot be reopened.", field="status")
        if status == InvestmentAccount.Status.CLOSED and account.closed_on is None:
            account.closed_on = timezone.localdate()
    if "account_type" in cleaned and cleaned["account_type"] not in InvestmentAccount.AccountType.values:
        raise PortfoliosError(f"'{cleaned['account_type']}' is not an account type.", field="account_type")
    for field, value in cleaned.items():
        setattr(account, field, value.strip() if field == "name" else value)
    try:
        return save_attributed(account, acting_user=acting_user, reason="account updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


@transaction.atomic
def model_assign(*, account: InvestmentAccount, model: ModelPortfolio | None, acting_user: Any) -> InvestmentAccount:
    """Assign (or, with None, remove) an account's model.

    The model must be active and belong to the account's firm. Each check in
    `portfolios.checks.MODEL_ASSIGN_CHECKS` is then called as `check(account=..., model=...)`
    and may raise a DomainError to refuse (compliance registers suitability there).
    """
    account = InvestmentAccount.objects.select_for_update().select_related("household").get(pk=account.pk)
    if not _may_act_for(acting_user, account.household):
        raise PortfoliosError("You may not change this account.", code="forbidden")
    if account.status == InvestmentAccount.Status.CLOSED:
        raise PortfoliosError("The account is closed.", field="account")
    if model is not None:
        if model.firm_id != account.household.firm_id:
            raise PortfoliosError("The model belongs to another firm.", field="model")
        if not model.is_active:
            raise PortfoliosError(f"The model {model.name} is not active.", field="model")
        for check in MODEL_ASSIGN_CHECKS.checks():
            check(account=account, model=model)
    account.model = model
    return save_attributed(
        account, acting_user=acting_user, reason=f"model assigned: {model.name}" if model else "model removed"
    )


# --- Transfers in and tax lots ------------------------------------------------------------------


@transaction.atomic
def transfer_in(
    *,
    account: InvestmentAccount,
    acting_user: Any,
    idempotency_key: str,
    positions: Sequence[Mapping[str, Any]] = (),
    cash: Any = None,
    effective_date: date | None = None,
    memo: str = "Transfer in",
) -> JournalEntry:
    """Bring holdings and cash into an account from outside (another custodian).

    `positions` is a list of {symbol, quantity, cost_basis (the lot's total cost),
    acquired_on}; a symbol may appear several times (several lots). `cash` is a Money or a
    Decimal in the account's currency. One journal entry (kind transfer_in, against the
    firm's transfers book) plus one tax lot per position; a retry with the same
    `idempotency_key` returns the first entry and changes nothing.
    """
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if not idempotency_key:
        raise PortfoliosError("An idempotency key is required.", field="idempotency_key")
    account = InvestmentAccount.objects.select_related("household").get(pk=account.pk)
    if account.status == InvestmentAccount.Status.CLOSED:
        raise PortfoliosError("The account is closed.", field="account")
    day = effective_date or timezone.localdate()
    if day > timezone.localdate():
        raise PortfoliosError(f"The date {day} is in the future.", field="effective_date")
    symbols = {str(p.get("symbol", "")).strip().upper() for p in positions}
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=symbols)}
    unknown = sorted(symbols - set(securities))
    if unknown:
        raise PortfoliosError(f"Unknown symbol: {', '.join(unknown)}.", field="positions")
    lots = []
    for i, p in enumerate(positions, start=1):
        symbol = str(p["symbol"]).strip().upper()
        quantity = _decimal(p.get("quantity"), field="positions", what=f"The quantity of {symbol}")
        if quantity <= 0:
            raise PortfoliosError(f"Position {i}: the quantity of {symbol} must be positive.", field="positions")
        if "cost_per_share" in p:
            cost_per_share = _decimal(p["cost_per_share"], field="positions", what=f"The cost of {symbol}")
        else:
            basis = _decimal(p.get("cost_basis", 0), field="positions", what=f"The cost basis of {symbol}")
            cost_per_share = (basis / quantity).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
        if cost_per_share < 0:
            raise PortfoliosError(f"Position {i}: the cost basis of {symbol} cannot be negative.", field="positions")
        acquired = p.get("acquired_on") or day
        if not isinstance(acquired, date):
            acquired = date.fromisoformat(str(acquired))
        if acquired > day:
            raise PortfoliosError(f"Position {i}: {symbol} cannot be acquired after the transfer.", field="positions")
        lots.append((securities[symbol], quantity, cost_per_share, acquired))
    cash_amount = ZERO
    if cash is not None:
        currency = getattr(getattr(cash, "currency", None), "code", None) or account.base_currency
        if currency != account.base_currency:
            raise PortfoliosError(f"Cash must be in {account.base_currency}.", field="cash")
        cash_amount = _decimal(getattr(cash, "amount", cash), field="cash", what="The cash")
        if cash_amount < 0:
            raise PortfoliosError("The cash transferred in cannot be negative.", field="cash")
        if cash_amount != to_cents(cash_amount):
            raise PortfoliosError("The cash has more than 2 decimal places.", field="cash")
    if not lots and cash_amount == 0:
        raise PortfoliosError("Nothing to transfer: give positions or cash.", field="positions")

    book = ledger.client_book(account)
    source = ledger.system_book(LedgerBook.Kind.TRANSFERS, firm=account.household.firm_id)
    postings: list[PostingSpec] = []
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for security, quantity, _cost, _acquired in lots:
        totals[security.pk] += quantity
    for security_id, quantity in totals.items():
        security = next(s for s in securities.values() if s.pk == security_id)
        postings += [PostingSpec.shares(book, security, quantity), PostingSpec.shares(source, security, -quantity)]
    if cash_amount:
        postings += [
            PostingSpec.cash(book, cash_amount, account.base_currency),
            PostingSpec.cash(source, -cash_amount, account.base_currency),
        ]
    entry = ledger.post_entry(
        kind=JournalEntry.Kind.TRANSFER_IN,
        postings=postings,
        effective_date=day,
        memo=memo,
        acting_user=acting_user,
        idempotency_key=idempotency_key,
        reference_type="portfolios.account",
        reference_id=account.pk,
    )
    if entry.lots.exists():  # a concurrent retry won the race and made the lots
        return entry
    bulk_create_with_history(
        [
            TaxLot(
                account=account,
                security=security,
                quantity=quantity,
                original_quantity=quantity,
                cost_per_share=cost,
                acquired_on=acquired,
                entry=entry,
            )
            for security, quantity, cost, acquired in lots
        ],
        TaxLot,
        default_user=acting_user,
        default_change_reason="transfer in",
    )
    return entry


@transaction.atomic
def lot_open(
    *,
    account: InvestmentAccount,
    security: Security,
    quantity: Decimal,
    cost_per_share: Decimal,
    acquired_on: date,
    acting_user: Any,
    entry: JournalEntry | None = None,
) -> TaxLot:
    """Open a tax lot (a buy fill or a transfer in). Cost per share is rounded to 6 places (ROUND_HALF_EVEN)."""
    quantity = _decimal(quantity, field="quantity", what="The quantity")
    if quantity <= 0:
        raise PortfoliosError("The quantity must be positive.", field="quantity")
    cost = _decimal(cost_per_share, field="cost_per_share", what="The cost per share")
    if cost < 0:
        raise PortfoliosError("The cost per share cannot be negative.", field="cost_per_share")
    lot = TaxLot(
        account=account,
        security=security,
        quantity=quantity,
        original_quantity=quantity,
        cost_per_share=cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN),
        acquired_on=acquired_on,
        entry=entry,
    )
    try:
        # The fields' digits and places are validated; not by a query each (one a fill adds up):
        # the account, security and entry are the caller's rows (the foreign keys hold them), and
        # the check constraints (quantity >= 0 and <= original > 0, cost >= 0) follow from the
        # checks above (the database enforces them as well).
        lot.full_clean(exclude=["account", "security", "entry"], validate_constraints=False)
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    return save_attributed(lot, acting_user=acting_user, reason="lot opened", validate=False)


@transaction.atomic
def lots_relieve(
    *,
    account: InvestmentAccount,
    security: Security,
    quantity: Decimal,
    price: Decimal,
    closed_on: date,
    acting_user: Any,
    method: str = "hifo",
    entry: JournalEntry | None = None,
) -> list[LotClosure]:
    """Close `quantity` shares out of the open lots, highest cost first ("hifo", the default:
    realises the least gain) or oldest first ("fifo"), and record each lot's realised gain.

    Proceeds and cost are rounded to cents (ROUND_HALF_EVEN) per closure; gain = proceeds - cost.
    Refuses a quantity larger than the open lots hold. Idempotent per `entry`: if closures
    for that entry exist already, they are returned.
    """
    quantity = _decimal(quantity, field="quantity", what="The quantity")
    price = _decimal(price, field="price", what="The price")
    if quantity <= 0:
        raise PortfoliosError("The quantity must be positive.", field="quantity")
    if price < 0:
        raise PortfoliosError("The price cannot be negative.", field="price")
    if method not in ("hifo", "fifo"):
        raise PortfoliosError(f"'{method}' is not a lot method (hifo or fifo).", field="method")
    if entry is not None:
        done = list(LotClosure.objects.filter(entry=entry, lot__security=security, lot__account=account))
        if done:
            return done
    order = ["-cost_per_share", "acquired_on", "id"] if method == "hifo" else ["acquired_on", "id"]
    lots = list(
        TaxLot.objects.select_for_update().filter(account=account, security=security, quantity__gt=0).order_by(*order)
    )
    available = sum((lot.quantity for lot in lots), ZERO)
    if quantity > available:
        raise PortfoliosError(
            f"Only {available.normalize():f} {security.symbol} are held in open lots; "
            f"cannot relieve {quantity.normalize():f}.",
            field="quantity",
        )
    remaining = quantity
    closures, touched = [], []
    for lot in lots:
        if remaining == 0:
            break
        take = min(lot.quantity, remaining)
        remaining -= take
        proceeds = to_cents(take * price)
        cost = to_cents(take * lot.cost_per_share)
        closures.append(
            LotClosure(
                lot=lot,
                quantity=take,
                proceeds=proceeds,
                cost=cost,
                gain=proceeds - cost,
                closed_on=closed_on,
                entry=entry,
            )
        )
        lot.quantity -= take
        if lot.quantity == 0:
            lot.closed_on = closed_on
        touched.append(lot)
    reason = f"lots relieved ({method})"
    bulk_update_with_history(
        touched, TaxLot, ["quantity", "closed_on"], default_user=acting_user, default_change_reason=reason
    )
    bulk_create_with_history(closures, LotClosure, default_user=acting_user, default_change_reason=reason)
    return closures


# --- Valuations ---------------------------------------------------------------------------------


def valuation_snapshot_write(*, account: InvestmentAccount, date: date, acting_user: Any = None) -> ValuationSnapshot:
    """Write (or refresh) the account's valuation at `date`'s close; idempotent per account and date."""
    valuation_snapshots_write(as_of=date, account_ids=[account.pk], acting_user=acting_user)
    return ValuationSnapshot.objects.get(account=account, date=date)


def valuation_snapshots_write(*, as_of: date, account_ids: Iterable[int] | None = None, acting_user: Any = None) -> int:
    """Write every open account's (or `account_ids`') valuation at `as_of` in a fixed handful of
    queries: holdings and cash from the postings effective on or before the day, prices on or
    before the day, the day's external flows. Re-running replaces changed rows only.
    Returns the number of snapshots written or changed."""
    from accounts.services import system_user
    from portfolios.valuation import values_at

    if as_of > timezone.localdate():
        raise PortfoliosError(f"The date {as_of} is in the future.", field="as_of")
    acting_user = acting_user or system_user()
    if account_ids is None:
        account_ids = InvestmentAccount.objects.exclude(status=InvestmentAccount.Status.CLOSED).values_list(
            "pk", flat=True
        )
    ids = list(account_ids)
    values = values_at(account_ids=ids, as_of=as_of)
    with transaction.atomic():
        existing = {
            v.account_id: v
            for v in ValuationSnapshot.objects.select_for_update().filter(account_id__in=ids, date=as_of)
        }
        new, changed = [], []
        for account_id, value in values.items():
            row = existing.get(account_id)
            if row is None:
                new.append(
                    ValuationSnapshot(
                        account_id=account_id,
                        date=as_of,
                        market_value=value.market_value,
                        cash=value.cash,
                        net_external_flow=value.external_flow,
                    )
                )
            elif (row.market_value, row.cash, row.net_external_flow) != (
                value.market_value,
                value.cash,
                value.external_flow,
            ):
                row.market_value, row.cash, row.net_external_flow = value.market_value, value.cash, value.external_flow
                changed.append(row)
        reason = "nightly valuation"
        if new:
            try:
                with transaction.atomic():
                    bulk_create_with_history(
                        new, ValuationSnapshot, default_user=acting_user, default_change_reason=reason
                    )
            except IntegrityError as exc:
                raise PortfoliosError("Valuations for this day are being written by another job.") from exc
        if changed:
            bulk_update_with_history(
                changed,
                ValuationSnapshot,
                ["market_value", "cash", "net_external_flow"],
                default_user=acting_user,
                default_change_reason=reason,
            )
    return len(new) + len(changed)


__all__ = [
    "CASH_PLACES",
    "PriceRow",
    "PriceStoreResult",
    "account_create",
    "account_update",
    "lot_open",
    "lots_relieve",
    "model_assign",
    "model_portfolio_create",
    "model_portfolio_update",
    "prices_ingest",
    "prices_store",
    "security_create",
    "security_update",
    "to_cents",
    "transfer_in",
    "valuation_snapshot_write",
    "valuation_snapshots_write",
]
