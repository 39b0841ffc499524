"""The engine's results, field by field and digit by digit, on 600 varied snapshots, against the
results of the engine as it was before it was made faster (commit 5a66169).

Stored proposals derive their drift rows again from the engine and the simulation recomputes
them independently, so a change in the last digit of a 28-digit quotient is a bug. Each
snapshot's outputs (drift, decision, plan with and without the drift given, cash-flow plan,
the drift derived from the plan's trades) are written out canonically -- every Decimal by its
digits and exponent, every dataclass and row field by field -- and hashed; the hashes of the
reference engine are in `engine_reference.txt`, one line a snapshot.

The snapshots cover absolute and relative bands, `band_share` != 1, cash targets, fractional
shares at 0-9 places, commissions, minimum trades, cash reserves, deposits and withdrawals
(`flow_in_cash` both ways), calendar schedules on and off their due day, restricted holdings,
wash-sale data, lot relief methods, zero-value and negative-cash accounts, zero prices, targets
of 0 for held securities, a symbol held twice, tiny and huge accounts, drift exactly at a band's edge and 28-digit
quotients a unit off it, and the engine benchmark's accounts.

After an intended change of the engine's results, write the file again with
`python -m tests.portfolios.test_engine_reference --write` (with DJANGO_SETTINGS_MODULE set)
and say why in the commit.
"""

import dataclasses
import hashlib
import random
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path
from types import ModuleType
from typing import Any

from portfolios.engine import AccountSnapshot, BandMode, Holding, Lot, rebalancing, trades
from portfolios.engine.wash_sales import Acquisition

REFERENCE = Path(__file__).with_name("engine_reference.txt")
COUNT = 600
AS_OF = date(2025, 6, 2)  # a Monday: the first business day of June
DUE = [date(2025, 6, 2), date(2025, 7, 1), date(2025, 3, 3), date(2025, 11, 3)]
NOT_DUE = [date(2025, 6, 3), date(2025, 6, 14), date(2025, 7, 2), date(2025, 3, 1)]
SYMBOLS = [f"{a}{b}" for a in "ABCDEFGHJK" for b in "XYZQ"]


def _price(rng: random.Random) -> D:
    r = rng.random()
    if r < 0.03:
        return D(0)
    if r < 0.10:
        return D(rng.randint(1, 99)) / 100  # pennies
    if r < 0.20:
        return D(rng.randint(1, 5_000_000)) / 10_000  # 4 places
    if r < 0.25:
        return D(rng.randint(100_000, 10_000_000)) / 100  # huge
    if r < 0.30:
        return D(1)
    return D(rng.randint(100, 60_000)) / 100


def _quantity(rng: random.Random, fractional: bool) -> D:
    r = rng.random()
    if r < 0.1:
        return D(0)
    if fractional and r < 0.5:
        return D(rng.randint(0, 5_000_000_000)) / D(10) ** rng.choice([3, 6, 9])
    if r < 0.15:
        return D(rng.randint(1, 3))
    if r < 0.2:
        return D(rng.randint(10_000, 5_000_000))
    return D(rng.randint(1, 3_000))


