"""After each night: the accounts' values from the custodian's books, the invariants checked
against the simulator's own figures, and the daily CSV row."""

from __future__ import annotations

import csv
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from operations.models import JobRun, ReconciliationBreak
from portfolios.models import InvestmentAccount
from portfolios.selectors import account_performance
from sandboxes.simulation import invariants
from sandboxes.simulation.config import CENT, ZERO
from sandboxes.simulation.faults import Faults
from sandboxes.simulation.invariants import Violation
from trading.lifecycle import END_STATES
from trading.models import Execution, Order, RebalanceProposal


def _business_days_before(days: list[date], day: date, n: int) -> date | None:
    earlier = [d for d in days if d <= day]
    return earlier[-1 - n] if len(earlier) > n else None


class Reporting(Faults):
    def after_night(self, day: date, *, final: bool = False) -> None:
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
        found += invariants.check_notifications(day, self.numbers)
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

    # --- the daily CSV -----------------------------------------------------------------------------------

    def csv_row(self, day: date, violations: int) -> None:
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
