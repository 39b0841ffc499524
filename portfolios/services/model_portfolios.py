"""Writes to model portfolios and their targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import Firm, User
from kronos.history import attribute, save_attributed
from portfolios.errors import PortfoliosError
from portfolios.models import (
    ZERO,
    ModelPortfolio,
    ModelTarget,
    Security,
)
from portfolios.services.common import CENT, HUNDRED, parse_decimal

# --- Model portfolios ---------------------------------------------------------------------------


def clean_targets(
    targets: Mapping[str, Any] | Iterable[tuple[str, Any]], cash_target: Decimal
) -> tuple[dict[int, Decimal], Decimal]:
    items = list(targets.items()) if isinstance(targets, Mapping) else list(targets)
    cash = parse_decimal(cash_target, field="cash_target", what="The cash target")
    if cash < 0 or cash > 1:
        raise PortfoliosError("The cash target must be between 0% and 100%.", field="cash_target")
    weights: dict[str, Decimal] = {}
    for symbol, weight in items:
        symbol = str(symbol).strip().upper()
        value = parse_decimal(weight, field="targets", what=f"The weight of {symbol}")
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


def _replace_targets(model: ModelPortfolio, weights: dict[int, Decimal], *, acting_user: User, reason: str) -> None:
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
    acting_user: User,
    cash_target: Decimal = ZERO,
    description: str = "",
    is_active: bool = True,
) -> ModelPortfolio:
    """Create a model with its targets: weights (fractions of 1) plus the cash target sum to exactly 1."""
    weights, cash = clean_targets(targets, cash_target)
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
    acting_user: User,
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
        weights, cash = clean_targets(targets, model.cash_target if cash_target is None else cash_target)
        model.cash_target = cash
        _replace_targets(model, weights, acting_user=acting_user, reason="model targets changed")
    if "risk_level" in changes and not 1 <= int(changes["risk_level"]) <= 10:
        raise PortfoliosError("The risk level must be from 1 to 10.", field="risk_level")
    for field, value in changes.items():
        setattr(model, field, value.strip() if field == "name" else value)
    try:
        # The drift of every account on it: the ModelPortfolio receiver in portfolios.signals.
        return save_attributed(model, acting_user=acting_user, reason="model updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
