"""After each night: the accounts' values from the custodian's books, the invariants checked
against the simulator's own figures, and the daily CSV row."""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from operations.models import JobRun, ReconciliationBreak
from portfolios.models import InvestmentAccount, RebalancingGroupMember
from portfolios.selectors import account_performance, engine_snapshots
from sandboxes.simulation import invariants
from sandboxes.simulation.config import CENT, ZERO
from sandboxes.simulation.faults import Faults
from sandboxes.simulation.invariants import Violation
from trading.lifecycle import END_STATES
from trading.models import INPUTS_RELATED, Execution, Order, RebalanceProposal

GROUP_HEADER = "Household rebalancing, group"  # the first note of a household group's proposals


def _business_days_before(days: list[date], day: date, n: int) -> date | None:
    earlier = [d for d in days if d <= day]
    return earlier[-1 - n] if len(earlier) > n else None


def _planned_cash(proposal: RebalanceProposal) -> dict[str, Decimal]:
    """What the plan's trades were to raise (+) and spend (-), by symbol: their estimated amounts."""
    planned: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for trade in proposal.trade_list:
        planned[trade.symbol] += trade.estimated_amount if trade.side == "sell" else -trade.estimated_amount
    return planned


class Reporting(Faults):
    def after_night(self, day: date, *, final: bool = False) -> None:
        self.capture_group_plans(day)
        self.record_values(day)
        found: list[Violation] = []
        found += invariants.check_ledger(day)
        found += invariants.check_reconciliation(day, self.numbers)
        found += invariants.check_balances(day, self.numbers)
        found += invariants.check_figures(day, self.numbers)
        open_before = None if final else _business_days_before(self.days, day, self.config.end_days)
        if final or open_before is not None:
            found += invariants.check_orders(day, open_before=open_before, numbers=self.numbers)
        found += self.check_proposals(day)
        found += self.check_groups(day)
        found += invariants.check_harvest_washes(day, self.reported_washes, self.numbers)
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
            .select_related("account", "harvest", *INPUTS_RELATED)
            .prefetch_related("orders__security", "trades")
            .order_by("pk")
        )
        grouped = set(RebalancingGroupMember.objects.filter(group__is_active=True).values_list("account_id", flat=True))
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
                quantity = self.in_plan_shares(
                    symbol, quantity, planned=proposal.as_of, traded=traded, made=proposal.created_at
                )
                sign = Decimal(1) if side == "buy" else Decimal(-1)
                shares, cash = executed.get(symbol, (ZERO, ZERO))
                executed[symbol] = (shares + sign * quantity, cash - sign * amount)
            notes = list(proposal.notes or [])
            account = self.numbers.get(proposal.account_id, str(proposal.account_id))
            if notes and notes[0].startswith(GROUP_HEADER):
                continue  # measured with its household's group (check_groups)
            if proposal.account_id in grouped and not hasattr(proposal, "harvest"):
                # A grouped account raising cash for a withdrawal or a fee: alone it is not meant
                # to be on the model (asset location), its group's next plan measures it.
                self.summary.counts["grouped accounts' cash raises"] += 1
                continue
            pairs = self.pairs.get(self.model_when_made(proposal), {})
            if hasattr(proposal, "harvest"):
                pairs = {**pairs, **proposal.harvest.substitutes}
            lines = invariants.drift_after_plan(proposal.inputs, executed, pairs)
            if hasattr(proposal, "harvest"):
                before = invariants.drift_after_plan(proposal.inputs, {}, pairs)
                found += invariants.check_harvest_bands(
                    day,
                    account=account,
                    proposal_id=proposal.pk,
                    before=before,
                    after=lines,
                    notes=notes[1:],
                    whole_shares=invariants.harvest_whole_shares(proposal.inputs, executed),
                    fills=invariants.harvest_fill_prices(proposal.inputs, executed, _planned_cash(proposal)),
                )
                self.summary.counts["harvests filled and checked"] += 1
                continue
            found += invariants.check_bands(
                day,
                account=account,
                proposal_id=proposal.pk,
                lines=lines,
                notes=notes,
                pairs=pairs,
                context=functools.partial(invariants.plan_context, proposal, executed),
            )
            self.summary.counts["proposals filled and checked"] += 1
        return found

    @staticmethod
    def model_when_made(proposal: RebalanceProposal) -> int:
        """The model the account was on when the proposal was made (its substitutes are the ones
        that stood in for the plan): a switch since then must not change how the plan is measured."""
        model = (
            InvestmentAccount.history.filter(id=proposal.account_id, history_date__lte=proposal.created_at)
            .order_by("-history_date", "-history_id")
            .values_list("model_id", flat=True)
            .first()
        )
        return model or proposal.account.model_id or 0

    # --- household groups ----------------------------------------------------------------------------

    def capture_group_plans(self, day: date) -> None:
        """Right after the night that made them (before any of their orders can fill), what each
        group held when its proposals were made: the state its plan is measured from. A group
        with other orders still open is not captured (their fills would blur the measure)."""
        made: dict[int, list[RebalanceProposal]] = defaultdict(list)
        for proposal in RebalanceProposal.objects.filter(
            as_of=day, account__rebalancing_membership__group__isnull=False
        ).select_related("account__rebalancing_membership__group__model"):
            if proposal.notes and proposal.notes[0].startswith(GROUP_HEADER):
                made[proposal.account.rebalancing_membership.group_id].append(proposal)
        for proposals in made.values():
            group = proposals[0].account.rebalancing_membership.group
            members = list(group.members.values_list("account_id", flat=True))
            ids = [p.pk for p in proposals]
            if (
                Order.objects.filter(account_id__in=members)
                .exclude(status__in=END_STATES)
                .exclude(proposal_id__in=ids)
                .exists()
            ):
                self.summary.counts["group plans with other orders open"] += 1
                continue
            snapshots = engine_snapshots(account_ids=members, as_of=day)
            self.group_plans.append(
                invariants.GroupPlan(
                    group=f"group {group.pk} ({', '.join(self.numbers.get(a, str(a)) for a in sorted(members))})",
                    day=day,
                    proposal_ids=ids,
                    holdings={
                        a: {h.symbol: h.quantity for h in snap.holdings if h.quantity} for a, snap in snapshots.items()
                    },
                    cash={
                        a: snap.cash + (ZERO if snap.flow_in_cash else snap.external_flow)
                        for a, snap in snapshots.items()
                    },
                    prices={h.symbol: h.price for snap in snapshots.values() for h in snap.holdings},
                    targets={t.security.symbol: t.weight for t in group.model.targets.select_related("security")},
                    cash_target=group.model.cash_target,
                    threshold=group.drift_threshold,
                    pairs=self.pairs.get(group.model_id, {}),
                    notes=list(proposals[0].notes[1:]),
                )
            )

    def check_groups(self, day: date) -> list[Violation]:
        found: list[Violation] = []
        waiting = []
        for plan in self.group_plans:
            proposals = list(RebalanceProposal.objects.filter(pk__in=plan.proposal_ids).prefetch_related("orders"))
            if any(p.status != RebalanceProposal.Status.APPROVED for p in proposals):
                if all(p.status != RebalanceProposal.Status.PROPOSED for p in proposals):
                    self.summary.counts["group plans not approved"] += 1
                else:
                    waiting.append(plan)
                continue
            orders = [o for p in proposals for o in p.orders.all()]
            if any(o.status not in END_STATES for o in orders):
                waiting.append(plan)
                continue
            if any(o.status != "filled" for o in orders):
                self.summary.counts["group plans not fully filled"] += 1
                continue
            executed: dict[int, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
            for account_id, symbol, side, quantity, amount, traded in Execution.objects.filter(
                order__proposal_id__in=plan.proposal_ids
            ).values_list("order__account_id", "order__security__symbol", "order__side", "quantity", "amount",
                          "trade_date"):  # fmt: skip
                quantity = self.in_plan_shares(symbol, quantity, planned=plan.day, traded=traded)
                sign = Decimal(1) if side == "buy" else Decimal(-1)
                shares, cash = executed[account_id].get(symbol, (ZERO, ZERO))
                executed[account_id][symbol] = (shares + sign * quantity, cash - sign * amount)
            found += invariants.check_group_bands(plan, invariants.group_drift_after(plan, executed), day)
            self.summary.counts["group plans filled and checked"] += 1
        self.group_plans = waiting
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
