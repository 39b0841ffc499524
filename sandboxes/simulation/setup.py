"""The simulated firm's opening: its people, securities, model portfolios, fee schedule and
accounts (funded by a transfer from another custodian, or a deposit), and the run's corporate
actions, registered with the market-data feed and the custodian."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Count, Q

from accounts.services import advisor_create, firm_create, household_create, investor_create, system_user, user_create
from compliance.models import ComplianceSettings
from demo.compliance import clear_for_trading
from kronos.history import save_attributed
from operations import services as ops
from portfolios.models import (
    CorporateAction,
    CorporateActionEntitlement,
    HarvestSettings,
    InvestmentAccount,
    Security,
    SubstitutionPair,
)
from portfolios.services import (
    account_create,
    model_portfolio_create,
    rebalancing_group_create,
    security_create,
    transfer_in,
)
from sandboxes.simulation.config import CENT, FEE_TIERS, MODEL_NAMES, ZERO
from sandboxes.simulation.harness import Harness
from sandboxes.simulation.market import corporate_actions
from trading.services import (
    transfer_create,
)


class FirmSetup(Harness):
    # --- the firm ---------------------------------------------------------------------------------

    def setup(self) -> None:
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
        if self.config.harvesting:
            self.harvesting_on(holdable)
        self.schedule = ops.fee_schedule_create(
            firm=self.firm,
            name="Standard tiered",
            acting_user=self.system,
            method="tiered",
            tiers=[(t.up_to, t.bps) for t in FEE_TIERS],
        )
        for i in range(self.config.accounts):
            self.open_account(first, opening=True, index=i)

    def harvesting_on(self, holdable: list[str]) -> None:
        """The firm harvests losses of 5% and 500.00 (advisor-approved), each model target paired
        with a substitute the model does not hold (from a generator of its own, so the world's
        choices stay what the seed made them)."""
        rng = random.Random(f"harvesting:{self.config.seed}")  # noqa: S311  # nosec B311 -- seeded simulation
        save_attributed(
            HarvestSettings(
                firm=self.firm,
                loss_threshold_amount=Decimal("500.00"),
                loss_threshold_percent=Decimal("0.05"),
                automatic=False,
            ),
            acting_user=self.system,
            reason="simulated firm: harvesting on",
        )
        securities = {s.symbol: s for s in Security.objects.filter(symbol__in=holdable)}
        for model in self.models:
            targets = sorted(t.security.symbol for t in model.targets.select_related("security"))
            spare = [s for s in holdable if s not in targets]
            rng.shuffle(spare)
            self.pairs[model.pk] = dict(zip(targets, spare, strict=False))
            for symbol, substitute in self.pairs[model.pk].items():
                save_attributed(
                    SubstitutionPair(model=model, security=securities[symbol], substitute=securities[substitute]),
                    acting_user=self.system,
                    reason="simulated firm: substitution pair",
                )

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
            fractional_shares=self.fractional(index),
            rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC
            if automatic
            else InvestmentAccount.RebalanceMode.APPROVAL,
        )
        self.numbers[account.pk] = number
        if account.fractional_shares:  # the account trades fractions at the custodian, as in our books
            self._custodian_post(f"/v1/accounts/{number}/settings", {"fractional_shares": True})
        size = Decimal(int(self.rng.lognormvariate(12.3, 0.9))).quantize(Decimal(1))  # ~ $220k median
        size = max(Decimal(20000), min(size, Decimal(5000000)))
        if opening:
            self.fund_opening(account, number, model, day, size, self.rng)
            if self.config.group_share and index % self.config.group_share == 0:
                self.open_group_ira(household, advisor, account, model, day, index)
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

    def fund_opening(
        self, account: InvestmentAccount, number: str, model: Any, day: date, size: Decimal, rng: random.Random
    ) -> None:
        """The opening book's account arrives whole from its previous custodian: the model's
        securities (tilted, at old costs) and cash, at Kronos and at the custodian."""
        before = self.market.previous_day(day)
        targets = {t.security.symbol: t.weight for t in model.targets.select_related("security")}
        positions = []
        spent = ZERO
        for symbol, weight in sorted(targets.items()):
            tilt = Decimal(str(round(rng.uniform(0.75, 1.25), 2)))
            price = self.market.close(symbol, before)
            quantity = (size * weight * tilt / price).to_integral_value(rounding=ROUND_DOWN)
            if quantity <= 0:
                continue
            cost = (quantity * price * Decimal(str(round(rng.uniform(0.6, 1.1), 2)))).quantize(CENT)
            positions.append(
                {
                    "symbol": symbol,
                    "quantity": quantity,
                    "cost_basis": cost,
                    "acquired_on": day - timedelta(days=400 + rng.randrange(0, 900)),
                }
            )
            spent += quantity * price
        cash = max(Decimal(1000), (size - spent).quantize(CENT)) if spent < size else Decimal("1000.00")
        transfer_in(
            account=account,
            acting_user=self.system,
            idempotency_key=f"sim:{self.config.seed}:open:{number}",
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

    def open_group_ira(
        self, household: Any, advisor: Any, taxable: InvestmentAccount, model: Any, day: date, index: int
    ) -> None:
        """The household's traditional IRA on the same model, funded by its own transfer, and the
        two accounts made a rebalancing group (from a generator of its own)."""
        rng = random.Random(f"group:{self.config.seed}:{index}")  # noqa: S311  # nosec B311 -- seeded simulation
        number = f"SIM{self.config.seed}-{index + 1:06d}-IRA"
        ira = account_create(
            household=household,
            name=f"IRA {index + 1:05d}",
            custodian_account_number=number,
            account_type=InvestmentAccount.AccountType.TRADITIONAL_IRA,
            acting_user=self.system,
            model=model,
            opened_on=day,
            drift_threshold=Decimal("0.05"),
            rebalance_mode=taxable.rebalance_mode,
        )
        self.numbers[ira.pk] = number
        size = max(Decimal(20000), Decimal(int(rng.lognormvariate(11.5, 0.8))))
        self.fund_opening(ira, number, model, day, size, rng)
        rebalancing_group_create(
            household=household,
            name="Household",
            model=model,
            accounts=[taxable, ira],
            drift_threshold=Decimal("0.05"),
            acting_user=advisor.user,
        )
        self.summary.counts["household groups"] += 1

    # --- corporate actions ---------------------------------------------------------------------------

    def draw_corporate_actions(self) -> None:
        """The run's dividends and splits (`market.corporate_actions`, from a generator of their own
        so the world's choices stay what the seed made them), served unadjusted from now on; each
        registered with the market-data feed (listed from its announcement, as Polygon lists it)
        and with the custodian, which processes them from its own books (a real one learns them
        from its own feed). A split's cash in lieu is paid at the ex-date close: the price Kronos
        takes when the feed gives none (`portfolios.services.cash_in_lieu_price`)."""
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

    def in_plan_shares(
        self, symbol: str, quantity: Decimal, *, planned: date, traded: date, made: datetime | None = None
    ) -> Decimal:
        """Shares executed on `traded` in the shares of a plan made on `planned` (at `made`): a
        split Kronos applied after the plan, on or before the trade, is undone -- its ex-date
        after the plan's day, or the plan's own day when the plan was made before that night
        applied it (a harvest at 16:30 on the ex-date plans in the old shares; its orders wait
        for the split and go out adjusted)."""
        for action in self.market.actions:
            if action.symbol != symbol or action.is_dividend or not action.ex_date <= traded:
                continue
            if planned < action.ex_date or (planned == action.ex_date and self._applied_after(action.id, made)):
                quantity = quantity / action.ratio
        return quantity

    @staticmethod
    def _applied_after(external_id: str, made: datetime | None) -> bool:
        """Whether Kronos applied the simulation's split `external_id` after `made`."""
        if made is None:
            return False
        applied = CorporateAction.objects.filter(external_id=external_id).values_list("processed_at", flat=True).first()
        return applied is not None and applied > made

    def fractional(self, index: int) -> bool:
        """Whether the index-th account takes fractional shares (every `fractional_share`-th)."""
        share = self.config.fractional_share
        return share > 0 and index % share == share - 1

    def reinvests(self, index: int) -> bool:
        """Whether the index-th account reinvests its dividends (every `reinvest_share`-th)."""
        share = self.config.reinvest_share
        return share > 0 and index % share == share - 1

    def count_corporate_actions(self) -> None:
        """What Kronos did with them, for the summary."""
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
