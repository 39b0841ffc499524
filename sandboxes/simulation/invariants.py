"""The firm's invariants, checked after every simulated day. Each check returns violations
(never raises for one): the day, the invariant, the account and the numbers.

Checks read the database through plain queries (or take the figures they compare), and compare
with what the simulator computed itself (`independent`) or with the ledger's own rules:

- ledger: every entry balances and every balance equals its postings (`ledger.verify`, what
  `check_ledger` runs);
- reconciliation: no break left open for the day (our books against the custodian's statement);
- balances: no client cash or share balance below zero;
- orders: no order filled beyond its quantity, its executions add up to its filled quantity, every
  order reaches an end state within `end_days` business days (at the end of the run: all of them);
- rejections: an order of an approved proposal that our own checks rejected is named on the
  proposal (its notes) — never a silent rejection;
- bands: an approved proposal whose orders all filled leaves the account inside its bands at the
  plan's prices, or its notes say why (whole shares, a restriction, a wash sale, a minimum trade);
  a harvest's substitute counts as its security;
- household groups: when a group's proposals of a night have all filled, the household (every
  account of the group summed) is inside the group's bands at the plan's prices, or the plan says why;
- harvests: a filled harvest moves no line out of its band, and no harvested loss is ever
  disallowed as a wash sale (whichever account of the household bought);
- twr: the time-weighted return Kronos reports equals the simulator's own from its values and flows;
- fees: each fee charged equals the simulator's own recomputation, to the cent;
- figures: every account's kept figures (`AccountFigures`: value, cash, drift, breach) equal what
  its records give at the end of the day — the book and the API read them;
- notifications: every published fill has told the account's advisor (the events' fan-out ran in
  the relay, once: the inbox holds one notification per event and user).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Event
from notifications.models import Notification
from operations.models import ReconciliationBreak
from portfolios import ledger
from portfolios.figures import figure_differences
from portfolios.models import CashBalance, Position, WashSaleAdjustment
from sandboxes.simulation import independent
from trading.lifecycle import END_STATES
from trading.models import Execution, Order

ZERO = Decimal(0)
TWR_TOLERANCE = Decimal("1e-12")
REASON_WORDS = ("whole share", "whole-share", "restrict", "wash", "minimum", "min_trade", "reserve", "not enough")


@dataclass(frozen=True)
class Violation:
    day: date
    invariant: str
    account: str
    detail: str

    def line(self) -> str:
        return f"VIOLATION {self.day.isoformat()} [{self.invariant}] account {self.account}: {self.detail}"


def _label(account_id: int | None, numbers: Mapping[int, str] | None) -> str:
    if account_id is None:
        return "-"
    return (numbers or {}).get(account_id, f"#{account_id}")


# --- ledger -------------------------------------------------------------------------------------


def check_ledger(day: date) -> list[Violation]:
    return [Violation(day, "ledger", "-", problem) for problem in ledger.verify()]


# --- reconciliation -----------------------------------------------------------------------------


def check_reconciliation(day: date, numbers: Mapping[int, str] | None = None) -> list[Violation]:
    return [
        Violation(
            day,
            "reconciliation",
            _label(b.account_id, numbers),
            f"{b.asset}: ours {b.ours.normalize():f}, custodian {b.theirs.normalize():f}, "
            f"difference {b.difference.normalize():f}",
        )
        for b in ReconciliationBreak.objects.filter(business_date=day, status=ReconciliationBreak.Status.OPEN).order_by(
            "account_id", "asset"
        )
    ]


# --- balances -----------------------------------------------------------------------------------


def check_balances(day: date, numbers: Mapping[int, str] | None = None) -> list[Violation]:
    out = [
        Violation(day, "negative cash", _label(a, numbers), f"{cur} cash is {amount:,.2f}")
        for a, cur, amount in CashBalance.objects.filter(amount__lt=0)
        .order_by("account_id")
        .values_list("account_id", "currency", "amount")
    ]
    out += [
        Violation(day, "negative shares", _label(a, numbers), f"{symbol} quantity is {q.normalize():f}")
        for a, symbol, q in Position.objects.filter(quantity__lt=0)
        .order_by("account_id", "security__symbol")
        .values_list("account_id", "security__symbol", "quantity")
    ]
    return out


# --- kept figures ------------------------------------------------------------------------------


def check_figures(day: date, numbers: Mapping[int, str] | None = None) -> list[Violation]:
    return [
        Violation(day, "figures", _label(account, numbers), f"kept {field} is {have}, the records give {want}")
        for account, field, have, want in figure_differences()
    ]


# --- orders -------------------------------------------------------------------------------------


def check_orders(
    day: date,
    *,
    open_before: date | None,
    numbers: Mapping[int, str] | None = None,
) -> list[Violation]:
    """Fills never beyond the quantity and equal to the executions' sum; orders created before
    `open_before` (None: every order) must have ended."""
    out: list[Violation] = []
    # Only the orders that break a rule come back: the database compares every order with the
    # sum of its executions (the whole book, every day, without reading it into Python).
    mine = Execution.objects.filter(order=OuterRef("pk")).order_by().values("order")
    quantity_field = DecimalField(max_digits=28, decimal_places=9)
    none = Value(ZERO, output_field=quantity_field)
    broken = (
        Order.objects.annotate(
            executed=Coalesce(
                Subquery(mine.annotate(q=Sum("quantity")).values("q"), output_field=quantity_field), none
            ),
            execution_count=Coalesce(
                Subquery(mine.annotate(n=Count("id")).values("n"), output_field=IntegerField()), 0
            ),
        )
        .filter(Q(quantity__isnull=False, executed__gt=F("quantity")) | ~Q(executed=Coalesce("filled_quantity", none)))
        .order_by("pk")
    )
    for pk, account_id, symbol, side, quantity, filled, executed, count in broken.values_list(
        "pk", "account_id", "security__symbol", "side", "quantity", "filled_quantity", "executed", "execution_count"
    ):
        label = _label(account_id, numbers)
        if quantity is not None and executed > quantity:
            out.append(
                Violation(
                    day,
                    "filled beyond quantity",
                    label,
                    f"order {pk} {side} {symbol}: {count} executions of {executed.normalize():f} "
                    f"for an order of {quantity.normalize():f}",
                )
            )
        if (filled or ZERO) != executed:
            out.append(
                Violation(
                    day,
                    "fill count",
                    label,
                    f"order {pk} {side} {symbol}: filled {filled.normalize():f} but its executions "
                    f"sum to {executed.normalize():f}",
                )
            )
    open_orders = Order.objects.exclude(status__in=[str(s) for s in END_STATES])
    if open_before is not None:
        open_orders = open_orders.filter(created_at__date__lt=open_before)
    for pk, account_id, symbol, side, status, created in open_orders.order_by("pk").values_list(
        "pk", "account_id", "security__symbol", "side", "status", "created_at"
    ):
        out.append(
            Violation(
                day,
                "order not ended",
                _label(account_id, numbers),
                f"order {pk} {side} {symbol} is still {status} (created {created.date().isoformat()})",
            )
        )
    return out


# --- proposals: rejections and bands --------------------------------------------------------------


def _mentions(notes: Iterable[str], *symbols: str | None) -> bool:
    """The notes name one of `symbols` (as a word: "T" is not in "the", "GE" not in "change") or
    give a reason that holds for any line (`REASON_WORDS`)."""
    text = " ".join(notes)
    if any(re.search(rf"(?<![\w.-]){re.escape(s)}(?![\w-])", text) for s in symbols if s):
        return True
    lowered = text.lower()
    return any(w in lowered for w in REASON_WORDS)


def check_rejections(day: date, proposals: Iterable[Any], numbers: Mapping[int, str] | None = None) -> list[Violation]:
    """Orders of approved `proposals` rejected by our own pre-trade checks must be named on the
    proposal. (A refusal by the custodian is the custodian's, with its reason on the order.)"""
    out: list[Violation] = []
    for proposal in proposals:
        notes = list(proposal.notes or [])
        for order in proposal.orders.all():
            if order.status != "rejected" or order.status_reason.startswith("The custodian refused"):
                continue
            if not order.status_reason:
                detail = "no reason recorded"
            elif not _mentions(notes, order.security.symbol):
                detail = f"the proposal does not say why (the order says: {order.status_reason})"
            else:
                continue
            out.append(
                Violation(
                    day,
                    "silent rejection",
                    _label(proposal.account_id, numbers),
                    f"proposal {proposal.pk}: {order.side} {order.quantity.normalize():f} {order.security.symbol} "
                    f"rejected, {detail}",
                )
            )
    return out


def _price_from_fills(prices: dict[str, Decimal], symbol: str, shares: Decimal, cash: Decimal) -> None:
    """A symbol the plan bought without holding or targeting it (a harvest's substitute) has no
    price in the plan's inputs: its fills' average price stands in."""
    if symbol not in prices and shares:
        prices[symbol] = abs(cash / shares)


def drift_after_plan(
    inputs: Mapping[str, Any],
    executed: Mapping[str, tuple[Decimal, Decimal]],
    pairs: Mapping[str, str] | None = None,
) -> list[independent.DriftLine]:
    """The drift the approved plan leaves: the proposal's inputs (holdings, cash and prices when it
    was made) with its orders' executions applied (`executed`: symbol -> (signed shares, cash)),
    a harvest's substitutes counted as their securities (`pairs`, the model's)."""
    rows = _holding_rows(inputs)
    quantities = {r["symbol"]: Decimal(r["quantity"]) for r in rows}
    prices = {r["symbol"]: Decimal(r["price"]) for r in rows}
    targets = {r["symbol"]: Decimal(r["target_weight"]) for r in rows}
    cash = Decimal(inputs.get("cash", "0"))
    for symbol, (shares, cash_delta) in executed.items():
        quantities[symbol] = quantities.get(symbol, ZERO) + shares
        cash += cash_delta
        _price_from_fills(prices, symbol, shares, cash_delta)
    settings = inputs.get("settings", {})
    # A withdrawal's (or fee's) sale plan is measured after the cash it raises has left.
    cash += min(Decimal(settings.get("external_flow", "0")), ZERO)
    independent.merge_substitutes(quantities, prices, targets, pairs or {})
    return independent.drift(
        quantities=quantities,
        prices=prices,
        cash=cash,
        targets=targets,
        cash_target=Decimal(inputs.get("cash_target", "0")),
        threshold=Decimal(settings.get("threshold", "0.05")),
        relative=settings.get("band_mode") == "relative",
        relative_band=Decimal(settings.get("relative_band", "0")),
    )


def plan_context(proposal: Any, executed: Mapping[str, tuple[Decimal, Decimal]], symbol: str) -> str:
    """Where an out-of-band plan came from, to trace it: its run (the nightly scan's key, or made
    by hand or by a cash flow), the day it was planned and approved, the flow it was made for,
    the symbol's shares in its inputs and what its orders did in it."""
    inputs = proposal.inputs or {}
    columns = inputs.get("holding_columns") or ["symbol", "quantity"]
    held = next(
        (
            dict(zip(columns, row, strict=False)).get("quantity")
            for row in inputs.get("holdings", [])
            if row[0] == symbol
        ),
        "0",
    )
    shares, cash = executed.get(symbol, (ZERO, ZERO))
    flow = (inputs.get("settings") or {}).get("external_flow", "0")
    return (
        f" [plan {proposal.run_key or 'made by hand or a cash flow'}, as of {proposal.as_of}, created "
        f"{proposal.created_at:%Y-%m-%d %H:%M}, decided {proposal.decided_at:%Y-%m-%d %H:%M}; flow {flow}; "
        f"{symbol}: {held} held, {shares.normalize():f} traded for {cash.normalize():f}; cash {inputs.get('cash')}]"
        if proposal.decided_at
        else f" [plan {proposal.run_key}, as of {proposal.as_of}]"
    )


def check_bands(
    day: date,
    *,
    account: str,
    proposal_id: int,
    lines: Sequence[independent.DriftLine],
    notes: Sequence[str],
    pairs: Mapping[str, str] | None = None,
    context: Callable[[str], str] = lambda symbol: "",
) -> list[Violation]:
    """Every line inside its band, or the proposal's notes give the reason. A line is a security
    with its harvest substitute counted in (`pairs`, as `drift_after_plan` merged them): the notes
    may name either, as the engine names the one that held the target. `context(symbol)`: what
    else the violation prints to be traced (the plan's origin, the line's shares)."""
    out = []
    pairs = pairs or {}
    for line in lines:
        if line.outside and not _mentions(notes, line.symbol, pairs.get(line.symbol)):
            out.append(
                Violation(
                    day,
                    "out of band",
                    account,
                    f"proposal {proposal_id} filled but {line.symbol} is {line.actual * 100:.2f}% against a target "
                    f"of {line.target * 100:.2f}% (band {line.band * 100:.2f} points) and the proposal gives no reason"
                    f"{context(line.symbol)}",
                )
            )
    return out


def check_harvest_bands(
    day: date,
    *,
    account: str,
    proposal_id: int,
    before: Sequence[independent.DriftLine],
    after: Sequence[independent.DriftLine],
    notes: Sequence[str],
    whole_shares: Decimal = ZERO,
    fills: Decimal = ZERO,
) -> list[Violation]:
    """A filled harvest keeps the allocation: no line it leaves outside its band was inside before
    (harvesting sells and buys the substitute, it does not rebalance) -- beyond what the fills'
    prices (`fills`: how far they moved the cash from the plan's estimate, as a weight;
    `harvest_fill_prices`) and the substitutes' whole shares (`whole_shares`: one share of each
    substitute bought, as a weight; `harvest_whole_shares`) may move a line that sat at its
    band's edge -- unless the plan's notes (after its own description, which names every symbol
    it trades) give the reason."""
    was_outside = {line.symbol for line in before if line.outside}
    return [
        Violation(
            day,
            "harvest allocation",
            account,
            f"harvest proposal {proposal_id} filled and moved {line.symbol} out of its band: "
            f"{line.actual * 100:.2f}% against {line.target * 100:.2f}% (band {line.band * 100:.2f} points), "
            "no reason given",
        )
        for line in after
        if line.outside
        and line.symbol not in was_outside
        and abs(line.drift) > line.band + fills + whole_shares
        and not _mentions(notes, line.symbol)
    ]


def harvest_fill_prices(
    inputs: Mapping[str, Any], executed: Mapping[str, tuple[Decimal, Decimal]], planned: Mapping[str, Decimal]
) -> Decimal:
    """How far the fills' prices moved the account from its plan: what the orders raised and spent
    (`executed`: symbol -> (signed shares, cash)) against what the plan estimated (`planned`:
    symbol -> signed cash, its trades' estimated amounts), as a weight of the account's value
    when the plan was made or after the fills, whichever is smaller. A sale filled above the
    plan's price leaves that much more cash, and no line moves by more than that weight."""
    total = _inputs_total(inputs)
    moved = sum(
        (abs(executed.get(symbol, (ZERO, ZERO))[1] - planned.get(symbol, ZERO)) for symbol in {*executed, *planned}),
        ZERO,
    )
    smaller = min(total, total - moved)
    return moved / smaller if smaller > 0 else ZERO


def _holding_rows(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A proposal's inputs' holdings, each as a dict by column."""
    columns = inputs.get("holding_columns") or ["symbol", "quantity", "price", "target_weight", "restricted"]
    return [dict(zip(columns, row, strict=False)) for row in inputs.get("holdings", [])]


def _inputs_total(inputs: Mapping[str, Any]) -> Decimal:
    rows = _holding_rows(inputs)
    return sum((Decimal(r["quantity"]) * Decimal(r["price"]) for r in rows), Decimal(inputs.get("cash", "0")))


def harvest_whole_shares(inputs: Mapping[str, Any], executed: Mapping[str, tuple[Decimal, Decimal]]) -> Decimal:
    """One share of each symbol the harvest bought (at its fills' average price), as a weight of
    the account's value when the plan was made: what whole shares may leave in cash."""
    total = _inputs_total(inputs)
    bought = sum((abs(cash / shares) for shares, cash in executed.values() if shares > 0), ZERO)
    return bought / total if total > 0 else ZERO


@dataclass
class GroupPlan:
    """A household group's proposals of one night and what the group held when they were made:
    per account (shares by symbol, cash with its pending flow), the plan's prices and the model."""

    group: str
    day: date
    proposal_ids: list[int]
    holdings: dict[int, dict[str, Decimal]]
    cash: dict[int, Decimal]
    prices: dict[str, Decimal]
    targets: dict[str, Decimal]
    cash_target: Decimal
    threshold: Decimal
    pairs: dict[str, str]
    notes: list[str]


def group_drift_after(
    plan: GroupPlan, executed: Mapping[int, Mapping[str, tuple[Decimal, Decimal]]]
) -> list[independent.DriftLine]:
    """The household's drift after its plan: every account's holdings and cash summed, the
    executions (per account: symbol -> (signed shares, cash)) applied, substitutes merged."""
    quantities: dict[str, Decimal] = {}
    cash = ZERO
    for account_id, held in plan.holdings.items():
        for symbol, quantity in held.items():
            quantities[symbol] = quantities.get(symbol, ZERO) + quantity
        cash += plan.cash[account_id]
    prices = dict(plan.prices)
    for trades in executed.values():
        for symbol, (shares, cash_delta) in trades.items():
            quantities[symbol] = quantities.get(symbol, ZERO) + shares
            cash += cash_delta
            _price_from_fills(prices, symbol, shares, cash_delta)
    targets = dict(plan.targets)
    independent.merge_substitutes(quantities, prices, targets, plan.pairs)
    return independent.drift(
        quantities=quantities,
        prices=prices,
        cash=cash,
        targets=targets,
        cash_target=plan.cash_target,
        threshold=plan.threshold,
    )


def check_group_bands(plan: GroupPlan, lines: Sequence[independent.DriftLine], day: date) -> list[Violation]:
    """A household group whose night's proposals all filled is inside its bands at the plan's
    prices, or the plan's notes (after the header, which names every symbol) say why."""
    return [
        Violation(
            day,
            "group out of band",
            plan.group,
            f"the group's proposals {plan.proposal_ids} of {plan.day.isoformat()} filled but {line.symbol} is "
            f"{line.actual * 100:.2f}% of the household against {line.target * 100:.2f}% "
            f"(band {line.band * 100:.2f} points) and the plan gives no reason",
        )
        for line in lines
        if line.outside and not _mentions(plan.notes, line.symbol, plan.pairs.get(line.symbol))
    ]


def check_harvest_washes(day: date, seen: set[int], numbers: Mapping[int, str] | None = None) -> list[Violation]:
    """No loss realised by a harvest's sell is disallowed as a wash sale, whichever account of the
    household bought the replacement (`seen`: adjustments already reported)."""
    harvest_entries = Execution.objects.filter(order__proposal__harvest__isnull=False, order__side="sell").values(
        "entry_id"
    )
    found = []
    for pk, account_id, symbol, disallowed in (
        WashSaleAdjustment.objects.filter(closure__entry_id__in=harvest_entries)
        .exclude(pk__in=seen)
        .values_list("pk", "closure__lot__account_id", "closure__lot__security__symbol", "disallowed")
    ):
        seen.add(pk)
        found.append(
            Violation(
                day,
                "harvest washed",
                _label(account_id, numbers),
                f"the harvested loss on {symbol} was disallowed ({disallowed:,.2f}) as a wash sale",
            )
        )
    return found


# --- time-weighted return and fees ----------------------------------------------------------------


def check_twr(
    day: date, *, account: str, kronos: Decimal, points: Sequence[tuple[date, Decimal, Decimal]]
) -> list[Violation]:
    ours = independent.twr(points)
    if abs(ours - kronos) > TWR_TOLERANCE:
        return [
            Violation(
                day,
                "twr",
                account,
                f"Kronos reports {kronos * 100:.8f}%, recomputed from {len(points)} daily values and flows "
                f"{ours * 100:.8f}% (difference {(kronos - ours) * 100:.10f} points)",
            )
        ]
    return []


def check_fee(
    day: date,
    *,
    account: str,
    charged: Decimal,
    values: Mapping[date, Decimal],
    quarter_start: date,
    quarter_end: date,
    opened_on: date,
    closed_on: date | None,
    tiers: Sequence[independent.Tier],
) -> list[Violation]:
    fee, basis, days = independent.quarter_fee(
        values=values,
        quarter_start=quarter_start,
        quarter_end=quarter_end,
        opened_on=opened_on,
        closed_on=closed_on,
        tiers=tiers,
    )
    if fee != charged:
        return [
            Violation(
                day,
                "fee",
                account,
                f"charged {charged:,.2f} for {quarter_start.isoformat()}..{quarter_end.isoformat()}, recomputed "
                f"{fee:,.2f} (average daily balance {basis:,.2f} over {days} days)",
            )
        ]
    return []


def check_notifications(day: date, numbers: Mapping[int, str] | None = None) -> list[Violation]:
    """Every published `order.filled` event has notified its account's advisor (an active user)."""
    told = Notification.objects.filter(event_id=OuterRef("pk"), user_id=OuterRef("household__advisor__user_id"))
    missing = (
        Event.objects.filter(kind="order.filled", position__isnull=False, household__advisor__user__is_active=True)
        .exclude(Exists(told))
        .values_list("account_id", "pk")[:20]
    )
    return [
        Violation(day, "notifications", _label(account_id, numbers), f"fill event {pk} told the advisor nothing")
        for account_id, pk in missing
    ]
