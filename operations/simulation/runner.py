"""The simulated firm: its world (clients, markets, custodian, bank) and its days.

Each business day, on a simulated clock (time-machine moves every clock of the process, so
every service, the sandboxes and the webhook signatures see the simulated day):

- 09:30  the world acts: deposits and withdrawals (through `transfer_create`, the outbox and the
         sandbox bank over HTTP; a settled transfer moves the cash at the custodian too), model
         changes, model switches, new households with new accounts; the simulated advisors
         approve (or leave, or discard) last night's proposals of the accounts in approval mode;
- then trading rounds every half hour: compliance decides orders waiting for review, the outbox
         relay task sends orders to the sandbox custodian over HTTP, the custodian fills them and
         its signed webhooks are posted to the web endpoint `/webhooks/custodian/` of a real
         HTTP server in this process (the fills post to the ledger there); the events relay
         publishes the round's events, as beat runs it (not after every commit);
- 16:00  the close: day orders still open expire at the custodian, every webhook is delivered;
- 17:30  the nightly job (`operations.nightly`: prices from the market-data sandbox, valuations,
         drift scan with proposals and automatic approvals, settlement T+1, reconciliation) runs
         through its Celery task, eagerly — or, once with `--faults`, its drift scan runs on a real
         Celery worker that is killed mid-scan and restarted;
- the first day of a quarter the billing job previews the last quarter's fees, operations
         approves them, the custodian debits them.

After every business day the invariants (`invariants`) are checked against the simulator's own
figures. The world's random choices come from one generator seeded by `--seed`; the sandbox
custodian's faults from its own, keyed by the order (see its docstring): a seed replays a run.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import signal
import subprocess  # nosec B404 -- our own celery worker for the kill test
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.db import connection

from operations.simulation import independent, invariants
from operations.simulation.invariants import Violation
from operations.simulation.market import Market, corporate_actions
from portfolios.adapters.market_data.sandbox import CorporateActionStore

logger = logging.getLogger(__name__)
NY = ZoneInfo("America/New_York")
ZERO = Decimal(0)
CENT = Decimal("0.01")
SECRET = "simulation-webhook-secret"  # noqa: S105  # nosec B105 -- the sandbox's, not a credential
# The firm's fee schedule: marginal tiers of basis points a year.
FEE_TIERS = [
    independent.Tier(Decimal("1000000"), Decimal("100")),
    independent.Tier(Decimal("5000000"), Decimal("75")),
    independent.Tier(None, Decimal("50")),
]
MODEL_NAMES = ["Growth", "Balanced", "Income tilt", "Core equity", "Diversified"]


@dataclass
class Config:
    accounts: int = 100
    days: int = 60
    seed: int = 1
    faults: bool = False
    start: date | None = None
    csv_path: Path | None = None
    data_dir: Path | None = None
    automatic_share: float = 0.3  # accounts in automatic mode; the rest wait for their advisor
    rounds: int = 4  # trading rounds a day
    end_days: int = 3  # business days an order may stay open
    twr_sample: int = 200  # accounts whose return is checked each day (all of them on the last)
    kill_worker: bool | None = None  # default: with --faults
    verbose: bool = False  # keep the services' log lines
    # Corporate actions the run must have whatever its length ("dividend", "split", "reverse_split"):
    # one each, on held symbols, on days spread over the run (market.corporate_actions).
    force_actions: tuple[str, ...] = ()
    reinvest_share: int = 3  # every n-th account reinvests its dividends
    out: Callable[[str], None] = print


@dataclass
class Summary:
    business_days: int = 0
    calendar_days: int = 0
    accounts: int = 0
    orders: int = 0
    fills: int = 0
    breaks: int = 0
    unreconciled: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def days_per_second(self) -> float:
        return self.business_days / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        extra = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return [
            f"days {self.business_days} (business; {self.calendar_days} calendar), accounts {self.accounts}, "
            f"orders {self.orders}, fills {self.fills}, breaks {self.breaks}, violations {len(self.violations)}, "
            f"{self.days_per_second:.3f} days/s ({self.seconds:.1f} s)",
            f"also: {extra}",
        ]


class AnnouncedActions(CorporateActionStore):
    """The market-data sandbox's corporate-action store, listing each event from the day it was
    announced (a feed knows no event before its declaration, as it knows no close after today)."""

    def __init__(self, today: Callable[[], date]) -> None:
        super().__init__()
        self.today = today
        self.announced: dict[str, date] = {}

    def announce(self, kind: str, row: dict[str, Any], *, on: date) -> None:
        self.announced[str(row["id"])] = on
        self.add(kind, row)

    def query(self, kind: str, params: dict[str, str]) -> list[dict[str, Any]]:
        now = self.today()
        return [r for r in super().query(kind, params) if self.announced.get(str(r["id"]), now) <= now]


class Clock:
    """The simulated time of the whole process (time-machine), ticking from where it is put."""

    def __init__(self) -> None:
        self._traveller: Any = None
        self._coordinates: Any = None

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        moment = datetime.combine(day, clock_time(hour, minute), tzinfo=NY)
        if self._traveller is None:
            import time_machine

            self._traveller = time_machine.travel(moment, tick=True)
            self._coordinates = self._traveller.start()
        else:
            self._coordinates.move_to(moment)

    def shift(self, minutes: float) -> None:
        self._coordinates.shift(timedelta(minutes=minutes))

    def stop(self) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None


class WebServer:
    """Kronos's web application on a loopback port, one request at a time (the custodian's
    webhooks arrive here through the real view, signature check and all)."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

        class Quiet(WSGIRequestHandler):
            disable_nagle_algorithm = True  # no ~40 ms delayed-ACK wait per webhook

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = WSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
        self.server.set_app(WSGIHandler())
        self.thread = threading.Thread(target=self._serve, name="simulation-web", daemon=True)
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def _serve(self) -> None:
        try:
            self.server.serve_forever(poll_interval=0.05)
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def celery_default_queue() -> str:
    from kronos.celery import app as celery_app

    return str(celery_app.conf.task_default_queue or "celery")


