"""The rebalancing engine's hot path: drift and trade plans for 10,000 accounts of 20 holdings,
on the pure engine and through the Kailash workflow in chunks of 1,000 (no database)."""

import gc
import random
from datetime import date, timedelta
from decimal import Decimal

from bench.harness import per_second, timed
from portfolios.engine import AccountSnapshot, Holding, Lot, calculate_drift, cyclic_gc_paused, decide, generate_trades
from portfolios.engine.workflow import run_rebalancing_workflow

ACCOUNTS = 10_000
HOLDINGS = 20
CHUNK = 1_000
AS_OF = date(2025, 6, 2)


def accounts(count: int = ACCOUNTS, seed: int = 7) -> list[AccountSnapshot]:
    """Accounts on a 20-security model (5% each), each holding drifted by a random factor, two tax
    lots a position; roughly half of them breach a 2-point band somewhere."""
    rng = random.Random(seed)
    symbols = [f"S{i:02d}" for i in range(HOLDINGS)]
    prices = [Decimal(rng.randint(1_000, 50_000)) / 100 for _ in symbols]
    target = Decimal("0.05")
    out = []
    for account_id in range(count):
        value = Decimal(rng.randint(50_000, 2_000_000))
        spread = rng.choice([0.05, 0.2, 0.5])
        holdings = []
        for symbol, price in zip(symbols, prices, strict=True):
            quantity = Decimal(int(float(value) * 0.05 * rng.uniform(1 - spread, 1 + spread) / float(price)))
            half = quantity // 2
            lots = (
                Lot(1, half, price * Decimal("0.9"), AS_OF - timedelta(days=400)),
                Lot(2, quantity - half, price * Decimal("1.1"), AS_OF - timedelta(days=40)),
            )
            holdings.append(Holding(symbol, quantity, price, target, lots))
        out.append(
            AccountSnapshot(
                account_id=account_id,
                as_of=AS_OF,
                currency="USD",
                cash=Decimal(rng.randint(0, int(value) // 20)),
                holdings=tuple(holdings),
                threshold=Decimal("0.02"),
                cash_reserve=Decimal("0.01"),
                min_trade_amount=Decimal("50"),
            )
        )
    return out


def run() -> list[tuple[str, str]]:
    snapshots = accounts()
    figures = []

    seconds, reports = timed(lambda: [calculate_drift(s) for s in snapshots], repeat=3)
    figures.append((f"drift, engine only ({ACCOUNTS:,} accounts x {HOLDINGS} holdings)", per_second(ACCOUNTS, seconds)))

    def plans_only():
        return [generate_trades(s, d, decision=decide(s, d)) for s, d in zip(snapshots, reports, strict=True)]

    seconds, plans = timed(plans_only, repeat=3)
    needed = sum(p.needed for p in plans)
    figures.append(("decision + trade plans, engine only (drift given)", per_second(ACCOUNTS, seconds)))
    figures.append(("  accounts needing trades", f"{needed:,} of {ACCOUNTS:,}"))
    figures.append(("  trades proposed", f"{sum(len(p.trades) for p in plans):,}"))

    seconds, _ = timed(lambda: [generate_trades(s) for s in snapshots], repeat=3)
    figures.append(("drift + decision + trade plans, engine only", per_second(ACCOUNTS, seconds)))

    def without_cyclic_gc():
        gc.disable()
        try:
            return [generate_trades(s) for s in snapshots]
        finally:
            gc.enable()

    seconds, _ = timed(without_cyclic_gc, repeat=3)
    figures.append(("  the same with the cyclic GC paused (as the workflow nodes do)", per_second(ACCOUNTS, seconds)))

    def engine_in_chunks():
        # the fair comparison for the workflow: the same chunks, the collector paused per chunk,
        # and the 10,000 plans kept alive (the collector's passes between chunks walk them)
        out = {}
        for start in range(0, ACCOUNTS, CHUNK):
            with cyclic_gc_paused():
                out.update({s.account_id: generate_trades(s) for s in snapshots[start : start + CHUNK]})
        return out

    seconds, _ = timed(engine_in_chunks, repeat=3)
    figures.append(
        (f"  the same in chunks of {CHUNK:,}, GC paused per chunk (no workflow)", per_second(ACCOUNTS, seconds))
    )

    def through_workflow():
        out = {}
        for start in range(0, ACCOUNTS, CHUNK):
            out.update(run_rebalancing_workflow(snapshots=snapshots[start : start + CHUNK]))
        return out

    run_rebalancing_workflow(snapshots=snapshots[:1])  # imports, node registry, workflow build
    seconds, by_workflow = timed(through_workflow, repeat=3)
    assert len(by_workflow) == ACCOUNTS
    figures.append((f"all four steps through the Kailash workflow, chunks of {CHUNK:,}", per_second(ACCOUNTS, seconds)))

    single, _ = timed(lambda: run_rebalancing_workflow(snapshots=snapshots[:1]), repeat=20)
    figures.append(("workflow overhead: one run of a one-account chunk", f"{single * 1000:.1f} ms"))
    return figures


if __name__ == "__main__":
    import django

    django.setup()
    for label, value in run():
        print(f"  {label:<70} {value}")
