"""Pre-trade compliance checks, registered in trading.checks.PRETRADE_CHECKS by compliance's AppConfig.

    run_pretrade_checks(intent) -> list[CheckResult]

`intent` is any object with the attributes of `OrderIntent` (account, security, side,
quantity, amount, price, source; optionally pending_proceeds, the unspent proceeds of the
rebalance proposal's own sells, which a proposal's buy waits for and may count on). Each rule gives one CheckResult:
- outcome "pass"; or "fail" with hard=True (the order must be rejected with the message),
  "fail" with hard=False (the order goes to the compliance review queue), or "warn"
  (shown, nothing else). Which one a failed rule gives is the firm's ComplianceSettings.
Rules: kyc, aml, account_restriction, restricted_security, suitability, concentration,
funds, wash_sale. `account_may_transact(account)` is the subset that gates funding too.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import HouseholdMember
from compliance.models import (
    AMLCase,
    ComplianceSettings,
    KYCVerification,
    RestrictedSecurity,
    RuleMode,
    SuitabilityCase,
)
from compliance.suitability import OWNER_RELATIONSHIPS, suitability_problem
from portfolios import selectors as portfolio_selectors
from portfolios import services as portfolio_services
from portfolios.engine import wash_sales
from portfolios.models import CashBalance, InvestmentAccount, Position, Price, TaxLot
from portfolios.selectors import WashSaleHistory
from trading.checks import PretradeIntent

Outcome = Literal["pass", "fail", "warn"]
WASH_SALE_DAYS = 30
PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class CheckResult:
    rule: str
    outcome: Outcome
    hard: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass
class OrderIntent:
    """A concrete intent, for callers without one of their own (tests, the deposit service)."""

    account: Any
    security: Any
    side: str
    quantity: Decimal | None
    amount: Decimal | None
    price: Decimal
    source: str = "page"


def firm_settings(firm_id: int) -> ComplianceSettings:
    """The firm's settings, or the defaults (unsaved) when it never changed them."""
    return ComplianceSettings.objects.filter(firm_id=firm_id).first() or ComplianceSettings(firm_id=firm_id)


def _result(rule: str, mode: str, problem: str | None, ok_message: str) -> CheckResult | None:
    if mode == RuleMode.OFF:
        return None
    if problem is None:
        return CheckResult(rule, "pass", False, ok_message)
    if mode == RuleMode.WARN:
        return CheckResult(rule, "warn", False, problem)
    return CheckResult(rule, "fail", mode == RuleMode.HARD, problem)


# --- rules, each returning a problem message or None -------------------------------------------


def _owners(account: Any) -> list[HouseholdMember]:
    return list(
        HouseholdMember.objects.filter(household_id=account.household_id, relationship__in=OWNER_RELATIONSHIPS)
        .select_related("investor__kyc")
        .order_by("investor_id")
    )


def kyc_problem(account: Any, owners: list[HouseholdMember] | None = None) -> str | None:
    owners = _owners(account) if owners is None else owners
    if not owners:
        return "The account has no owner to verify."
    unverified = []
    for member in owners:
        kyc = getattr(member.investor, "kyc", None)
        if kyc is None or kyc.status != KYCVerification.Status.APPROVED:
            status = kyc.get_status_display().lower() if kyc else "not started"
            unverified.append(f"{member.investor.full_name} ({status})")
    if unverified:
        return f"Identity verification (KYC) is not approved for: {', '.join(unverified)}."
    return None


def _freezing_cases(account: Any, owners: list[HouseholdMember]) -> list[AMLCase]:
    return list(
        AMLCase.objects.filter(investor_id__in=[m.investor_id for m in owners], status__in=AMLCase.FREEZING)
        .select_related("investor")
        .order_by("id")
    )


def _aml_message(cases: list[AMLCase]) -> str | None:
    confirmed = sorted({c.investor.full_name for c in cases if c.status == AMLCase.Status.CONFIRMED})
    if confirmed:
        return f"Trading is frozen: a watch-list (AML) match is confirmed for {', '.join(confirmed)}."
    if cases:
        names = ", ".join(sorted({c.investor.full_name for c in cases}))
        return f"Trading is frozen: an AML screening case is open for {names}."
    return None


def aml_problem(account: Any, owners: list[HouseholdMember] | None = None) -> str | None:
    owners = _owners(account) if owners is None else owners
    return _aml_message(_freezing_cases(account, owners))


def restriction_problem(account: Any) -> str | None:
    status = getattr(account, "status", "open")
    if status == "restricted":
        return "The account is restricted: no trades or transfers until the restriction is lifted."
    if status == "closed":
        return "The account is closed."
    return None


