"""The simulated world's doings each morning: deposits, withdrawals, model changes and switches,
new households; the advisors' approvals of last night's proposals; the quarter's billing."""

from __future__ import annotations

import logging
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db.models import Q

from operations import services as ops
from operations import tasks
from operations.engine import fees as fee_math
from operations.models import BillingRun
from portfolios.errors import PortfoliosError
from portfolios.models import InvestmentAccount
from portfolios.services import (
    model_assign,
    model_portfolio_update,
)
from sandboxes.simulation import invariants
from sandboxes.simulation.config import CENT, FEE_TIERS
from sandboxes.simulation.setup import FirmSetup
from trading.errors import TradingError
from trading.models import RebalanceProposal
from trading.services import (
    proposal_approve,
    proposal_discard,
    transfer_create,
    withdrawable_cash,
    withdrawal_request,
)

logger = logging.getLogger(__name__)


class World(FirmSetup):
    # --- the world ----------------------------------------------------------------------------------

    def world_events(self, day: date) -> None:
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
        others = [m for m in self.models if m.pk != account.model_id]
        if not others:
            return
        try:
            model_assign(account=account, model=self.rng.choice(others), acting_user=account.household.advisor.user)
        except PortfoliosError:  # an account of a household group follows the group's model
            self.summary.counts["model switches refused"] += 1
            return
        self.summary.counts["model switches"] += 1

    def advisor_decisions(self, day: date) -> None:
        """Last night's proposals of accounts in approval mode, and every harvest proposal (the
        firm harvests with its advisors' approval): most approved, some left, a few discarded."""
        proposals = (
            RebalanceProposal.objects.filter(
                Q(account__rebalance_mode="approval") | Q(harvest__isnull=False),
                status=RebalanceProposal.Status.PROPOSED,
                needed=True,
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