def _targets(rng: random.Random, n: int, with_cash: bool) -> list[D]:
    """n + 1 weights (the last is cash's) summing to 1, some 0; a tenth of them not summing to 1."""
    parts = [rng.choice([0, 0, 1, 2, 3, 5, 10, 20, 40]) if rng.random() < 0.85 else 0 for _ in range(n)]
    parts.append(rng.choice([0, 0, 1, 2, 5]) if with_cash else 0)
    if sum(parts) == 0:
        parts[rng.randrange(len(parts))] = 1
    bps = [p * 10_000 // sum(parts) for p in parts]
    bps[rng.randrange(len(bps))] += 10_000 - sum(bps)
    if rng.random() < 0.1:
        bps = [b + rng.randint(0, 50) for b in bps]
    return [D(b) / 10_000 for b in bps]


def _lots(rng: random.Random, quantity: D, price: D) -> tuple[Lot, ...]:
    if not quantity or rng.random() < 0.15:
        return ()
    k = rng.choice([1, 2, 3])
    out = []
    left = quantity
    for j in range(k):
        take = left if j == k - 1 else (left * D(rng.choice(["0.5", "0.3", "0.7"]))).quantize(D("0.001"))
        left -= take
        cost = (price * D(rng.choice(["0.5", "0.9", "1", "1.1", "1.7"]))).quantize(D("0.0001")) if price else D("10.5")
        acquired = AS_OF - timedelta(days=rng.choice([3, 20, 200, 366, 367, 800]))
        out.append(
            Lot(
                rng.choice([j + 1, f"L{j}", 100 - j]),
                take,
                cost,
                acquired,
                held_from=acquired - timedelta(days=300) if rng.random() < 0.1 else None,
                purchase_id=rng.choice([None, None, 77, f"P{j}"]),
            )
        )
    if rng.random() < 0.1:  # lots short of the holding
        out.pop()
    return tuple(out)


def _recent_buys(rng: random.Random, lots: tuple[Lot, ...], symbol: str) -> tuple[Acquisition, ...]:
    if rng.random() < 0.7:
        return ()
    return tuple(
        Acquisition(
            lots[0].lot_id if lots and rng.random() < 0.3 else f"R{j}",
            f"RP{j}",
            1,
            symbol,
            AS_OF - timedelta(days=rng.randint(0, 30)),
            D(rng.randint(1, 50)),
        )
        for j in range(rng.randint(1, 3))
    )


def varied(rng: random.Random, account_id: int) -> AccountSnapshot:
    """Any account: every setting drawn, odd data included."""
    n = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 25]) if rng.random() < 0.9 else rng.randint(0, 30)
    fractional = rng.random() < 0.35
    symbols = rng.sample(SYMBOLS, n)
    if n > 1 and rng.random() < 0.03:  # odd data: a symbol twice
        symbols[-1] = symbols[0]
    targets = _targets(rng, n, rng.random() < 0.5)
    holdings = []
    for symbol, target in zip(symbols, targets[:n], strict=True):
        price = _price(rng)
        quantity = _quantity(rng, fractional)
        lots = _lots(rng, quantity, price)
        holdings.append(
            Holding(
                symbol,
                quantity,
                price,
                target,
                lots,
                restricted=rng.random() < 0.07,
                last_loss_sale_on=AS_OF - timedelta(days=rng.randint(0, 45)) if rng.random() < 0.1 else None,
                recent_buys=_recent_buys(rng, lots, symbol),
                band_share=rng.choice([D(1)] * 8 + [D("0.5"), D("0.3333"), D("0.75"), D(0)]),
            )
        )
    invested = sum((h.quantity * h.price for h in holdings), D(0))
    r = rng.random()
    if r < 0.05:
        cash = D(0)
    elif r < 0.1:
        cash = D("0.01")
    elif r < 0.13:
        cash = -D(rng.randint(1, 100_000)) / 100
    elif r < 0.2:
        cash = D(rng.randint(0, 10**12)) / 100
    else:
        share = D(rng.choice(["0", "0.01", "0.03", "0.08", "0.2", "0.5", "2"]))
        cash = (invested * share).quantize(D("0.01")) + D(rng.randint(0, 10_000)) / 100
    flow = D(0)
    if rng.random() < 0.25:
        flow = D(rng.randint(-3_000_000, 3_000_000)) / 100
        if rng.random() < 0.2:
            flow = -(invested + cash) * D(rng.choice(["0.5", "1", "2"]))  # more than the account has
    schedule = rng.choice(["threshold"] * 6 + ["monthly", "quarterly", "weekly"])
    as_of = rng.choice(DUE + NOT_DUE) if schedule != "threshold" or rng.random() < 0.2 else AS_OF
    return AccountSnapshot(
        account_id=account_id if rng.random() < 0.8 else f"acct-{account_id}",
        as_of=as_of,
        currency=rng.choice(["USD", "EUR", "JPY"]),
        cash=cash,
        holdings=tuple(holdings),
        cash_target=targets[n],
        threshold=rng.choice([D("0.02"), D("0.05"), D("0.10"), D("0.001"), D(0), D("0.0333")]),
        band_mode=rng.choice([BandMode.ABSOLUTE, BandMode.RELATIVE]),
        relative_band=rng.choice([D("0.1"), D("0.25"), D("0.5"), D(0)]),
        cash_reserve=rng.choice([D(0), D(0), D("0.01"), D("0.05"), D("0.2"), D("1.5")]),
        min_trade_amount=rng.choice([D(0), D(0), D(25), D(500), D("0.01"), D(100_000)]),
        fractional_shares=fractional,
        quantity_places=rng.choice([0, 1, 2, 3, 6, 9]),
        external_flow=flow,
        flow_in_cash=rng.random() < 0.5,
        commission_per_trade=rng.choice([D(0), D(0), D("1.00"), D("4.95"), D("0.003"), D(1000)]),
        money_places=rng.choice([2, 2, 2, 0, 3]),
        schedule=schedule,
        lot_method=rng.choice(["hifo", "hifo", "fifo", "tax_optimised", "specific", "bogus"]),
    )