def _business_days_before(days: list[date], day: date, n: int) -> date | None:
    earlier = [d for d in days if d <= day]
    return earlier[-1 - n] if len(earlier) > n else None


class Simulation:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311  # nosec B311 -- a seeded simulation, not security
        self.market = Market.load(config.data_dir)
        self.days = self.market.window(config.days, start=config.start, rng=self.rng)
        self.symbols = self.market.symbols_covering(self.days)
        self.summary = Summary()
        self.clock = Clock()
        self.numbers: dict[int, str] = {}  # account id -> custodian account number
        self.flows: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        self.values: dict[int, dict[date, Decimal]] = defaultdict(dict)
        self.pending_transfers: dict[int, tuple[int, str, Decimal, date]] = {}
        self.awaiting_fees: dict[int, str] = {}  # fee charge -> custodian account, raising its cash
        self.checked_proposals: set[int] = set()
        self.kill_day: date | None = None
        self.today: date = self.days[0]
        self.csv_rows: list[dict[str, Any]] = []
        self._stack: list[Callable[[], None]] = []

    def say(self, text: str) -> None:
        self.config.out(text)

    # --- services --------------------------------------------------------------------------------

    def start_services(self) -> None:
        from django.test.utils import override_settings

        from kronos.celery import app as celery_app
        from portfolios.adapters.market_data import sandbox as market_sandbox
        from trading.adapters.banking.sandbox import SandboxBank
        from trading.adapters.custodian.sandbox import SandboxCustodian

        self.custodian = SandboxCustodian(secret=SECRET, seed=self.config.seed)
        custodian_url = self.custodian.start()
        self._stack.append(self.custodian.stop)
        self.bank = SandboxBank(seed=self.config.seed)
        bank_url = self.bank.start()
        self._stack.append(self.bank.stop)
        # The corporate-actions feed (Polygon's dividends and splits) the nightly stage reads: the
        # simulation's own events (`draw_corporate_actions`), each listed from its announcement.
        self.corporate_actions = AnnouncedActions(lambda: self.today)
        self.market_server = market_sandbox.ThreadingHTTPServer(
            ("127.0.0.1", 0), market_sandbox.make_handler(self._served_series, self.corporate_actions)
        )
        self.market_server.daemon_threads = True
        threading.Thread(target=self.market_server.serve_forever, name="simulation-market", daemon=True).start()
        self._stack.append(self.market_server.server_close)
        self._stack.append(self.market_server.shutdown)
        host, port = self.market_server.server_address[:2]
        self.web = WebServer()
        self._stack.append(self.web.stop)
        self.custodian_url = custodian_url
        overrides = override_settings(
            CUSTODIAN_URL=custodian_url,
            CUSTODIAN_WEBHOOK_SECRET=SECRET,
            CUSTODIAN_RETRIES=3,
            CUSTODIAN_BACKOFF_SECONDS=0.001,
            BANKING_ADAPTER="sandbox",
            BANKING_URL=bank_url,
            MARKET_DATA_ADAPTER="sandbox",
            MARKET_DATA_URL=f"http://{host!s}:{port}",
            TRADING_RELAY_ON_COMMIT=False,  # the relay runs as beat runs it: every round
        )
        overrides.enable()
        self._stack.append(overrides.disable)
        saved = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
        celery_app.conf.task_always_eager = True
        celery_app.conf.task_eager_propagates = True
        self._stack.append(lambda: self._restore_celery(saved))
        self._stack.append(self.clock.stop)
        # A custodian takes orders after the close and works them at the next open (the killed
        # worker's night relays its automatic approvals at once; the trading rounds are the open).
        self.custodian.options.market_hours = True
        if self.config.faults:
            self.custodian.options.update(
                {
                    "fail_rate": 0.3,
                    "duplicate_rate": 0.2,
                    "reorder": True,
                    "reject_rate": 0.02,
                    "partial_rate": 0.15,
                    "defer_rate": 0.25,
                }
            )

    def events_at_beat_cadence(self) -> None:
        """Events are published as beat publishes them (`accounts.events_relay` every round and
        after the night, like the outbox relay), not by a relay run after every commit: the same
        code, once for many commits."""
        from django.test.utils import override_settings

        overrides = override_settings(EVENTS_PUBLISH_ON_COMMIT=False)
        overrides.enable()
        self._stack.append(overrides.disable)

    def publish_events(self) -> None:
        from accounts import tasks as accounts_tasks

        accounts_tasks.events_relay.delay()

    @staticmethod
    def _restore_celery(saved: tuple[bool, bool]) -> None:
        from kronos.celery import app as celery_app

        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved

    def stop_services(self) -> None:
        while self._stack:
            try:
                self._stack.pop()()
            except Exception:
                logger.warning("stopping a simulation service failed", exc_info=True)

    def _served_series(self, symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
        # Never a close after the simulated day: the market-data sandbox knows no future.
        last = min(end, self.today) if end else self.today
        return self.market.series(symbol, start, last)

    def _custodian_post(self, path: str, body: dict[str, Any]) -> None:
        response = requests.post(f"{self.custodian_url}{path}", json=body, timeout=10)
        response.raise_for_status()

    # --- the firm ---------------------------------------------------------------------------------

    def setup(self) -> None:
        from accounts.services import advisor_create, firm_create, system_user, user_create
        from compliance.models import ComplianceSettings
        from operations import services as ops
        from portfolios.models import InvestmentAccount
        from portfolios.services import model_portfolio_create, security_create

        if InvestmentAccount.objects.exists():
            raise RuntimeError(
                "simulate_firm needs a database without accounts: its nightly job runs for the whole "
                "database (make simulate creates a scratch one)."
            )
        first = self.days[0]
        self.clock.at(first, 8, 0)
        self.system = system_user()
        seed = self.config.seed
        self.firm = firm_create(name=f"Simulated Advisors {seed}", slug=f"simulated-{seed}", acting_user=self.system)
        ComplianceSettings.objects.get_or_create(firm=self.firm)
        self.advisors = []
        for i in range((self.config.accounts - 1) // 100 + 1):
            user = user_create(
                email=f"advisor{i + 1}.sim{seed}@sim.kronos",
                password=None,
                full_name=f"Simulated Advisor {i + 1}",
                firm=self.firm,
                acting_user=self.system,
            )
            self.advisors.append(advisor_create(user=user, firm=self.firm, acting_user=self.system))
        self.compliance_user = user_create(
            email=f"compliance.sim{seed}@sim.kronos",
            password=None,
            full_name="Simulated Compliance",
            roles=["compliance officer"],
            firm=self.firm,
            acting_user=self.system,
        )
        self.ops_user = user_create(
            email=f"ops.sim{seed}@sim.kronos",
            password=None,
            full_name="Simulated Operations",
            roles=["operations"],
            firm=self.firm,
            is_staff=True,
            acting_user=self.system,
        )
        from portfolios.models import Security

        existing = set(Security.objects.filter(symbol__in=self.symbols).values_list("symbol", flat=True))
        for symbol in self.symbols:
            if symbol not in existing:
                security_create(symbol=symbol, name=f"{symbol} (history)", acting_user=self.system)
        holdable = [s for s in self.symbols if s != "SPY"] or self.symbols
        self.models = []
        for i, name in enumerate(MODEL_NAMES[: max(2, min(len(MODEL_NAMES), len(holdable) // 3))]):
            count = min(len(holdable), self.rng.choice([5, 6, 7, 8]))
            picks = self.rng.sample(holdable, count)
            weights = self._weights(count)
            self.models.append(
                model_portfolio_create(
                    firm=self.firm,
                    name=f"{name} (sim {seed})",
                    risk_level=3 + i % 5,
                    targets=dict(zip(picks, weights, strict=True)),
                    cash_target=Decimal("0.02"),
                    acting_user=self.system,
                )
            )
        self.draw_corporate_actions()
        self.schedule = ops.fee_schedule_create(
            firm=self.firm,
            name="Standard tiered",
            acting_user=self.system,
            method="tiered",
            tiers=[(t.up_to, t.bps) for t in FEE_TIERS],
        )
        for i in range(self.config.accounts):
            self.open_account(first, opening=True, index=i)

    def _weights(self, count: int) -> list[Decimal]:
        """Weights in whole percents, none above 20%, summing to 98% (2% cash target)."""
        while True:
            raw = [self.rng.uniform(0.5, 1.5) for _ in range(count)]
            scale = 98 / sum(raw)
            points = [max(4, min(20, int(r * scale))) for r in raw]
            points[-1] += 98 - sum(points)
            if all(4 <= p <= 20 for p in points):
                return [Decimal(p) / 100 for p in points]

    def open_account(self, day: date, *, opening: bool, index: int) -> int:
        """A new household with one investor (KYC-approved, risk profile done) and an account on a
        model, funded by a transfer of shares and cash from another custodian (opening) or by a
        deposit (an account that arrives later)."""

        from accounts.services import household_create, investor_create
        from compliance.demo import clear_for_trading
        from portfolios.models import InvestmentAccount
        from portfolios.services import account_create, transfer_in
        from trading.services import transfer_create

        seed = self.config.seed
        advisor = self.advisors[index % len(self.advisors)]
        household = household_create(
            firm=self.firm, name=f"Household {index + 1:05d}", advisor=advisor, acting_user=self.system
        )
        investor = investor_create(
            firm=self.firm,
            first_name="Client",
            last_name=f"{index + 1:05d}",
            household=household,
            acting_user=self.system,
        )
        clear_for_trading(
            investor, acting_user=self.system, reference=f"sim-{seed}-{index}", reason="simulated onboarding"
        )
        from operations import services as ops

        ops.fee_schedule_assign(household=household, schedule=self.schedule, acting_user=self.system)
        model = self.models[index % len(self.models)]
        automatic = self.rng.random() < self.config.automatic_share
        number = f"SIM{seed}-{index + 1:06d}"
        account = account_create(
            household=household,
            name=f"Account {index + 1:05d}",
            custodian_account_number=number,
            acting_user=self.system,
            model=model,
            opened_on=day,
            drift_threshold=Decimal("0.05"),
            reinvest_dividends=self.reinvests(index),
            rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC
            if automatic
            else InvestmentAccount.RebalanceMode.APPROVAL,
        )
        self.numbers[account.pk] = number
        size = Decimal(int(self.rng.lognormvariate(12.3, 0.9))).quantize(Decimal(1))  # ~ $220k median
        size = max(Decimal(20000), min(size, Decimal(5000000)))
        if opening:
            before = self.market.previous_day(day)
            targets = {t.security.symbol: t.weight for t in model.targets.select_related("security")}
            positions = []
            spent = ZERO
            for symbol, weight in sorted(targets.items()):
                tilt = Decimal(str(round(self.rng.uniform(0.75, 1.25), 2)))
                price = self.market.close(symbol, before)
                quantity = (size * weight * tilt / price).to_integral_value(rounding=ROUND_DOWN)
                if quantity <= 0:
                    continue
                cost = (quantity * price * Decimal(str(round(self.rng.uniform(0.6, 1.1), 2)))).quantize(CENT)
                positions.append(
                    {
                        "symbol": symbol,
                        "quantity": quantity,
                        "cost_basis": cost,
                        "acquired_on": day - timedelta(days=400 + self.rng.randrange(0, 900)),
                    }
                )
                spent += quantity * price
            cash = max(Decimal(1000), (size - spent).quantize(CENT)) if spent < size else Decimal("1000.00")
            transfer_in(
                account=account,
                acting_user=self.system,
                idempotency_key=f"sim:{seed}:open:{number}",
                positions=positions,
                cash=cash,
                effective_date=day,
                memo="Transfer in from the previous custodian",
            )
            if positions:  # the previous custodian's transfer arrives whole
                self._custodian_post(
                    f"/v1/accounts/{number}/positions",
                    {"positions": [{"symbol": p["symbol"], "quantity": str(p["quantity"])} for p in positions]},
                )
            self._custodian_post(f"/v1/accounts/{number}/cash", {"amount": str(cash)})
            value = sum((p["quantity"] * self.market.close(p["symbol"], day) for p in positions), ZERO)
            self.flows[account.pk][day] += value.quantize(CENT, rounding=ROUND_HALF_EVEN) + cash
        else:
            transfer = transfer_create(
                account=account,
                direction="deposit",
                amount=size.quantize(CENT),
                acting_user=advisor.user,
                idempotency_key=f"sim:{seed}:fund:{number}",
            )
            self.pending_transfers[transfer.pk] = (account.pk, "deposit", transfer.amount, day)
            self.summary.counts["new accounts"] += 1
        return account.pk

    # --- corporate actions ---------------------------------------------------------------------------

    def draw_corporate_actions(self) -> None:
        """The run's dividends and splits (`market.corporate_actions`, from a generator of their own
        so the world's choices stay what the seed made them), served unadjusted from now on; each
        registered with the market-data feed (listed from its announcement, as Polygon lists it)
        and with the custodian, which processes them from its own books (a real one learns them
        from its own feed). A split's cash in lieu is paid at the ex-date close: the price Kronos
        takes when the feed gives none (`portfolios.services.corporate_actions.cash_in_lieu_price`)."""
        rng = random.Random(f"corporate-actions:{self.config.seed}")  # noqa: S311  # nosec B311 -- seeded simulation
        held = sorted({t.security.symbol for m in self.models for t in m.targets.select_related("security")})
        self.market.actions = corporate_actions(
            self.market, self.symbols, self.days, rng, force=self.config.force_actions, held=held
        )
        for action in self.market.actions:
            if action.is_dividend:
                self.corporate_actions.announce(
                    "dividends",
                    {
                        "id": action.id,
                        "ticker": action.symbol,
                        "cash_amount": action.amount,
                        "currency": "USD",
                        "declaration_date": action.declared.isoformat() if action.declared else None,
                        "ex_dividend_date": action.ex_date.isoformat(),
                        "record_date": action.record_date.isoformat() if action.record_date else None,
                        "pay_date": action.pay_date.isoformat(),
                        "dividend_type": "CD",
                        "frequency": 4,
                    },
                    on=action.declared or action.ex_date,
                )
                self._custodian_post(
                    "/v1/corporate-actions",
                    {
                        "id": action.id,
                        "type": "cash_dividend",
                        "symbol": action.symbol,
                        "ex_date": action.ex_date.isoformat(),
                        "pay_date": action.pay_date.isoformat(),
                        "cash_amount": str(action.amount),
                    },
                )
                self.summary.counts["corporate actions: dividends"] += 1
                continue
            self.corporate_actions.announce(
                "splits",
                {
                    "id": action.id,
                    "ticker": action.symbol,
                    "execution_date": action.ex_date.isoformat(),
                    "split_from": action.split_from,
                    "split_to": action.split_to,
                },
                on=action.declared or action.ex_date,
            )
            self._custodian_post(
                "/v1/corporate-actions",
                {
                    "id": action.id,
                    "type": "split",
                    "symbol": action.symbol,
                    "ex_date": action.ex_date.isoformat(),
                    "split_to": str(action.split_to),
                    "split_from": str(action.split_from),
                    "cash_in_lieu_price": str(self.market.close(action.symbol, action.ex_date)),
                },
            )
            self.summary.counts[f"corporate actions: {'reverse splits' if action.is_reverse else 'splits'}"] += 1

    def in_plan_shares(self, symbol: str, quantity: Decimal, *, planned: date, traded: date) -> Decimal:
        """Shares executed on `traded` in the shares of a plan made on `planned`: a split Kronos
        applied in between (ex-date after the plan's night, on or before the trade) is undone."""
        for action in self.market.actions:
            if action.symbol == symbol and not action.is_dividend and planned < action.ex_date <= traded:
                quantity = quantity / action.ratio
        return quantity

    def reinvests(self, index: int) -> bool:
        """Whether the index-th account reinvests its dividends (every `reinvest_share`-th)."""
        share = self.config.reinvest_share
        return share > 0 and index % share == share - 1

    def count_corporate_actions(self) -> None:
        """What Kronos did with them, for the summary."""
        from django.db.models import Count, Q

        from portfolios.models import CorporateAction, CorporateActionEntitlement

        done = CorporateAction.objects.aggregate(
            paid=Count("pk", filter=Q(status=CorporateAction.Status.PAID)),
            applied=Count("pk", filter=Q(status=CorporateAction.Status.APPLIED)),
        )
        entitlements = CorporateActionEntitlement.objects.aggregate(
            dividends=Count("pk", filter=Q(status=CorporateActionEntitlement.Status.PAID)),
            reinvested=Count("pk", filter=Q(reinvested_at__isnull=False)),
            in_lieu=Count("pk", filter=Q(cash_in_lieu__gt=0)),
        )
        self.summary.counts["corporate actions: dividends paid"] = done["paid"]
        self.summary.counts["corporate actions: splits applied"] = done["applied"]
        self.summary.counts["corporate actions: accounts paid a dividend"] = entitlements["dividends"]
        self.summary.counts["corporate actions: dividends reinvested"] = entitlements["reinvested"]
        self.summary.counts["corporate actions: cash in lieu"] = entitlements["in_lieu"]

    # --- the day -----------------------------------------------------------------------------------

    def run(self) -> Summary:
        started = time.monotonic()
        quiet = logging.getLogger()
        level = quiet.level
        if not self.config.verbose:
            quiet.setLevel(logging.ERROR)  # the services' INFO and WARNING lines (injected faults are expected)
            self._stack.append(lambda: quiet.setLevel(level))
        self.start_services()
        self.events_at_beat_cadence()
        try:
            self.setup()
            if self.config.faults if self.config.kill_worker is None else self.config.kill_worker:
                self.kill_day = self.days[len(self.days) // 2]
            calendar = [self.days[0] + timedelta(days=i) for i in range((self.days[-1] - self.days[0]).days + 1)]
            trading = set(self.days)
            for day in calendar:
                self.today = day
                self.summary.calendar_days += 1
                if day.day == 1 and day.month in (1, 4, 7, 10):
                    self.billing(day)
                if day in trading:
                    self.business_day(day)
            self.finish()
        finally:
            self.summary.seconds = time.monotonic() - started
            self.stop_services()
        return self.summary

    def business_day(self, day: date) -> None:
        began = time.monotonic()
        self.clock.at(day, 9, 30)
        self.world_events(day)
        self.advisor_decisions(day)
        for _ in range(self.config.rounds):
            self.clock.shift(45)
            self.trading_round()
        self.clock.at(day, 16, 0)
        self.close_of_day()
        self.clock.at(day, 17, 30)
        if day == self.kill_day:
            self.nightly_with_killed_worker(day)
        else:
            from operations import tasks

            tasks.nightly.delay(day.isoformat())
        self.publish_events()
        self.summary.business_days += 1
        self.after_night(day)
        row = self.csv_rows[-1]
        self.say(
            f"{day.isoformat()}: {row['accounts']} accounts, value {Decimal(row['total_value']):,.0f}, "
            f"{row['orders']} orders, {row['fills']} fills, {row['violations']} violations "
            f"({time.monotonic() - began:.1f} s)"
        )

    def trading_round(self) -> None:
        from trading import tasks as trading_tasks
        from trading.models import Order
        from trading.services import order_review_decide

        for order in Order.objects.filter(status="pending_review").order_by("pk"):
            order_review_decide(order=order, approve=True, acting_user=self.compliance_user, note="reviewed")
            self.summary.counts["reviewed"] += 1
        trading_tasks.relay_outbox.delay()
        self.custodian.fill_held()  # orders queued since the close, held ones, partial rests
        self.deliver()
        self.mirror_transfers()
        self.publish_events()

    def deliver(self, *, everything: bool = False) -> None:
        session = requests.Session()
        url = f"{self.web.url}/webhooks/custodian/"

        def send(body: bytes, headers: dict[str, str]) -> int:
            return session.post(url, data=body, headers=headers, timeout=30).status_code

        if not everything:
            self.custodian.deliver_pending(send)
            return
        saved = self.custodian.options.defer_rate
        self.custodian.options.defer_rate = 0.0
        try:
            for _ in range(50):
                if not self.custodian.pending_webhook_count():
                    break
                self.custodian.deliver_pending(send)
        finally:
            self.custodian.options.defer_rate = saved
        if self.custodian.pending_webhook_count():
            self.say(f"warning: {self.custodian.pending_webhook_count()} webhooks still refused at the close")

    def close_of_day(self) -> None:
        from trading import tasks as trading_tasks

        trading_tasks.relay_outbox.delay()
        self.deliver(everything=True)
        self.custodian.close_day()
        self.deliver(everything=True)
        self.mirror_transfers()

    def mirror_transfers(self) -> None:
        """Transfers the bank settled move the cash at the custodian too (the world's side)."""
        from trading.models import CashTransfer

        self.mirror_fees()
        if not self.pending_transfers:
            return
        rows = CashTransfer.objects.filter(pk__in=list(self.pending_transfers)).values_list(
            "pk", "status", "entry__effective_date"
        )
        for pk, status, entry_day in rows:
            if status not in (CashTransfer.Status.SETTLED, CashTransfer.Status.FAILED):
                continue
            account_id, direction, amount, day = self.pending_transfers.pop(pk)
            if status == CashTransfer.Status.SETTLED:
                signed = amount if direction == "deposit" else -amount
                self._custodian_post(f"/v1/accounts/{self.numbers[account_id]}/cash", {"amount": str(signed)})
                # A withdrawal that waited for its sales left the day its entry says.
                self.flows[account_id][entry_day if direction == "withdrawal" and entry_day else day] += signed
            elif entry_day is None and direction == "withdrawal":
                self.summary.counts["withdrawals whose sales fell short"] += 1
            else:
                self.summary.counts["transfers failed at the bank"] += 1

    def mirror_fees(self) -> None:
        """Fees that waited for their sales and were debited overnight are debited at the custodian."""
        from operations.models import FeeCharge

        if not self.awaiting_fees:
            return
        for pk, status, amount in FeeCharge.objects.filter(pk__in=list(self.awaiting_fees)).values_list(
            "pk", "status", "amount"
        ):
            if status == FeeCharge.Status.DEBITED:
                self._custodian_post(f"/v1/accounts/{self.awaiting_fees.pop(pk)}/cash", {"amount": str(-amount)})
                self.summary.counts["fees raised by sales"] += 1
            elif status == FeeCharge.Status.FAILED:
                self.awaiting_fees.pop(pk)
                self.summary.counts["fees not debited"] += 1

    # --- the world ----------------------------------------------------------------------------------

    def world_events(self, day: date) -> None:
        from portfolios.models import InvestmentAccount
        from trading.errors import TradingError
        from trading.services import transfer_create, withdrawal_request
        from trading.services.common import withdrawable_cash

        seed = self.config.seed
        accounts = list(
            InvestmentAccount.objects.filter(status=InvestmentAccount.Status.OPEN, household__firm=self.firm)
            .select_related("household__advisor__user")
            .order_by("pk")
        )
        for account in accounts:
            roll = self.rng.random()
            value = self._latest_value(account.pk)
            if roll < 0.012:
                amount = max(Decimal(100), (value * Decimal(str(self.rng.uniform(0.01, 0.1)))).quantize(Decimal(100)))
                try:
                    transfer = transfer_create(
                        account=account,
                        direction="deposit",
                        amount=amount.quantize(CENT),
                        acting_user=account.household.advisor.user,
                        idempotency_key=f"sim:{seed}:dep:{account.pk}:{day.isoformat()}",
                    )
                except TradingError as exc:
                    self.summary.counts["deposits refused"] += 1
                    logger.info("deposit refused: %s", exc)
                    continue
                self.pending_transfers[transfer.pk] = (account.pk, "deposit", transfer.amount, day)
                self.summary.counts["deposits"] += 1
            elif roll < 0.02:
                wanted = (value * Decimal(str(self.rng.uniform(0.005, 0.05)))).quantize(Decimal(100), ROUND_DOWN)
                available = withdrawable_cash(account)
                # Half of them (by the same roll) may be larger than the cash: the advisor sells to raise it.
                raise_cash = roll < 0.016 and account.model_id is not None
                amount = (wanted if raise_cash else min(wanted, available)).quantize(Decimal(100), ROUND_DOWN)
                if amount < 100:
                    self.summary.counts["withdrawals without cash"] += 1
                    continue
                try:
                    transfer, raising = withdrawal_request(
                        account=account,
                        amount=amount.quantize(CENT),
                        acting_user=account.household.advisor.user,
                        idempotency_key=f"sim:{seed}:wd:{account.pk}:{day.isoformat()}",
                        approve=raise_cash,
                    )
                    if raising is not None:
                        self.summary.counts["withdrawals raising cash"] += 1
                except TradingError as exc:
                    self.summary.counts["withdrawals refused"] += 1
                    logger.info("withdrawal refused: %s", exc)
                    continue
                self.pending_transfers[transfer.pk] = (account.pk, "withdrawal", transfer.amount, day)
                self.summary.counts["withdrawals"] += 1
        if self.rng.random() < 0.03:
            self.change_a_model()
        if accounts and self.rng.random() < 0.03:
            self.switch_a_model(self.rng.choice(accounts))
        arrivals = sum(1 for _ in range(max(1, self.config.accounts // 100)) if self.rng.random() < 0.05)
        for _ in range(arrivals):
            index = len(self.numbers)
            self.open_account(day, opening=False, index=index)

    def _latest_value(self, account_id: int) -> Decimal:
        series = self.values.get(account_id)
        if not series:
            return Decimal(100000)
        return series[max(series)]

    def change_a_model(self) -> None:
        from portfolios.services import model_portfolio_update

        model = self.rng.choice(self.models)
        targets = {t.security.symbol: t.weight for t in model.targets.select_related("security")}
        donors = [s for s, w in sorted(targets.items()) if w >= Decimal("0.10")]
        takers = [s for s, w in sorted(targets.items()) if w <= Decimal("0.15")]
        if not donors or not takers:
            return
        donor = self.rng.choice(donors)
        taker = self.rng.choice([s for s in takers if s != donor] or takers)
        if donor == taker:
            return
        targets[donor] -= Decimal("0.05")
        targets[taker] += Decimal("0.05")
        model_portfolio_update(model=model, targets=targets, acting_user=self.system)
        self.summary.counts["model changes"] += 1

    def switch_a_model(self, account: Any) -> None:
        from portfolios.services import model_assign

        others = [m for m in self.models if m.pk != account.model_id]
        if not others:
            return
        model_assign(account=account, model=self.rng.choice(others), acting_user=account.household.advisor.user)
        self.summary.counts["model switches"] += 1

    def advisor_decisions(self, day: date) -> None:
        """Last night's proposals of accounts in approval mode: most approved, some left, a few discarded."""
        from trading.errors import TradingError
        from trading.models import RebalanceProposal
        from trading.services import proposal_approve, proposal_discard

        proposals = (
            RebalanceProposal.objects.filter(
                status=RebalanceProposal.Status.PROPOSED,
                needed=True,
                account__rebalance_mode="approval",
                account__household__firm=self.firm,
            )
            .select_related("account__household__advisor__user")
            .order_by("pk")
        )
        for proposal in proposals:
            roll = self.rng.random()
            advisor = proposal.account.household.advisor.user
            if roll < 0.85:
                try:
                    proposal_approve(proposal=proposal, acting_user=advisor)
                    self.summary.counts["approved by advisors"] += 1
                except TradingError as exc:
                    self.summary.counts["approvals refused"] += 1
                    logger.info("approval refused: %s", exc)
            elif roll < 0.9:
                proposal_discard(proposal=proposal, acting_user=advisor)
                self.summary.counts["discarded"] += 1

    # --- billing --------------------------------------------------------------------------------------

    def billing(self, day: date) -> None:
        from operations import fees as fee_math
        from operations import services as ops
        from operations import tasks
        from operations.models import BillingRun

        self.clock.at(day, 6, 0)
        tasks.billing.delay(day.isoformat())
        start, end = fee_math.previous_quarter(day)
        for run in BillingRun.objects.filter(firm=self.firm, period_start=start, status=BillingRun.Status.DRAFT):
            ops.billing_run_approve(run=run, acting_user=self.ops_user, effective_date=day)
            self.summary.counts["billing runs"] += 1
            for charge in run.charges.select_related("account").order_by("account_id"):
                self.summary.counts["fees"] += 1
                account = charge.account
                self.summary.violations += self._report(
                    invariants.check_fee(
                        day,
                        account=self.numbers.get(account.pk, str(account.pk)),
                        charged=charge.amount,
                        values=self.values.get(account.pk, {}),
                        quarter_start=start,
                        quarter_end=end,
                        opened_on=account.opened_on,
                        closed_on=account.closed_on,
                        tiers=FEE_TIERS,
                    )
                )
                if charge.status == "debited" and charge.amount > 0:
                    self._custodian_post(
                        f"/v1/accounts/{account.custodian_account_number}/cash", {"amount": str(-charge.amount)}
                    )
                elif charge.status == "awaiting_cash":
                    self.awaiting_fees[charge.pk] = account.custodian_account_number or ""
                elif charge.status == "failed":
                    self.summary.counts["fees not debited"] += 1

    # --- the worker killed mid-scan -------------------------------------------------------------------

    def nightly_with_killed_worker(self, day: date) -> None:
        """The night's chain with its drift scan on a real Celery worker, SIGKILLed once the first
        chunk has committed (a chunk sleeps inside its transaction, so the kill lands mid-chunk), then
        a second worker that takes over the unacknowledged chunk; settlement and reconciliation
        follow on it. Checked: the scan ends succeeded, every chunk done once, one proposal an account."""
        from collections import Counter

        from kronos.celery import app as celery_app
        from operations import jobs
        from operations.models import JobChunk, JobRun
        from trading.models import RebalanceProposal

        for stage in ("prices", "corporate_actions", "valuations"):
            jobs.stage_start(stage, day)
        queue = f"simulation-{os.getpid()}"
        celery_app.conf.task_always_eager = False
        from django.test.utils import override_settings

        # Four chunks or more, so the kill lands with some done and some not.
        overrides = override_settings(OPERATIONS_QUEUE=queue, OPERATIONS_CHUNK_SIZE=max(1, len(self.numbers) // 4))
        overrides.enable()
        workers: list[subprocess.Popen[bytes]] = []
        logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"simulation-worker-{os.getpid()}"  # noqa: S108  # nosec B108
        logs.mkdir(parents=True, exist_ok=True)
        try:
            workers.append(self._start_worker("killed", queue, logs / "killed.log", delay=1.0))
            run = jobs.stage_start("drift_scan", day, then=["settlement", "reconciliation"])
            if run is None:
                raise RuntimeError("the drift scan had already run")
            self._wait(lambda: JobChunk.objects.filter(run=run, status="done").exists(), 90, logs, "first chunk")
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait(timeout=10)
            done_at_kill = JobChunk.objects.filter(run=run, status="done").count()
            time.sleep(6)  # the visibility timeout: Redis hands the unacknowledged chunk out again
            workers.append(self._start_worker("restarted", queue, logs / "restarted.log", delay=0.0))
            self._wait(
                lambda: (
                    JobRun.objects.filter(job="reconciliation", business_date=day)
                    .exclude(status=JobRun.Status.RUNNING)
                    .exists()
                ),
                180,
                logs,
                "the night to finish on the restarted worker",
            )
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
            overrides.disable()
            celery_app.conf.task_always_eager = True
        run.refresh_from_db()
        self.summary.counts["workers killed"] += 1
        problems = []
        if run.status != JobRun.Status.SUCCEEDED:
            problems.append(f"the drift scan ended {run.status}: {run.errors[:3]}")
        attempts = list(JobChunk.objects.filter(run=run).values_list("attempts", flat=True))
        if done_at_kill >= len(attempts):
            problems.append("the scan had finished before the kill")
        if any(a != 1 for a in attempts):
            problems.append(f"chunk attempts {attempts}: a chunk committed more than once")
        # The scan's own proposals carry its run key (unique in the table, so a chunk redone cannot
        # add a second); each account of the run's chunks must have exactly one. (A deposit's or a
        # withdrawal's cash-flow proposal the same day has no run key and is not the scan's.)
        scanned = Counter(
            a for ids in JobChunk.objects.filter(run=run).values_list("account_ids", flat=True) for a in ids
        )
        proposed = Counter(
            RebalanceProposal.objects.filter(as_of=day, run_key__startswith="scheduled:").values_list(
                "account_id", flat=True
            )
        )
        if any(n != 1 for n in scanned.values()):
            problems.append("an account was in more than one chunk of the scan")
        missing = sorted(set(scanned) - set(proposed))
        if missing:
            problems.append(f"{len(missing)} scanned accounts got no proposal (first: {missing[:5]})")
        twice = sorted(a for a, n in proposed.items() if n > 1)
        if twice:
            problems.append(f"{len(twice)} accounts got more than one scheduled proposal (first: {twice[:5]})")
        for problem in problems:
            self.summary.violations += self._report([Violation(day, "worker kill", "-", problem)])

    def _start_worker(self, name: str, queue: str, log: Path, *, delay: float) -> subprocess.Popen[bytes]:
        from django.utils import timezone

        db = connection.settings_dict
        url = (
            f"postgres://{db['USER'] or 'postgres'}"
            + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
            + f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "REDIS_URL": getattr(settings, "REDIS_URL", "") or settings.CELERY_BROKER_URL,
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "OPERATIONS_TEST_CHUNK_DELAY_SECONDS": str(delay),
            "CUSTODIAN_URL": settings.CUSTODIAN_URL,
            "CUSTODIAN_WEBHOOK_SECRET": SECRET,
            "MARKET_DATA_URL": settings.MARKET_DATA_URL,
            "BANKING_URL": settings.BANKING_URL,
            "KRONOS_SIMULATED_NOW": timezone.now().isoformat(),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "kronos.settings",
        }
        return subprocess.Popen(  # noqa: S603  # nosec B603 -- our own worker, fixed arguments
            [
                sys.executable,
                "-m",
                "operations.simulation.worker",
                "-A",
                "kronos",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                # The chunks go to the simulation's queue; the stages after the scan are queued by the
                # worker itself, on the default queue (OPERATIONS_QUEUE is this process's setting only).
                f"--queues={queue},{celery_default_queue()}",
                "--loglevel=INFO",
                f"--hostname={name}-{os.getpid()}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def _wait(predicate: Callable[[], bool], timeout: float, logs: Path, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob("*.log")))
        raise RuntimeError(f"timed out waiting for {what}\n{tails}")

    # --- after the night: the invariants ---------------------------------------------------------------

    def _report(self, found: list[Violation]) -> list[Violation]:
        for v in found:
            self.say(v.line())
        return found

    def after_night(self, day: date, *, final: bool = False) -> None:
        from operations.models import JobRun, ReconciliationBreak

        self.record_values(day)
        found: list[Violation] = []
        found += invariants.check_ledger(day)
        found += invariants.check_reconciliation(day, self.numbers)
        found += invariants.check_balances(day, self.numbers)
        open_before = None if final else _business_days_before(self.days, day, self.config.end_days)
        if final or open_before is not None:
            found += invariants.check_orders(day, open_before=open_before, numbers=self.numbers)
        found += self.check_proposals(day)
        found += self.check_returns(day, everyone=final or day == self.days[-1])
        self.summary.violations += self._report(found)
        run = JobRun.objects.filter(job="reconciliation", business_date=day).first()
        if run is not None:
            self.summary.unreconciled += int(run.counts.get("failed", 0))
        self.summary.breaks = ReconciliationBreak.objects.count()
        self.csv_row(day, len(found))

    def record_values(self, day: date) -> None:
        """Each account's value at the close from the custodian's own books and the market's close."""
        for account_id, number in self.numbers.items():
            statement = self.custodian.statement(number, day)
            positions = {s: Decimal(q) for s, q in statement["positions"].items()}
            if not positions and Decimal(statement["cash"]) == 0 and not self.flows[account_id]:
                continue
            market_value = sum((q * self.market.close(s, day) for s, q in positions.items()), ZERO)
            self.values[account_id][day] = market_value.quantize(CENT, rounding=ROUND_HALF_EVEN) + Decimal(
                statement["cash"]
            )

    def check_proposals(self, day: date) -> list[Violation]:
        from trading.lifecycle import END_STATES
        from trading.models import Execution, RebalanceProposal

        found: list[Violation] = []
        approved = (
            RebalanceProposal.objects.filter(status=RebalanceProposal.Status.APPROVED)
            .exclude(pk__in=self.checked_proposals)
            .prefetch_related("orders__security")
            .order_by("pk")
        )
        for proposal in approved:
            orders = list(proposal.orders.all())
            if not orders or any(o.status not in END_STATES for o in orders):
                continue
            self.checked_proposals.add(proposal.pk)
            found += invariants.check_rejections(day, [proposal], self.numbers)
            if any(o.status != "filled" for o in orders):
                self.summary.counts["proposals not fully filled"] += 1
                continue
            executed: dict[str, tuple[Decimal, Decimal]] = {}
            for symbol, side, quantity, amount, traded in Execution.objects.filter(
                order__proposal=proposal
            ).values_list("order__security__symbol", "order__side", "quantity", "amount", "trade_date"):
                quantity = self.in_plan_shares(symbol, quantity, planned=proposal.as_of, traded=traded)
                sign = Decimal(1) if side == "buy" else Decimal(-1)
                shares, cash = executed.get(symbol, (ZERO, ZERO))
                executed[symbol] = (shares + sign * quantity, cash - sign * amount)
            lines = invariants.drift_after_plan(proposal.inputs, executed)
            found += invariants.check_bands(
                day,
                account=self.numbers.get(proposal.account_id, str(proposal.account_id)),
                proposal_id=proposal.pk,
                lines=lines,
                notes=list(proposal.notes or []),
            )
            self.summary.counts["proposals filled and checked"] += 1
        return found

    def check_returns(self, day: date, *, everyone: bool) -> list[Violation]:
        from portfolios.models import InvestmentAccount
        from portfolios.selectors import account_performance

        ids = sorted(a for a in self.values if day in self.values[a])
        if not everyone and len(ids) > self.config.twr_sample:
            offset = (self.days.index(day) * self.config.twr_sample) % len(ids)
            ids = (ids[offset:] + ids[:offset])[: self.config.twr_sample]
        found: list[Violation] = []
        accounts = InvestmentAccount.objects.in_bulk(ids)
        for account_id in ids:
            account = accounts[account_id]
            series = self.values[account_id]
            days = sorted(d for d in series if account.opened_on <= d <= day)
            if len(days) < 2:
                continue
            points = [(d, series[d], self.flows[account_id].get(d, ZERO)) for d in days]
            kronos = account_performance(account, days[0], day).period_return
            found += invariants.check_twr(day, account=self.numbers[account_id], kronos=kronos, points=points)
        return found

    def finish(self) -> None:
        """The morning after the last day: the orders still queued go out and end; then every order
        must have ended."""
        from trading.models import Execution, Order

        last = self.days[-1]
        nxt = last + timedelta(days=1)
        self.clock.at(nxt, 9, 30)
        self.today = nxt
        for _ in range(self.config.rounds):
            self.clock.shift(30)
            self.trading_round()
        self.close_of_day()
        self.today = last
        found = invariants.check_orders(last, open_before=None, numbers=self.numbers)
        found += invariants.check_ledger(last)
        self.summary.violations += self._report(found)
        self.summary.accounts = len(self.numbers)
        self.summary.orders = Order.objects.count()
        self.summary.fills = Execution.objects.count()
        stats = self.custodian.stats
        for key in ("injected_failures", "duplicates_deduped", "injected_rejections", "partial_orders",
                    "deferred_webhooks", "expired_orders"):  # fmt: skip
            self.summary.counts[f"custodian {key.replace('_', ' ')}"] = getattr(stats, key)
        self.count_corporate_actions()
        if self.config.csv_path:
            self.write_csv(self.config.csv_path)

    # --- the daily CSV -----------------------------------------------------------------------------------

    def csv_row(self, day: date, violations: int) -> None:
        from trading.models import Execution, Order

        total = sum((v[day] for v in self.values.values() if day in v), ZERO)
        self.csv_rows.append(
            {
                "date": day.isoformat(),
                "accounts": sum(1 for v in self.values.values() if day in v),
                "total_value": f"{total:.2f}",
                "net_flows": f"{sum((f.get(day, ZERO) for f in self.flows.values()), ZERO):.2f}",
                "orders": Order.objects.filter(created_at__date=day).count(),
                "fills": Execution.objects.filter(trade_date=day).count(),
                "breaks": self.summary.breaks,
                "violations": violations,
            }
        )

    def write_csv(self, path: Path) -> None:
        if not self.csv_rows:
            return
        with Path(path).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.csv_rows[0]))
            writer.writeheader()
            writer.writerows(self.csv_rows)