def account_may_transact(account: InvestmentAccount) -> tuple[bool, str]:
    """Whether money or securities may move in `account` now: every owner KYC-approved, no
    open AML case, account not restricted. Returns (ok, the reason when not)."""
    owners = _owners(account)
    for problem in (kyc_problem(account, owners), aml_problem(account, owners), restriction_problem(account)):
        if problem:
            return False, problem
    return True, ""


def _trade_quantity_and_value(intent: PretradeIntent) -> tuple[Decimal, Decimal]:
    price = Decimal(intent.price)
    if intent.quantity is not None:
        quantity = Decimal(intent.quantity)
        return quantity, (quantity * price).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    amount = Decimal(intent.amount or 0)
    quantity = (amount / price) if price else Decimal(0)
    return quantity, amount


def _holdings(account: Any) -> tuple[dict[int, Decimal], Decimal, dict[int, Decimal]]:
    """(quantity by security id, cash in the base currency, latest price by security id)."""
    latest = Price.objects.filter(security_id=OuterRef("security_id")).order_by("-date").values("close")[:1]
    rows = list(
        Position.objects.filter(account=account)
        .annotate(last_price=Subquery(latest))
        .values_list("security_id", "quantity", "last_price")
    )
    cash = (
        CashBalance.objects.filter(account=account, currency=account.base_currency)
        .values_list("amount", flat=True)
        .first()
    )
    quantities = {sid: qty for sid, qty, _ in rows}
    prices = {sid: price for sid, _, price in rows if price is not None}
    return quantities, Decimal(cash or 0), prices


def _wash_sale_problem(intent: PretradeIntent, facts: "_AccountFacts") -> str | None:
    """Household-wide, both directions (`portfolios.engine.wash_sales`): a buy within 30 days
    after a loss sale of the security in any account of the household; a sale at a loss (of the
    lots the order would relieve) within 30 days after a purchase in any of them. The message
    names the loss disallowed."""
    account, security = intent.account, intent.security
    today = timezone.localdate()
    quantity, _ = _trade_quantity_and_value(intent)
    price = Decimal(intent.price)
    if quantity <= 0:
        return None
    history = facts.wash_history(security.pk, start=today - timedelta(days=WASH_SALE_DAYS), end=today)
    if intent.side == "buy":
        matches = wash_sales.proposed_purchase_wash(
            security_id=security.pk, account_id=account.pk, bought_on=today, quantity=quantity, sales=history.sales
        )
        if not matches:
            return None
        names = _account_names(account, {s.account_id for s in history.sales})
        sold = {s.sale_id: s for s in history.sales}
        where = ", ".join(
            sorted({f"{sold[m.sale_id].sold_on.isoformat()} in {names[sold[m.sale_id].account_id]}" for m in matches})
        )
        return (
            f"{security.symbol} was sold at a loss in the last {WASH_SALE_DAYS} days ({where}): buying it now is a "
            f"wash sale, {wash_sales.disallowed_total(matches):,.2f} {account.base_currency} of that loss disallowed."
        )
    lots = facts.open_lots(security.pk)
    selection = getattr(intent, "lot_selection", None) or {}
    chosen = [(int(i["id"]), Decimal(str(i["quantity"]))) for i in selection.get("lots", [])]
    method = selection.get("method") if selection.get("method") != "specific" else None
    plan = portfolio_services.relief_plan(
        lots,
        quantity=min(quantity, sum((lot.quantity for lot in lots), Decimal(0))),
        method=method or account.lot_relief_method,
        chosen=chosen,
        price=price,
        on=today,
    )
    sales = [
        wash_sales.LossSale(
            sale_id=f"proposed-{lot.pk}",
            purchase_id=lot.purchase_id,
            account_id=account.pk,
            security_id=security.pk,
            sold_on=today,
            quantity=take,
            loss_per_share=lot.cost_per_share - price,
            held_days=(today - (lot.held_from or lot.acquired_on)).days,
        )
        for lot, take in plan
        if lot.cost_per_share > price
    ]
    # Shares this sale takes out of a recent lot are sold, not replacement shares.
    sold_now: dict[int | str, Decimal] = {lot.pk: take for lot, take in plan}
    acquisitions = [replace(a, quantity=a.quantity - sold_now.get(a.lot_id, Decimal(0))) for a in history.acquisitions]
    matches = wash_sales.proposed_sale_wash(sales=sales, acquisitions=acquisitions)
    if not matches:
        return None
    names = _account_names(account, {a.account_id for a in history.acquisitions})
    bought = {a.lot_id: a for a in history.acquisitions}
    where = ", ".join(
        sorted({f"{bought[m.lot_id].acquired_on.isoformat()} in {names[bought[m.lot_id].account_id]}" for m in matches})
    )
    shares = sum((m.quantity for m in matches), Decimal(0))
    return (
        f"Selling {security.symbol} at a loss now is a wash sale: {shares.normalize():f} shares were bought in the "
        f"last {WASH_SALE_DAYS} days ({where}), so {wash_sales.disallowed_total(matches):,.2f} "
        f"{account.base_currency} of the loss is disallowed (added to those shares' cost)."
    )