def on_the_edge(rng: random.Random, account_id: int) -> AccountSnapshot:
    """Drift exactly on a band's edge, and a hair (1e-9, 1e-26, 1e-27) either side of it or of
    the target: a round total, values (target +- band) x total."""
    n = rng.choice([2, 3, 5, 10, 20])
    total = D(rng.choice([10_000, 100_000, 1_000_000, 3, 7, 30_000, 12_345_600]))
    threshold = rng.choice([D("0.02"), D("0.05"), D("0.01")])
    relative = rng.random() < 0.3
    relative_band = D("0.25")
    target = (D(1) / n).quantize(D("0.0001")) if rng.random() < 0.3 else D("0.05")
    band = target * relative_band if relative else threshold
    holdings = []
    for i in range(n):
        off = rng.choice([band, -band, D(0), band + D("1e-9"), band - D("1e-9"), D("1e-27"), band + D("1e-26")])
        price = D(1) if rng.random() < 0.7 else D("0.0001")
        holdings.append(Holding(f"E{i:02d}", (target + off) * total / price, price, target))
    return AccountSnapshot(
        account_id=account_id,
        as_of=AS_OF,
        currency="USD",
        cash=total - sum((h.quantity * h.price for h in holdings), D(0)),
        holdings=tuple(holdings),
        cash_target=max(D(1) - target * n, D(0)),
        threshold=threshold,
        band_mode=BandMode.RELATIVE if relative else BandMode.ABSOLUTE,
        relative_band=relative_band,
        fractional_shares=rng.random() < 0.5,
    )


def quotient_ties(rng: random.Random, account_id: int) -> AccountSnapshot:
    """Totals (a prime times a power of ten) whose quotients do not end: values a few 1e-9 off
    (target +- band) x total, so the 28-digit weights round next to the band's edge."""
    n = rng.choice([3, 7, 13])
    total = D(rng.choice([3, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43])) * D(10) ** rng.randint(0, 8)
    band = D(rng.choice(["0.02", "0.05"]))
    target = D(1) / n if rng.random() < 0.5 else D("0.05")
    holdings = []
    for i in range(n):
        off = rng.choice([band, -band, D(0)])
        value = ((target + off) * total).quantize(D("1e-9")) + D(rng.randint(-3, 3)) * D("1e-9")
        holdings.append(Holding(f"Q{i:02d}", value, D(1), target))
    return AccountSnapshot(
        account_id=account_id,
        as_of=AS_OF,
        currency="USD",
        cash=total - sum((h.quantity for h in holdings), D(0)),
        holdings=tuple(holdings),
        threshold=band,
        fractional_shares=True,
    )


