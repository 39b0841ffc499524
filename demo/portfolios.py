"""The demo firm's securities, prices, model portfolios and accounts: deterministic and fast.

`seed(demo)` is called by `seed_demo` after `demo.accounts.seed()`. Prices are a seeded
geometric random walk over two years of business days to today, loaded in bulk; accounts
are funded by `services.transfer_in` (through the ledger, with tax lots) acting as
`demo.acting_user`; some are deliberately drifted past 5 points; valuations are written
for every business day so the performance charts have data.

Many funded accounts at once (tests, benchmarks, load tests) are `demo.books`'s.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import Firm, User
from portfolios import services
from portfolios.models import (
    CashBalance,
    InvestmentAccount,
    Position,
    Price,
    Security,
    ValuationSnapshot,
)

# symbol, name, asset class, starting close, yearly drift, yearly volatility
SECURITIES = [
    ("SPY", "SPDR S&P 500 ETF Trust", "us_equity", 420, 0.08, 0.17),
    ("VTI", "Vanguard Total Stock Market ETF", "us_equity", 210, 0.08, 0.18),
    ("QQQ", "Invesco QQQ Trust", "us_equity", 350, 0.11, 0.24),
    ("IWM", "iShares Russell 2000 ETF", "us_equity", 190, 0.06, 0.23),
    ("VXUS", "Vanguard Total International Stock ETF", "intl_equity", 56, 0.05, 0.16),
    ("EFA", "iShares MSCI EAFE ETF", "intl_equity", 72, 0.05, 0.16),
    ("VWO", "Vanguard FTSE Emerging Markets ETF", "intl_equity", 41, 0.04, 0.20),
    ("BND", "Vanguard Total Bond Market ETF", "bonds", 73, 0.02, 0.06),
    ("AGG", "iShares Core US Aggregate Bond ETF", "bonds", 98, 0.02, 0.06),
    ("TIP", "iShares TIPS Bond ETF", "bonds", 108, 0.02, 0.05),
    ("VNQ", "Vanguard Real Estate ETF", "real_estate", 84, 0.04, 0.21),
    ("GLD", "SPDR Gold Shares", "commodities", 175, 0.04, 0.14),
    ("SHV", "iShares Short Treasury Bond ETF", "cash_equivalent", 110, 0.03, 0.005),
]

MODELS = [
    ("Conservative Income", 3, "0.05", {"BND": "0.40", "AGG": "0.20", "TIP": "0.10", "SPY": "0.15", "VXUS": "0.10"}),
    ("Balanced 60/40", 5, "0.02", {"VTI": "0.40", "VXUS": "0.18", "BND": "0.30", "AGG": "0.10"}),
    ("Growth", 7, "0.02", {"VTI": "0.45", "QQQ": "0.10", "VXUS": "0.20", "VWO": "0.05", "BND": "0.13", "VNQ": "0.05"}),
    ("Aggressive Growth", 8, "0.01", {"VTI": "0.45", "QQQ": "0.20", "IWM": "0.09", "EFA": "0.15", "VWO": "0.10"}),
]

#: The models' benchmarks, in MODELS' order: (symbol, weight) blends.
BENCHMARKS = [
    [("SPY", "0.3"), ("AGG", "0.7")],
    [("SPY", "0.6"), ("AGG", "0.4")],
    [("SPY", "0.8"), ("AGG", "0.2")],
    [("SPY", "0.9"), ("AGG", "0.1")],
]

PRICE_DAYS = 2 * 365
CENT = Decimal("0.01")


def business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def synthetic_prices(days: Sequence[date], *, seed: int = 20260101) -> dict[str, list[tuple[date, Decimal]]]:
    """A seeded geometric random walk per symbol (deterministic: same seed, same prices)."""
    rng = random.Random(seed)  # noqa: S311 -- demo data, not security  # nosec B311 -- not for security: deterministic demo data or retry jitter
    out: dict[str, list[tuple[date, Decimal]]] = {}
    dt = 1 / 252
    for symbol, _name, _cls, start, mu, sigma in SECURITIES:
        price = float(start)
        series = []
        for day in days:
            series.append((day, Decimal(repr(price)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)))
            price *= math.exp((mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1))
        out[symbol] = series
    return out


def seed(demo: Any) -> None:
    user = demo.acting_user
    rng = random.Random(20260102)  # noqa: S311 -- demo data  # nosec B311 -- not for security: deterministic demo data or retry jitter
    today = timezone.localdate()
    days = business_days(today - timedelta(days=PRICE_DAYS), today)

    for symbol, name, asset_class, *_ in SECURITIES:
        services.security_create(symbol=symbol, name=name, asset_class=asset_class, acting_user=user)
    ids = dict(Security.objects.values_list("symbol", "pk"))
    series = synthetic_prices(days)
    services.prices_upsert(
        [(ids[symbol], day, close) for symbol, rows in series.items() for day, close in rows], source="demo"
    )
    close_on = {(symbol, day): close for symbol, rows in series.items() for day, close in rows}

    models = [
        services.model_portfolio_create(
            firm=demo.firm,
            name=name,
            risk_level=risk,
            cash_target=Decimal(cash),
            targets={s: Decimal(w) for s, w in targets.items()},
            description=f"Risk level {risk} of 10.",
            acting_user=user,
        )
        for name, risk, cash, targets in MODELS
    ]
    # Each model is compared with a blend of stocks and bonds near its own mix (rebalanced monthly).
    for model, blend in zip(models, BENCHMARKS, strict=True):
        benchmark = services.benchmark_create(
            firm=demo.firm, name=f"{model.name} benchmark", components=blend, acting_user=user
        )
        services.benchmark_assign(benchmark=benchmark, model=model, acting_user=user)

    start = days[0]
    number = 0
    drifted: list[InvestmentAccount] = []
    for h, household in enumerate(demo.households):
        for k in range(1 + (h % 3 == 0)):
            number += 1
            model = models[(h + k) % len(models)]
            account = services.account_create(
                household=household,
                name=("Joint brokerage" if k == 0 else "Roth IRA") if h % 3 == 0 else "Individual brokerage",
                account_type="roth_ira" if k == 1 else ("joint" if h % 3 == 0 else "individual"),
                custodian_account_number=f"DEMO-{number:05d}",
                opened_on=start,
                fractional_shares=number % 4 == 0,
                acting_user=user,
            )
            # Suitability data comes with the compliance seed (after this one), so the demo
            # assigns its models as initial data, outside model_assign's checks.
            account.model = model
            account._history_user = user  # type: ignore[attr-defined]
            account.save(update_fields=["model"])
            value = Decimal(rng.randrange(80, 1500) * 1000)
            is_drifted = number % 3 == 0
            positions = []
            for target in model.targets.select_related("security"):
                symbol = target.security.symbol
                weight = target.weight
                if is_drifted:  # equities tilted away from the model: past a 5-point band
                    weight = weight * Decimal("1.6") if target.security.asset_class == "us_equity" else weight / 2
                # sized at today's closes, so only the deliberately drifted accounts breach their bands
                price = close_on[(symbol, days[-1])]
                quantity = (value * weight / price).quantize(Decimal(1))
                if quantity <= 0:
                    continue
                # several lots per holding: bought at different costs before the transfer
                split = [quantity // 2, quantity - quantity // 2] if quantity > 1 else [quantity]
                for j, part in enumerate(split):
                    cost = (price * Decimal(str(0.7 + 0.25 * j + rng.random() * 0.2))).quantize(CENT)
                    positions.append(
                        {
                            "symbol": symbol,
                            "quantity": part,
                            "cost_basis": (cost * part).quantize(CENT),
                            "acquired_on": start - timedelta(days=200 + 300 * j + rng.randrange(100)),
                        }
                    )
            cash = (value * model.cash_target).quantize(CENT) + Decimal(rng.randrange(0, 500))
            services.transfer_in(
                account=account,
                positions=positions,
                cash=cash,
                effective_date=start,
                acting_user=user,
                idempotency_key=f"demo-transfer-{account.custodian_account_number}",
            )
            if is_drifted:
                drifted.append(account)

    _write_valuations(days, firm=demo.firm, user=user)


def _write_valuations(days: Sequence[date], *, firm: Firm, user: User) -> None:
    """Every demo account's valuation for every business day, in bulk (only the demo firm's:
    the database may hold other firms, whose books are not the demo's to value).

    The demo's holdings do not change after the opening transfer, so the value of each day
    is those holdings at the day's close; `valuation_snapshots_write` computes the same for
    any day and is what the nightly job runs.
    """
    holdings: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    mine = {"account__household__firm": firm}
    for account_id, security_id, quantity in Position.objects.filter(**mine).values_list(
        "account_id", "security_id", "quantity"
    ):
        holdings[account_id].append((security_id, quantity))
    cash = dict(CashBalance.objects.filter(**mine).values_list("account_id", "amount"))
    closes: dict[tuple[int, date], Decimal] = {
        (s, d): c for s, d, c in Price.objects.filter(date__gte=days[0]).values_list("security_id", "date", "close")
    }
    opened = dict(InvestmentAccount.objects.filter(household__firm=firm).values_list("pk", "opened_on"))
    rows = []
    for account_id, held in holdings.items():
        for day in days:
            if day < opened[account_id]:
                continue
            mv = sum((q * closes[(s, day)] for s, q in held), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_EVEN)
            flow = mv + cash.get(account_id, Decimal(0)) if day == opened[account_id] else Decimal(0)
            rows.append(
                ValuationSnapshot(
                    account_id=account_id,
                    date=day,
                    market_value=mv,
                    cash=cash.get(account_id, Decimal(0)),
                    net_external_flow=flow,
                )
            )
    bulk_create_with_history(
        rows, ValuationSnapshot, default_user=user, default_change_reason="demo valuations", batch_size=5000
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE portfolios_valuationsnapshot")
