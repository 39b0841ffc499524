"""The simulation's harness: its clock (time-machine), the sandboxes and Kronos's web server on
loopback ports, the settings and Celery mode they run under, and the state every part shares."""

from __future__ import annotations

import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

import requests
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.db import connection
from django.test.utils import override_settings

from accounts import tasks as accounts_tasks
from kronos.celery import app as celery_app
from portfolios.adapters.market_data.csv_file import CorporateActionStore
from sandboxes.banking import SandboxBank
from sandboxes.custodian import SandboxCustodian
from sandboxes.market_data import make_handler
from sandboxes.simulation.config import NY, SECRET, ZERO, Config, Summary
from sandboxes.simulation.invariants import GroupPlan, Violation
from sandboxes.simulation.market import Market

logger = logging.getLogger(__name__)


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
        # This thread serves every request: its connection is kept from one to the next (a
        # persistent connection, CONN_MAX_AGE=None for this thread's connection only) rather
        # than opened again for each webhook -- an eighth of a fill's time in a 2,000-account
        # run's profile. Django still drops it after an error that left it unusable.
        connection.settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": None}
        try:
            self.server.serve_forever(poll_interval=0.05)
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def celery_default_queue() -> str:
    return str(celery_app.conf.task_default_queue or "celery")


class Harness:
    """The simulated firm's state and its services; `Simulation` adds the firm and its days."""

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
        self.group_plans: list[GroupPlan] = []  # household groups' plans waiting for their fills
        self.reported_washes: set[int] = set()  # wash-sale adjustments of harvests already reported
        self.pairs: dict[int, dict[str, str]] = {}  # model -> security -> its harvest substitute
        self.kill_day: date | None = None
        self.today: date = self.days[0]
        self.csv_rows: list[dict[str, Any]] = []
        self._stack: list[Callable[[], None]] = []

    def say(self, text: str) -> None:
        self.config.out(text)

    # --- services --------------------------------------------------------------------------------

    def analyse_as_autovacuum_would(self) -> None:
        """The database's own housekeeping, when its server runs without it: a production server
        analyses a table once 50 rows and a tenth of it changed (autovacuum's defaults); a test
        server (CI's, `autovacuum = off`) never does, and a run on it would plan its queries on no
        statistics at all -- the household's wash-sale history, read at every fill, scanned the
        whole firm's month of lot closures by date (8 ms against 0.5 ms once analysed, a 2,000-
        account run's first fortnight). Each night the tables past that mark are analysed."""
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            if cursor.fetchone()[0] == "on":
                return
            cursor.execute(
                "SELECT relname FROM pg_stat_user_tables "
                "WHERE n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0) ORDER BY relname"
            )
            tables = [name for (name,) in cursor.fetchall()]
            for name in tables:
                cursor.execute(f'ANALYZE "{name}"')  # nosec B608 -- names read from pg_stat_user_tables
        self.summary.counts["database tables analysed (autovacuum off)"] += len(tables)

    def start_services(self) -> None:
        self.custodian = SandboxCustodian(secret=SECRET, seed=self.config.seed)
        custodian_url = self.custodian.start()
        self._stack.append(self.custodian.stop)
        self.bank = SandboxBank(seed=self.config.seed)
        bank_url = self.bank.start()
        self._stack.append(self.bank.stop)
        # The corporate-actions feed (Polygon's dividends and splits) the nightly stage reads: the
        # simulation's own events (`draw_corporate_actions`), each listed from its announcement.
        self.corporate_actions = AnnouncedActions(lambda: self.today)
        self.market_server = ThreadingHTTPServer(
            ("127.0.0.1", 0), make_handler(self._served_series, self.corporate_actions)
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
            # The notifications' emails are sent, into memory (not printed on the console).
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
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
        overrides = override_settings(EVENTS_PUBLISH_ON_COMMIT=False)
        overrides.enable()
        self._stack.append(overrides.disable)

    def publish_events(self) -> None:
        accounts_tasks.events_relay.delay()

    @staticmethod
    def _restore_celery(saved: tuple[bool, bool]) -> None:
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

    def _report(self, found: list[Violation]) -> list[Violation]:
        for v in found:
            self.say(v.line())
        return found