def _account_names(account: Any, ids: set[Any]) -> dict[Any, str]:
    return dict(
        InvestmentAccount.objects.filter(household_id=account.household_id, pk__in=ids).values_list("pk", "name")
    )


@dataclass
class _AccountFacts:
    """What every order of one account checks the same way: read once per `context`."""

    account: Any
    rules: ComplianceSettings
    owners: list[HouseholdMember]
    aml_cases: list[AMLCase]
    holdings: tuple[dict[int, Decimal], Decimal, dict[int, Decimal]]
    # Read for a context: its orders share the reads below too (the household's wash-sale window
    # and the account's open lots, every security at once; the firm's restricted list). Orders
    # move no shares or cash, so what one order read is still true for the next.
    shared: bool = False
    _suitability: tuple[str | None] | None = None
    _wash: dict[tuple[date, date], WashSaleHistory] = field(default_factory=dict)
    _lots: dict[int, list[TaxLot]] | None = None
    _restricted: dict[int, str] | None = None

    @classmethod
    def read(cls, account: Any, *, shared: bool = False) -> "_AccountFacts":
        owners = _owners(account)
        return cls(
            account=account,
            rules=firm_settings(account.household.firm_id),
            owners=owners,
            aml_cases=_freezing_cases(account, owners),
            holdings=_holdings(account),
            shared=shared,
        )

    def wash_history(self, security_id: int, *, start: date, end: date) -> WashSaleHistory:
        """The household's loss sales and purchases of the security in the window."""
        household_id = self.account.household_id
        if not self.shared:
            return portfolio_selectors.household_wash_sale_history(
                household_id=household_id, security_ids=[security_id], start=start, end=end
            )
        whole = self._wash.get((start, end))
        if whole is None:
            whole = self._wash[(start, end)] = portfolio_selectors.household_wash_sale_history(
                household_id=household_id, start=start, end=end
            )
        return WashSaleHistory(
            sales=[s for s in whole.sales if s.security_id == security_id],
            acquisitions=[a for a in whole.acquisitions if a.security_id == security_id],
        )

    def open_lots(self, security_id: int) -> list[TaxLot]:
        """The account's open lots of the security, oldest first."""
        if not self.shared:
            return list(
                TaxLot.objects.filter(account=self.account, security_id=security_id, quantity__gt=0).order_by(
                    "acquired_on", "id"
                )
            )
        if self._lots is None:
            self._lots = defaultdict(list)
            for lot in TaxLot.objects.filter(account=self.account, quantity__gt=0).order_by("acquired_on", "id"):
                self._lots[lot.security_id].append(lot)
        return list(self._lots.get(security_id, ()))

    def restricted(self, firm_id: int, security_id: int) -> str | None:
        """Why the firm restricts the security, or None."""
        if not self.shared:
            return (
                RestrictedSecurity.objects.filter(firm_id=firm_id, security_id=security_id, is_active=True)
                .values_list("reason", flat=True)
                .first()
            )
        if self._restricted is None:
            self._restricted = dict(
                RestrictedSecurity.objects.filter(firm_id=firm_id, is_active=True).values_list("security_id", "reason")
            )
        return self._restricted.get(security_id)

    def suitability(self) -> str | None:
        """The buy-side suitability problem (read on the first buy)."""
        if self._suitability is None:
            account = self.account
            problem = suitability_problem(account=account, model=account.model) if account.model_id else None
            if problem is None and SuitabilityCase.objects.filter(account=account, status="open").exists():
                problem = "A suitability case is open for this account."
            self._suitability = (problem,)
        return self._suitability[0]


