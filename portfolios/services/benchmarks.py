"""Benchmarks: one security or a blend (weights summing to 1, rebalanced monthly by the
performance engine), and the choice of one for a model portfolio, a household or an account."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from accounts.models import Firm, Household, User
from kronos.history import save_attributed
from portfolios.errors import PortfoliosError
from portfolios.models import (
    ONE,
    Benchmark,
    BenchmarkComponent,
    HouseholdBenchmark,
    InvestmentAccount,
    ModelPortfolio,
    Security,
)


@transaction.atomic
def benchmark_create(
    *, firm: Firm, name: str, components: Iterable[tuple[str, Decimal | str]], acting_user: User
) -> Benchmark:
    """A benchmark of (symbol, weight) components: known securities, each once, weights above 0
    summing to exactly 1. The same name in the same firm with the same components is a retry and
    returns the existing benchmark; with other components it is refused."""
    parts: dict[str, Decimal] = {}
    for symbol, weight in components:
        key = str(symbol).strip().upper()
        try:
            value = Decimal(str(weight))
        except InvalidOperation as exc:
            raise PortfoliosError(f"The weight of {key} is not a number.", field="components") from exc
        if key in parts:
            raise PortfoliosError(f"{key} is listed twice.", field="components")
        if not (0 < value <= ONE):
            raise PortfoliosError("Each weight is above 0 and at most 1.", field="components")
        parts[key] = value
    if not parts:
        raise PortfoliosError("A benchmark needs at least one security.", field="components")
    if sum(parts.values()) != ONE:
        raise PortfoliosError("The weights must sum to 1 (100%).", field="components")
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=list(parts))}
    missing = sorted(set(parts) - set(securities))
    if missing:
        raise PortfoliosError(f"Unknown securities: {', '.join(missing)}.", field="components")
    existing = Benchmark.objects.filter(firm=firm, name=name.strip()).prefetch_related("components__security").first()
    if existing is not None:
        if {c.security.symbol: c.weight for c in existing.components.all()} == parts:
            return existing
        raise PortfoliosError("A benchmark with this name already exists.", field="name")
    try:
        with transaction.atomic():
            benchmark = save_attributed(
                Benchmark(firm=firm, name=name.strip()), acting_user=acting_user, reason="benchmark created"
            )
    except IntegrityError as exc:
        raise PortfoliosError("A benchmark with this name is being created.", field="name") from exc
    bulk_create_with_history(
        [BenchmarkComponent(benchmark=benchmark, security=securities[s], weight=w) for s, w in parts.items()],
        BenchmarkComponent,
        default_user=acting_user,
        default_change_reason="benchmark created",
    )
    return benchmark


@transaction.atomic
def benchmark_assign(
    *,
    benchmark: Benchmark | None,
    acting_user: User,
    model: ModelPortfolio | None = None,
    household: Household | None = None,
    account: InvestmentAccount | None = None,
) -> None:
    """Choose `benchmark` (None: clear the choice) for exactly one of a model portfolio, a
    household or an account of the benchmark's firm. Idempotent."""
    targets = [t for t in (model, household, account) if t is not None]
    if len(targets) != 1:
        raise PortfoliosError("Choose the benchmark for one model, household or account.")
    target = targets[0]
    firm_id = target.household.firm_id if isinstance(target, InvestmentAccount) else target.firm_id
    if benchmark is not None and benchmark.firm_id != firm_id:
        raise PortfoliosError("The benchmark belongs to another firm.", field="benchmark")
    if isinstance(target, Household):
        choice = HouseholdBenchmark.objects.select_for_update().filter(household=target).first()
        if benchmark is None:
            if choice is not None:
                choice._history_user = acting_user  # type: ignore[attr-defined]
                choice.delete()
            return
        if choice is not None and choice.benchmark_id == benchmark.pk:
            return
        choice = choice or HouseholdBenchmark(household=target)
        choice.benchmark = benchmark
        save_attributed(choice, acting_user=acting_user, reason="benchmark chosen")
        return
    if target.benchmark_id == getattr(benchmark, "pk", None):
        return
    target.benchmark = benchmark
    save_attributed(target, acting_user=acting_user, reason="benchmark chosen", validate=False)