def bench_varied(rng: random.Random, snapshot: AccountSnapshot) -> AccountSnapshot:
    return replace(
        snapshot,
        commission_per_trade=rng.choice([D(0), D("4.95")]),
        cash_target=rng.choice([D(0), D("0.02")]),
        band_mode=rng.choice([BandMode.ABSOLUTE, BandMode.RELATIVE]),
        fractional_shares=rng.random() < 0.3,
        threshold=rng.choice([D("0.02"), D("0.05")]),
        external_flow=rng.choice([D(0)] * 6 + [D(5000), D(-5000)]),
        schedule=rng.choice(["threshold"] * 5 + ["monthly"]),
    )


def snapshots(count: int = COUNT, seed: int = 1) -> list[AccountSnapshot]:
    """Half varied accounts, a tenth each on a band's edge and next to it, the rest the engine
    benchmark's accounts as they are and with their settings varied."""
    from bench.bench_engine import accounts

    rng = random.Random(seed)
    bench = accounts(max(count // 4, 1), seed=seed)
    out = []
    for i in range(count):
        r = rng.random()
        if r < 0.5:
            out.append(varied(rng, i))
        elif r < 0.6:
            out.append(on_the_edge(rng, i))
        elif r < 0.7:
            out.append(quotient_ties(rng, i))
        elif r < 0.85:
            out.append(bench[i % len(bench)])
        else:
            out.append(bench_varied(rng, bench[i % len(bench)]))
    return out


def canonical(value: Any) -> Any:
    """Every Decimal by its digits and exponent (so 1.0 and 1.00 differ), dataclasses and named
    tuples field by field, with their type's name."""
    if isinstance(value, D):
        return ("D", str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple((f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value))
        return (type(value).__name__, *fields)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, *((f, canonical(getattr(value, f))) for f in value._fields))
    if isinstance(value, list | tuple):
        return (type(value).__name__, *(canonical(v) for v in value))
    return (type(value).__name__, value)


OUTPUTS = ("drift", "decision", "plan", "plan_given", "cash_flow", "derived")


def outputs(snapshot: AccountSnapshot, r: ModuleType = rebalancing, t: ModuleType = trades) -> dict[str, Any]:
    """The engine's outputs for one snapshot, canonical; an exception counts as an output."""

    def derived() -> Any:
        plan = t.generate_trades(snapshot)
        return r.drift_after_trades(snapshot, [(x.symbol, x.side, x.quantity, x.estimated_amount) for x in plan.trades])

    calls = {
        "drift": lambda: r.calculate_drift(snapshot),
        "decision": lambda: r.decide(snapshot, r.calculate_drift(snapshot)),
        "plan": lambda: t.generate_trades(snapshot),
        "plan_given": lambda: t.generate_trades(
            snapshot, r.calculate_drift(snapshot), decision=r.decide(snapshot, r.calculate_drift(snapshot))
        ),
        "cash_flow": lambda: t.invest_cash_flow(snapshot),
        "derived": derived,
    }
    out = {}
    for name, call in calls.items():
        try:
            out[name] = canonical(call())
        except Exception as exc:  # noqa: BLE001  (the same exception is the same result)
            out[name] = ("raised", type(exc).__name__, str(exc))
    return out


def digests(snapshot: AccountSnapshot, r: ModuleType = rebalancing, t: ModuleType = trades) -> str:
    found = outputs(snapshot, r, t)
    return " ".join(hashlib.sha256(repr(found[name]).encode()).hexdigest()[:12] for name in OUTPUTS)


def test_the_engine_gives_the_reference_results_to_the_last_digit():
    expected = REFERENCE.read_text().splitlines()
    assert len(expected) == COUNT
    differing = []
    for i, snapshot in enumerate(snapshots()):
        found = digests(snapshot)
        if found != expected[i]:
            names = [n for n, a, b in zip(OUTPUTS, found.split(), expected[i].split(), strict=True) if a != b]
            differing.append((i, names))
    assert not differing, f"{len(differing)} snapshots differ (index, outputs): {differing[:10]}"


if __name__ == "__main__" and "--write" in sys.argv:
    import django

    django.setup()
    REFERENCE.write_text("".join(digests(s) + "\n" for s in snapshots()))