def run_pretrade_checks(intent: PretradeIntent) -> list[CheckResult]:
    """Every rule for one order intent, in a fixed order. Never raises on a failed rule.

    An intent may carry a `context` dict shared by the orders made together under the account's
    lock in one transaction (a proposal's approval): the account's facts (the firm's rules, the
    owners' KYC, AML cases, suitability, holdings and cash) are read for the first order and
    reused by the others, none of which can change them (orders move no cash or shares)."""
    account, security = intent.account, intent.security
    firm_id = account.household.firm_id
    context = getattr(intent, "context", None)
    if context is None:
        facts = _AccountFacts.read(account)
    else:
        facts = context.get(("compliance.pretrade", account.pk))
        if facts is None:
            facts = context[("compliance.pretrade", account.pk)] = _AccountFacts.read(account, shared=True)
    rules = facts.rules
    results: list[CheckResult | None] = []
    owners = facts.owners

    results.append(_result("kyc", rules.kyc_mode, kyc_problem(account, owners), "Every owner is KYC-approved."))
    aml_cases = facts.aml_cases
    if any(c.status == AMLCase.Status.CONFIRMED for c in aml_cases):
        # A confirmed watch-list match freezes the accounts whatever the firm set its AML rule to:
        # the rule's mode is for open cases, which may yet be cleared as false positives.
        results.append(CheckResult("aml", "fail", True, _aml_message(aml_cases) or ""))
    else:
        results.append(_result("aml", rules.aml_mode, _aml_message(aml_cases), "No open AML case."))
    results.append(
        _result(
            "account_restriction",
            rules.account_restriction_mode,
            restriction_problem(account),
            "The account is not restricted.",
        )
    )
    restricted = facts.restricted(firm_id, security.pk)
    results.append(
        _result(
            "restricted_security",
            rules.restricted_security_mode,
            f"{security.symbol} is on the firm's restricted list ({restricted})." if restricted else None,
            f"{security.symbol} is not restricted.",
        )
    )

    suitability = facts.suitability() if intent.side == "buy" else None
    results.append(_result("suitability", rules.suitability_mode, suitability, "Suitable for the owners' profile."))

    quantity, value = _trade_quantity_and_value(intent)
    quantities, cash, prices = facts.holdings
    prices = {**prices, security.pk: Decimal(intent.price)}
    held = quantities.get(security.pk, Decimal(0))

    concentration = None
    if intent.side == "buy":
        total = cash + sum((q * prices.get(sid, Decimal(0)) for sid, q in quantities.items()), Decimal(0))
        after = held * Decimal(intent.price) + value
        if total > 0:
            weight = after / total
            limit = rules.concentration_limit
            if weight > limit:
                concentration = (
                    f"{security.symbol} would be {(weight * 100).quantize(PERCENT, ROUND_HALF_EVEN)}% of the account "
                    f"after this trade, above the limit of {(limit * 100).quantize(PERCENT, ROUND_HALF_EVEN)}%."
                )
    results.append(_result("concentration", rules.concentration_mode, concentration, "Within the concentration limit."))

    funds = None
    # A proposal's buy is paid for by the proposal's own sells too: it waits for their fills
    # before it goes out (trading's awaiting_funds), so their proceeds count as buying power.
    pending = Decimal(getattr(intent, "pending_proceeds", None) or 0)
    funds_ok = "Enough cash or shares."
    if intent.side == "buy" and value > cash + pending:
        funds = f"Not enough cash for {security.symbol}: the trade needs {value:,.2f} {account.base_currency}, the account has {cash:,.2f}"
        funds += f" and the proposal's sells raise {pending:,.2f}." if pending else "."
    elif intent.side == "buy" and value > cash:
        funds_ok = (
            f"Enough cash counting the proposal's sells: {cash:,.2f} {account.base_currency} in the account "
            f"and {pending:,.2f} from the sells."
        )
    elif intent.side == "sell" and quantity > held:
        funds = f"Not enough shares: the trade sells {quantity.normalize():f} {security.symbol}, the account holds {held.normalize():f}."
    results.append(_result("funds", rules.funds_mode, funds, funds_ok))

    wash = _wash_sale_problem(intent, facts) if rules.wash_sale_mode != RuleMode.OFF else None
    results.append(_result("wash_sale", rules.wash_sale_mode, wash, "No wash sale."))
    return [r for r in results if r is not None]


def summarize(results: list[CheckResult]) -> tuple[str, list[str]]:
    """("rejected" | "review" | "clear", the messages that decided it): how trading should act."""
    hard = [r.message for r in results if r.outcome == "fail" and r.hard]
    if hard:
        return "rejected", hard
    soft = [r.message for r in results if r.outcome == "fail"]
    if soft:
        return "review", soft
    return "clear", []
