"""Keeping each account's `AccountFigures` row current.

`refresh_figures(account_ids)` recomputes the rows of those accounts from the records
(`selectors.figures.account_figures`: positions and base-currency cash at the last closes, the
model's targets with held substitutes standing in, the drift band) and upserts them: one
statement for the lot, in the caller's transaction. Every write that moves a figure calls it
there:
- the ledger, for the accounts an entry touches (`ledger.posting`, `ledger.bulk_posting`);
- account settings and model assignment (`services.accounts`), model targets and cash target
  (`services.model_portfolios`), substitution pairs: their saves, through the receivers in
  `portfolios.signals`;
- prices: an import refreshes the accounts holding or targeting what it priced, and the nightly
  valuation refreshes every open account (so a day's rollover or a missed path heals nightly);
- single-row saves made outside the services (the admin, fixtures) through the receivers in
  `portfolios.signals`.
`figures_stale` rebuilds rows from the records and names the accounts whose row differs: the
simulator's nightly invariant and the tests' check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Q

from portfolios.models import DRIFT_PLACES, AccountFigures, InvestmentAccount, ModelTarget, Position, SubstitutionPair
from portfolios.selectors.figures import ComputedFigures, FigureInput, account_figures, figure_inputs

CHUNK = 2000
_DRIFT_QUANTUM = Decimal(1).scaleb(-DRIFT_PLACES)
_FIELDS = ["currency", "market_value", "cash", "max_drift", "breached", "refreshed_at"]


def _drift(value: Decimal | None) -> Decimal | None:
    """Drift is a quotient: kept to DRIFT_PLACES, half-even (the breach is decided unrounded)."""
    return None if value is None else value.quantize(_DRIFT_QUANTUM, rounding=ROUND_HALF_EVEN)


def _row(pk: int, currency: str, figures: ComputedFigures) -> AccountFigures:
    return AccountFigures(
        account_id=pk,
        currency=currency,
        market_value=figures.market_value,
        cash=figures.cash,
        max_drift=_drift(figures.max_drift),
        breached=figures.breached,
    )


def computed_rows(account_ids: Sequence[int], *, inputs: Sequence[FigureInput] = ()) -> list[AccountFigures]:
    """The rows the records give for these accounts now (unsaved). `inputs`: the accounts'
    `FigureInput`s when the caller has read them (with their rows locked) in its transaction;
    read here unless they are given for every one of the accounts."""
    if not inputs or {a.pk for a in inputs} != set(account_ids):
        inputs = figure_inputs(account_ids)
    figures = account_figures(inputs)
    return [_row(a.pk, a.base_currency, figures[a.pk]) for a in inputs]


def refresh_figures(account_ids: Iterable[int], *, inputs: Sequence[FigureInput] = ()) -> int:
    """Recompute and upsert the figures of these accounts (in the caller's transaction); the count.
    `inputs`: as `computed_rows` takes them (one read fewer)."""
    ids = sorted(set(account_ids))
    done = 0
    for start in range(0, len(ids), CHUNK):
        rows = computed_rows(ids[start : start + CHUNK], inputs=inputs if len(ids) <= CHUNK else ())
        AccountFigures.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["account"], update_fields=_FIELDS
        )
        done += len(rows)
    return done


def accounts_following(*, model_ids: Iterable[int] = (), security_ids: Iterable[int] = ()) -> list[int]:
    """Open accounts whose figures move with these models' targets or these securities' closes:
    on one of the models, holding one of the securities, or on a model targeting (or substituting) one."""
    model_ids, security_ids = set(model_ids), set(security_ids)
    if security_ids:
        model_ids |= set(ModelTarget.objects.filter(security_id__in=security_ids).values_list("model_id", flat=True))
        model_ids |= set(
            SubstitutionPair.objects.filter(
                Q(security_id__in=security_ids) | Q(substitute_id__in=security_ids)
            ).values_list("model_id", flat=True)
        )
    holders = Position.objects.filter(security_id__in=security_ids).exclude(quantity=0).values("account_id")
    return list(
        InvestmentAccount.objects.filter(Q(model_id__in=model_ids) | Q(pk__in=holders))
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .order_by()
        .values_list("pk", flat=True)
    )


def refresh_following(*, model_ids: Iterable[int] = (), security_ids: Iterable[int] = ()) -> int:
    return refresh_figures(accounts_following(model_ids=model_ids, security_ids=security_ids))


def refresh_all() -> int:
    """Every account's row (the nightly valuation's step: new closes, a new day)."""
    return refresh_figures(InvestmentAccount.objects.order_by().values_list("pk", flat=True))


def figure_differences(account_ids: Sequence[int] | None = None) -> list[tuple[int, str, object, object]]:
    """(account, field, kept, from the records) for each kept figure that differs from what the
    records give now; a missing row is ("row", None, "missing")."""
    if account_ids is None:
        account_ids = list(InvestmentAccount.objects.order_by("pk").values_list("pk", flat=True))
    out: list[tuple[int, str, object, object]] = []
    for start in range(0, len(account_ids), CHUNK):
        chunk = account_ids[start : start + CHUNK]
        kept = {r.account_id: r for r in AccountFigures.objects.filter(account_id__in=chunk)}
        for want in computed_rows(chunk):
            have = kept.get(want.account_id)
            if have is None:
                out.append((want.account_id, "row", None, "missing"))
                continue
            out += [
                (want.account_id, f, getattr(have, f), getattr(want, f))
                for f in _FIELDS[:-1]
                if getattr(have, f) != getattr(want, f)
            ]
    return out


def figures_stale(account_ids: Sequence[int] | None = None) -> list[int]:
    """Accounts whose kept row differs from what the records give now (a missing row counts)."""
    return sorted({account for account, *_ in figure_differences(account_ids)})
