"""Reads for tax work: a household's purchases and loss sales in the wash-sale window, the year's
realised gains per account, and the model substitution pairs (tax-loss harvesting)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import BigIntegerField, DecimalField, Exists, F, Max, OuterRef, Q, Subquery, Sum, Value

from portfolios.engine.rebalancing import WASH_SALE_DAYS
from portfolios.engine.wash_sales import Acquisition, LossSale
from portfolios.models import InvestmentAccount, LotClosure, ModelTarget, Price, SubstitutionPair, TaxLot


def household_wash_window(
    *, account_ids: Sequence[int], as_of: date, days: int = WASH_SALE_DAYS
) -> tuple[list[Acquisition], list[LossSale]]:
    """The purchases (lots acquired) and the loss sales (closures at a loss) of `account_ids` --
    every account of a household, IRAs included -- in the `days` before `as_of` and on it, as
    the wash-sale engine takes them (securities named by symbol). Two queries."""
    start = as_of - timedelta(days=days)
    acquisitions = [
        Acquisition(
            lot_id=lot.pk,
            purchase_id=lot.pk,
            account_id=lot.account_id,
            security_id=lot.security.symbol,
            acquired_on=lot.acquired_on,
            quantity=lot.original_quantity,
        )
        for lot in TaxLot.objects.filter(account_id__in=account_ids, acquired_on__gte=start, acquired_on__lte=as_of)
        .select_related("security")
        .order_by("acquired_on", "pk")
    ]
    sales = [
        LossSale(
            sale_id=closure.pk,
            purchase_id=closure.lot_id,
            account_id=closure.lot.account_id,
            security_id=closure.lot.security.symbol,
            sold_on=closure.closed_on,
            quantity=closure.quantity,
            loss_per_share=-closure.gain / closure.quantity,
        )
        for closure in LotClosure.objects.filter(
            lot__account_id__in=account_ids, closed_on__gte=start, closed_on__lte=as_of, gain__lt=0
        )
        .select_related("lot__security")
        .order_by("closed_on", "pk")
    ]
    return acquisitions, sales


def household_last_loss_sales(*, household_id: int, as_of: date, days: int = WASH_SALE_DAYS) -> dict[str, date]:
    """Per security symbol, the latest day in the `days` before `as_of` (and on it) that any
    account of the household sold it at a loss -- what a buy must not follow (wash sale). One
    query."""
    return households_last_loss_sales(household_ids=[household_id], as_of=as_of, days=days).get(household_id, {})


def households_last_loss_sales(
    *, household_ids: Iterable[int], as_of: date, days: int = WASH_SALE_DAYS
) -> dict[int, dict[str, date]]:
    """`household_last_loss_sales` for many households in one query: household -> symbol -> day
    (a household without a loss sale in the window is absent)."""
    rows = (
        LotClosure.objects.filter(
            lot__account__household_id__in=list(household_ids),
            gain__lt=0,
            closed_on__gte=as_of - timedelta(days=days),
            closed_on__lte=as_of,
        )
        .values("lot__account__household_id", "lot__security__symbol")
        .annotate(last=Max("closed_on"))
    )
    out: dict[int, dict[str, date]] = defaultdict(dict)
    for r in rows:
        out[r["lot__account__household_id"]][r["lot__security__symbol"]] = r["last"]
    return dict(out)


def realised_gains_in_year(*, account_ids: Sequence[int], year: int) -> dict[int, Decimal]:
    """Each account's net realised gain in the calendar year (its lot closures), one query."""
    rows = (
        LotClosure.objects.filter(lot__account_id__in=account_ids, closed_on__year=year)
        .values("lot__account_id")
        .annotate(total=Sum("gain"))
    )
    return {r["lot__account_id"]: r["total"] or Decimal(0) for r in rows}


def model_substitutes(*, model_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """Each model's pairs by id, security -> substitute, one query (`engine.substitutes`)."""
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for model_id, security_id, substitute_id in SubstitutionPair.objects.filter(
        model_id__in=list(model_ids)
    ).values_list("model_id", "security_id", "substitute_id"):
        out[model_id][security_id] = substitute_id
    return dict(out)


def model_targets_and_substitutes(
    *, model_ids: Iterable[int]
) -> tuple[dict[int, dict[int, Decimal]], dict[int, dict[int, int]]]:
    """Each model's targets (security id -> weight) and substitution pairs (security id ->
    substitute id), in one query (a union), for the readers that measure drift."""
    ids = list(model_ids)
    if not ids:
        return {}, {}  # no query to make (building the union that finds nothing costs ms a call)
    targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
    pairs: dict[int, dict[int, int]] = defaultdict(dict)
    rows = (
        # no ORDER BY in the union's parts (the models' default orderings): SQLite refuses one
        ModelTarget.objects.filter(model_id__in=ids)
        .order_by()
        .annotate(substitute=Value(None, output_field=BigIntegerField()))
        .values_list("model_id", "security_id", "weight", "substitute")
        .union(
            SubstitutionPair.objects.filter(model_id__in=ids)
            .order_by()
            .annotate(no_weight=Value(None, output_field=DecimalField(max_digits=7, decimal_places=6)))
            .values_list("model_id", "security_id", "no_weight", "substitute_id"),
            all=True,
        )
    )
    for model_id, security_id, weight, substitute_id in rows:
        if substitute_id is None:
            targets[model_id][security_id] = weight
        else:
            pairs[model_id][security_id] = substitute_id
    return dict(targets), dict(pairs)


def substitution_pairs(*, model_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Each model's pairs, security symbol -> substitute symbol, one query."""
    out: dict[int, dict[str, str]] = {m: {} for m in model_ids}
    for pair in SubstitutionPair.objects.filter(model_id__in=model_ids).select_related("security", "substitute"):
        out[pair.model_id][pair.security.symbol] = pair.substitute.symbol
    return out


def households_with_losses_to_harvest(*, as_of: date, exclude_firms: Iterable[int] = ()) -> list[int]:
    """The households the harvest scan need look at, in one query: those with an open lot in a
    taxable, open account, closing (on or before `as_of`) below its cost, of a security its
    model -- the account's own or its rebalancing group's -- pairs with a substitute. A superset
    of what `engine.harvest.plan_harvest` can harvest (it also asks the firm's thresholds and the
    wash-sale window), so a household left out has nothing to harvest."""
    close = Price.objects.filter(security_id=OuterRef("security_id"), date__lte=as_of).order_by("-date")
    paired = SubstitutionPair.objects.filter(security_id=OuterRef("security_id")).filter(
        Q(model_id=OuterRef("account__model_id"))
        | Q(model_id=OuterRef("account__rebalancing_membership__group__model_id"))
    )
    return list(
        TaxLot.objects.filter(quantity__gt=0, account__status=InvestmentAccount.Status.OPEN)
        .exclude(account__account_type__in=InvestmentAccount.TAX_DEFERRED_TYPES)
        .exclude(account__household__firm_id__in=list(exclude_firms))
        .annotate(close=Subquery(close.values("close")[:1]))
        .filter(close__lt=F("cost_per_share"))
        .filter(Exists(paired))
        .values_list("account__household_id", flat=True)
        .distinct()
        .order_by("account__household_id")
    )
