"""A large synthetic book for benchmarks and load tests: `seed_scale(accounts=100_000)`.

Built with PostgreSQL COPY in a few big statements (about 30 s for 100,000 accounts of 15
holdings). Securities are the 20 of /work/shared/data/stock_prices.csv (their last close)
plus generated ones; 4 models of 15 securities; households of two accounts; positions of
5-30 holdings (15 on average) drifted at random around the model; one tax lot per holding;
cash; today's prices.

DOCUMENTED EXCEPTION (synthetic benchmark book only): the balances are written directly, not
through the ledger, and no history rows are written for the bulk rows. A book built this way
is for measuring the batch; `portfolios.ledger.verify()` does not hold on it. Never run it on
a database with real clients (the command refuses when any account exists unless --force).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Advisor, Firm, User
from kronos.readcache import copy_rows
from portfolios.models import InvestmentAccount, ModelPortfolio, ModelTarget, Security

SHARED_DATA = Path(settings.SHARED_DATA_DIR)
GENERATED = 40
MODEL_SIZE = 15


def _ids(table: str, where: str = "") -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} {where} ORDER BY id")  # noqa: S608 -- fixed names  # nosec B608 -- identifiers from model _meta or code, values as parameters
        return [r[0] for r in cursor.fetchall()]


def real_closes() -> dict[str, Decimal]:
    """The last close of each symbol of the shared stock prices file."""
    with (SHARED_DATA / "stock_prices.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    header, last = rows[0], rows[-1]
    return {s.upper(): Decimal(v) for s, v in zip(header[1:], last[1:], strict=True) if v}


def seed_scale(
    *, accounts: int, firm_name: str = "Scale Advisory", seed: int = 7, as_of: date | None = None
) -> dict[str, int]:
    """Build the book; returns counts. PostgreSQL only."""
    if connection.vendor != "postgresql":
        raise RuntimeError("seed_scale uses COPY: PostgreSQL only.")
    rng = random.Random(seed)  # noqa: S311 -- synthetic data  # nosec B311 -- not for security: deterministic demo data or retry jitter
    as_of = as_of or timezone.localdate()
    now = timezone.now()
    with transaction.atomic():
        firm = Firm.objects.create(name=firm_name, slug=firm_name.lower().replace(" ", "-")[:60])
        advisors = []
        for i in range(20):
            user = User.objects.create(email=f"advisor{i}@{firm.slug}.example", full_name=f"Advisor {i}", firm=firm)
            advisors.append(Advisor.objects.create(user=user, firm=firm))

        closes = real_closes()
        for i in range(GENERATED):
            closes[f"SYN{i:02d}"] = Decimal(rng.randint(1000, 40000)) / 100
        existing = set(Security.objects.values_list("symbol", flat=True))
        Security.objects.bulk_create([Security(symbol=s, name=f"{s} (scale)") for s in closes if s not in existing])
        securities = dict(Security.objects.filter(symbol__in=list(closes)).values_list("symbol", "pk"))
        copy_rows(
            "portfolios_price",
            ["security_id", "date", "close", "source", "updated_at"],
            ((securities[s], as_of, c, "scale", now) for s, c in closes.items()),
        )

        symbols = sorted(closes)
        models = []
        for m in range(4):
            model = ModelPortfolio.objects.create(
                firm=firm, name=f"Scale model {m}", risk_level=3 + m * 2, cash_target=Decimal("0.02")
            )
            chosen = rng.sample(symbols, MODEL_SIZE)
            weight = (Decimal("0.98") / MODEL_SIZE).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
            weights = [weight] * (MODEL_SIZE - 1) + [Decimal("0.98") - weight * (MODEL_SIZE - 1)]
            ModelTarget.objects.bulk_create(
                [
                    ModelTarget(model=model, security_id=securities[s], weight=w)
                    for s, w in zip(chosen, weights, strict=True)
                ]
            )
            models.append((model.pk, chosen))

        households = (accounts + 1) // 2
        copy_rows(
            "accounts_household",
            ["firm_id", "name", "advisor_id", "status", "notes", "created_at", "updated_at"],
            (
                (firm.pk, f"Scale household {i:07d}", advisors[i % len(advisors)].pk, "active", "", now, now)
                for i in range(households)
            ),
        )
        household_ids = _ids("accounts_household", f"WHERE firm_id = {int(firm.pk)}")
        opened = as_of - timedelta(days=400)
        account_rows = []
        for i in range(accounts):
            model_id, _ = models[i % 4]
            account_rows.append(
                (
                    household_ids[i // 2],
                    f"Scale account {i}",
                    "individual",
                    f"SC{firm.pk:03d}{i:08d}",
                    "USD",
                    model_id,
                    Decimal("0.05"),
                    "absolute",
                    Decimal("0.25"),
                    Decimal("0.01"),
                    Decimal("0"),
                    False,
                    InvestmentAccount.RebalanceMode.APPROVAL,
                    "open",
                    opened,
                    now,
                    now,
                )
            )
        copy_rows(
            "portfolios_investmentaccount",
            [
                "household_id",
                "name",
                "account_type",
                "custodian_account_number",
                "base_currency",
                "model_id",
                "drift_threshold",
                "band_mode",
                "relative_band",
                "cash_reserve",
                "min_trade_amount",
                "fractional_shares",
                "rebalance_mode",
                "status",
                "opened_on",
                "created_at",
                "updated_at",
            ],
            account_rows,
        )
        account_ids = _ids(
            "portfolios_investmentaccount",
            f"WHERE household_id >= {household_ids[0]} AND household_id <= {household_ids[-1]}",
        )

        positions, lots, cash = [], [], []
        acquired = as_of - timedelta(days=300)
        for n, account_id in enumerate(account_ids):
            _, chosen = models[n % 4]
            count = max(5, min(30, int(rng.gauss(15, 4))))
            held = (
                list(chosen[:count])
                if count <= MODEL_SIZE
                else chosen + rng.sample([s for s in symbols if s not in chosen], count - MODEL_SIZE)
            )
            value = Decimal(rng.randint(50_000, 2_000_000))
            for symbol in held:
                share = Decimal(rng.uniform(0.3, 1.9)) / count
                qty = (value * share / closes[symbol]).quantize(Decimal(1))
                if qty <= 0:
                    continue
                positions.append((account_id, securities[symbol], qty, now))
                cost = (closes[symbol] * Decimal(rng.uniform(0.7, 1.2))).quantize(Decimal("0.000001"))
                lots.append((account_id, securities[symbol], qty, qty, cost, acquired))
            cash.append((account_id, "USD", (value * Decimal(rng.uniform(0, 0.08))).quantize(Decimal("0.01")), now))
        copy_rows("portfolios_position", ["account_id", "security_id", "quantity", "updated_at"], positions)
        copy_rows(
            "portfolios_taxlot",
            ["account_id", "security_id", "quantity", "original_quantity", "cost_per_share", "acquired_on"],
            lots,
        )
        copy_rows("portfolios_cashbalance", ["account_id", "currency", "amount", "updated_at"], cash)
    with connection.cursor() as cursor:
        for table in (
            "portfolios_position",
            "portfolios_taxlot",
            "portfolios_cashbalance",
            "portfolios_investmentaccount",
        ):
            cursor.execute(f"ANALYZE {table}")
    return {"accounts": len(account_ids), "households": households, "positions": len(positions), "lots": len(lots)}


def seed_valuations(*, account_ids: Sequence[int], first: date, last: date, every_days: int = 1, seed: int = 7) -> int:
    """Valuation snapshots for [first, last] every `every_days` (synthetic; COPY, no history)."""
    rng = random.Random(seed)  # noqa: S311 -- synthetic data  # nosec B311 -- not for security: deterministic demo data or retry jitter
    now = timezone.now()
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=every_days)

    def rows():  # type: ignore[no-untyped-def]
        for account_id in account_ids:
            base = rng.randint(50_000, 2_000_000)
            for d in days:
                base = int(base * rng.uniform(0.99, 1.011))
                yield (account_id, d, Decimal(base), Decimal(base // 50), Decimal(0), now)

    copy_rows(
        "portfolios_valuationsnapshot",
        ["account_id", "date", "market_value", "cash", "net_external_flow", "created_at"],
        rows(),
    )
    return len(account_ids) * len(days)
