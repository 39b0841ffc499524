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
- 16:30  the tax-loss harvesting scan (`trading.harvest_scan`): proposals the advisors approve
         in the morning (a quarter of the opening households also hold an IRA, the two accounts a
         rebalancing group, which the nightly's household stage rebalances as one);
- 17:30  the nightly job (`operations.nightly`: prices from the market-data sandbox, valuations,
         drift scan with proposals and automatic approvals, household rebalancing groups,
         settlement T+1, reconciliation) runs
         through its Celery task, eagerly — or, once with `--faults`, its drift scan runs on a real
         Celery worker that is killed mid-scan and restarted;
- the first day of a quarter the billing job previews the last quarter's fees, operations
         approves them, the custodian debits them.

After every business day the invariants (`invariants`) are checked against the simulator's own
figures. The world's random choices come from one generator seeded by `--seed`; the sandbox
custodian's faults from its own, keyed by the order (see its docstring): a seed replays a run.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from decimal import Decimal

import requests

from notifications.models import Notification
from operations import tasks
from operations.models import FeeCharge
from sandboxes.simulation import invariants
from sandboxes.simulation.config import Config, Summary
from sandboxes.simulation.reporting import Reporting
from trading import tasks as trading_tasks
from trading.lifecycle import END_STATES
from trading.models import CashTransfer, Execution, Order
from trading.services import (
    order_review_decide,
)

__all__ = ["Config", "Simulation", "Summary"]

# After the last day, mornings of trading rounds while an order is still open: the last night's
# proposals go out the first; a buy their sells release at its close, the second.
FINISH_MORNINGS = 3


class _Phases:
    """The seconds each part of a simulated day took, for its line ("morning 1.2, rounds 9.8, ...")."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._seconds: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self._seconds.append((name, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in self._seconds)


class Simulation(Reporting):
    """The simulated firm and its days: `Simulation(config).run()` returns the summary."""

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
        phases = _Phases()
        self.clock.at(day, 9, 30)
        self.world_events(day)
        self.advisor_decisions(day)
        phases.mark("morning")
        for _ in range(self.config.rounds):
            self.clock.shift(45)
            self.trading_round()
        phases.mark("rounds")
        self.clock.at(day, 16, 0)
        self.close_of_day()
        phases.mark("close")
        if self.config.harvesting:
            self.clock.at(day, 16, 30)
            trading_tasks.harvest_scan.delay(day.isoformat())
            phases.mark("harvest")
        self.clock.at(day, 17, 30)
        if day == self.kill_day:
            self.nightly_with_killed_worker(day)
        else:
            tasks.nightly.delay(day.isoformat())
        self.publish_events()
        phases.mark("nightly")
        self.analyse_as_autovacuum_would()
        self.summary.business_days += 1
        self.after_night(day)
        phases.mark("checks")
        row = self.csv_rows[-1]
        self.say(
            f"{day.isoformat()}: {row['accounts']} accounts, value {Decimal(row['total_value']):,.0f}, "
            f"{row['orders']} orders, {row['fills']} fills, {row['violations']} violations "
            f"[{phases}] ({time.monotonic() - began:.1f} s)"
        )

    def trading_round(self) -> None:
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
        trading_tasks.relay_outbox.delay()
        self.deliver(everything=True)
        self.custodian.close_day()
        self.deliver(everything=True)
        self.mirror_transfers()

    def mirror_transfers(self) -> None:
        """Transfers the bank settled move the cash at the custodian too (the world's side)."""
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

    def mornings_after(self, last: date) -> None:
        """Trading rounds and a close on each morning after `last` until every order has ended
        (at most `FINISH_MORNINGS`)."""
        for morning in range(1, FINISH_MORNINGS + 1):
            nxt = last + timedelta(days=morning)
            self.clock.at(nxt, 9, 30)
            self.today = nxt
            for _ in range(self.config.rounds):
                self.clock.shift(30)
                self.trading_round()
            self.close_of_day()
            self.summary.counts["mornings after the last day"] = morning
            if not Order.objects.exclude(status__in=END_STATES).exists():
                return

    def finish(self) -> None:
        """The mornings after the last day: the orders still queued go out and end -- another
        morning while any has not (a buy its proposal's sells released at a close goes out the
        next morning, as on any day), at most `FINISH_MORNINGS`; then every order must have ended."""
        last = self.days[-1]
        self.mornings_after(last)
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
        self.summary.counts["notifications"] = Notification.objects.count()
        if self.config.csv_path:
            self.write_csv(self.config.csv_path)
