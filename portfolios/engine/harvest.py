"""Tax-loss harvesting across a household: which losses to realise, and the substitutes that keep
the allocation. Pure, like `rebalancing`.

For each taxable account (a loss in an IRA or 401(k) is worth nothing) and each holding whose
model names a substitute (`SubstitutionPair`):

1. **Lots to harvest.** The holding's lots, highest cost first (the order a sale relieves them,
   so the sale closes exactly these): taken while each loses at least `threshold_percent` of
   its cost. The position is harvested when their loss together is at least `threshold_amount`.
   A whole-share account sells the whole shares those lots hold (the last lot in part): its
   lots may hold fractions after a split paid in lieu, its position does not.
2. **No wash sale, household-wide** (`portfolios.engine.wash_sales`): the sale is dropped when
   shares of the security were bought in any account of the household (IRAs included) within
   30 days before it -- or are to be bought by this plan or an open order -- other than the
   lots sold; the substitute's purchase is dropped (and with it the sale) when the household
   sold the substitute at a loss within the 30 days before, or this plan does.
3. **Gains budget.** A sale is planned only when the account's realised gain this calendar year
   plus the sale's stays within its yearly budget, or the sale lowers it (a harvest realises a
   loss; the rule is kept for any lot a sale would close).
4. **Allocation kept.** The proceeds buy the substitute (whole shares unless the account allows
   fractions, ROUND_DOWN; amounts half-even to the cent). The substitute stands in for the
   security in the model: `allocation_after` counts it towards the security's target.

Securities are named by their symbols throughout, in the wash-sale records too (their
`security_id` is the symbol). The plan's sales are in the shares the account holds; a purchase of the harvested security in
the next 30 days is what the pre-trade wash-sale check refuses (not this module's concern).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from portfolios.engine.rebalancing import BUY, SELL, WASH_SALE_DAYS, Lot, LotSale, Trade
from portfolios.engine.wash_sales import Acquisition, LossSale, proposed_purchase_wash, proposed_sale_wash

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class HarvestHolding:
    symbol: str
    quantity: Decimal
    price: Decimal
    lots: tuple[Lot, ...] = ()
    target_weight: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class HarvestAccount:
    account_id: int
    tax_deferred: bool
    cash: Decimal
    holdings: tuple[HarvestHolding, ...] = ()
    substitutes: dict[str, str] = field(default_factory=dict)  # symbol -> its substitute (the model's pairs)
    realised_gain_this_year: Decimal = ZERO
    gains_budget: Decimal | None = None
    fractional_shares: bool = False
    quantity_places: int = 9
    threshold: Decimal = Decimal("0.05")  # the account's absolute band (the allocation check)


@dataclass(frozen=True, slots=True)
class HarvestSnapshot:
    household_id: int | str
    as_of: date
    accounts: tuple[HarvestAccount, ...]
    prices: dict[str, Decimal]  # every held and substitute symbol
    threshold_amount: Decimal
    threshold_percent: Decimal
    # The household's purchases (lots acquired, open buy orders as of today) and loss sales
    # (closures at a loss) within the wash-sale window, every account included.
    acquisitions: tuple[Acquisition, ...] = ()
    loss_sales: tuple[LossSale, ...] = ()
    # The buys of the household's open proposals: an advisor may approve one beside the harvest.
    # An account's own do not count against its harvest (its harvest proposal replaces them).
    proposed_buys: tuple[Acquisition, ...] = ()


@dataclass(frozen=True, slots=True)
class Harvest:
    account_id: int
    symbol: str
    substitute: str
    sell: Trade
    buy: Trade | None
    loss: Decimal  # the loss realised (positive), in cents


@dataclass(frozen=True, slots=True)
class HarvestPlan:
    household_id: int | str
    harvests: tuple[Harvest, ...]
    notes: tuple[str, ...] = ()

    def trades(self, account_id: int) -> tuple[Trade, ...]:
        mine = [h for h in self.harvests if h.account_id == account_id]
        return tuple([h.sell for h in mine] + [h.buy for h in mine if h.buy is not None])

    def loss_by_account(self) -> dict[int, Decimal]:
        out: dict[int, Decimal] = {}
        for h in self.harvests:
            out[h.account_id] = out.get(h.account_id, ZERO) + h.loss
        return out


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _lot_order(lot: Lot) -> tuple[Decimal, date, str]:
    return (-lot.cost_per_share, lot.acquired_on, str(lot.lot_id))


def harvestable_lots(holding: HarvestHolding, *, threshold_percent: Decimal) -> list[Lot]:
    """Rule 1's lots: highest cost first, while each loses at least `threshold_percent` of its cost."""
    taken = []
    for lot in sorted(holding.lots, key=_lot_order):
        if lot.cost_per_share <= 0 or lot.cost_per_share <= holding.price:
            break
        if (lot.cost_per_share - holding.price) / lot.cost_per_share < threshold_percent:
            break
        taken.append(lot)
    return taken


def whole_share_lots(lots: Sequence[Lot]) -> list[Lot]:
    """`lots` (in the order a sale relieves them) cut to the whole shares they hold together,
    the last lot taken in part (ROUND_DOWN): a whole-share account's lots may hold fractions
    after a split paid in lieu, while its position is whole, and it sells whole shares only."""
    left = sum((lot.quantity for lot in lots), ZERO).to_integral_value(rounding=ROUND_DOWN)
    out: list[Lot] = []
    for lot in lots:
        if left <= 0:
            break
        taken = min(lot.quantity, left)
        out.append(lot if taken == lot.quantity else replace(lot, quantity=taken))
        left -= taken
    return out


def plan_harvest(snapshot: HarvestSnapshot) -> HarvestPlan:
    """The household's harvests (see the module docstring), accounts and symbols in order."""
    acquisitions = list(snapshot.acquisitions)
    # The accounts' own lots bought in the window count too, whether or not the caller passed them.
    known = {(a.account_id, str(a.lot_id)) for a in acquisitions}
    for account in snapshot.accounts:
        for holding in account.holdings:
            for lot in holding.lots:
                recent = 0 <= (snapshot.as_of - lot.acquired_on).days <= WASH_SALE_DAYS
                if recent and (account.account_id, str(lot.lot_id)) not in known:
                    acquisitions.append(
                        Acquisition(
                            lot.lot_id, lot.lot_id, account.account_id, holding.symbol, lot.acquired_on, lot.quantity
                        )
                    )
    loss_sales = list(snapshot.loss_sales)
    harvests: list[Harvest] = []
    notes: list[str] = []
    for account in sorted(snapshot.accounts, key=lambda a: a.account_id):
        if account.tax_deferred:
            continue
        gain_so_far = account.realised_gain_this_year
        for holding in sorted(account.holdings, key=lambda h: h.symbol):
            substitute = account.substitutes.get(holding.symbol)
            if substitute is None or holding.quantity <= 0 or holding.price <= 0:
                continue
            lots = harvestable_lots(holding, threshold_percent=snapshot.threshold_percent)
            if not account.fractional_shares:
                lots = whole_share_lots(lots)
            quantity = min(sum((lot.quantity for lot in lots), ZERO), holding.quantity)
            loss = _money(sum((lot.quantity * (lot.cost_per_share - holding.price) for lot in lots), ZERO))
            if not lots or quantity <= 0 or loss < snapshot.threshold_amount or loss <= 0:
                continue
            where = f"Account {account.account_id}, {holding.symbol}"
            sales = [
                LossSale(
                    sale_id=f"harvest:{account.account_id}:{lot.lot_id}",
                    purchase_id=lot.lot_id,
                    account_id=account.account_id,
                    security_id=holding.symbol,
                    sold_on=snapshot.as_of,
                    quantity=lot.quantity,
                    loss_per_share=lot.cost_per_share - holding.price,
                )
                for lot in lots
            ]
            # Conservative: a lot sold in the same sale is still a replacement for the others' loss
            # (only a lot's own purchase is not), so a harvest never books a wash sale under the
            # stricter reading of the rule.
            others_proposed = [a for a in snapshot.proposed_buys if a.account_id != account.account_id]
            if proposed_sale_wash(sales=sales, acquisitions=[*acquisitions, *others_proposed]):
                notes.append(f"{where}: not harvested, shares were bought in the household within 30 days.")
                continue
            price = snapshot.prices.get(substitute, ZERO)
            if price <= 0:
                notes.append(f"{where}: not harvested, the substitute {substitute} has no price.")
                continue
            if proposed_purchase_wash(
                security_id=substitute,
                account_id=account.account_id,
                bought_on=snapshot.as_of,
                quantity=Decimal(10) ** 12,
                sales=loss_sales,
            ):
                notes.append(
                    f"{where}: not harvested, buying {substitute} would wash its loss sale of the last 30 days."
                )
                continue
            realised = -loss
            if account.gains_budget is not None and realised > 0 and gain_so_far + realised > account.gains_budget:
                notes.append(f"{where}: not harvested, the year's gains budget would be exceeded.")
                continue
            proceeds = _money(quantity * holding.price)
            unit = Decimal(1).scaleb(-account.quantity_places) if account.fractional_shares else Decimal(1)
            buy_quantity = (proceeds / price).quantize(unit, rounding=ROUND_DOWN)
            sell = Trade(
                holding.symbol,
                SELL,
                quantity,
                holding.price,
                proceeds,
                tuple(
                    LotSale(lot.lot_id, lot.quantity, _money(lot.quantity * (holding.price - lot.cost_per_share)))
                    for lot in lots
                ),
                realised,
            )
            buy = (
                Trade(substitute, BUY, buy_quantity, price, _money(buy_quantity * price)) if buy_quantity > 0 else None
            )
            harvests.append(Harvest(account.account_id, holding.symbol, substitute, sell, buy, loss))
            gain_so_far += realised
            loss_sales.extend(sales)
            if buy is not None:
                acquisitions.append(
                    Acquisition(
                        f"harvest-buy:{account.account_id}:{substitute}",
                        f"harvest-buy:{account.account_id}:{substitute}",
                        account.account_id,
                        substitute,
                        snapshot.as_of,
                        buy_quantity,
                    )
                )
    return HarvestPlan(snapshot.household_id, tuple(harvests), tuple(notes))


def allocation_after(account: HarvestAccount, plan: HarvestPlan, prices: dict[str, Decimal]) -> dict[str, Decimal]:
    """The account's weights after its harvests, each substitute counted as the security it
    stands in for (the model's slot), cash included under "CASH"."""
    quantities = {h.symbol: h.quantity for h in account.holdings}
    cash = account.cash
    slot = {v: k for k, v in account.substitutes.items()}
    for trade in plan.trades(account.account_id):
        sign = Decimal(1) if trade.side == BUY else Decimal(-1)
        quantities[trade.symbol] = quantities.get(trade.symbol, ZERO) + sign * trade.quantity
        cash -= sign * trade.estimated_amount
    values: dict[str, Decimal] = {}
    for symbol, quantity in quantities.items():
        key = slot.get(symbol, symbol)
        values[key] = values.get(key, ZERO) + quantity * prices[symbol]
    total = sum(values.values(), cash)
    weights = {k: v / total for k, v in values.items()} if total > 0 else {}
    weights["CASH"] = cash / total if total > 0 else ZERO
    return weights


def harvest_snapshot(
    *,
    household_id: int | str,
    as_of: date,
    accounts: Sequence[HarvestAccount],
    prices: dict[str, Decimal],
    threshold_amount: Decimal,
    threshold_percent: Decimal,
    acquisitions: Sequence[Acquisition] = (),
    loss_sales: Sequence[LossSale] = (),
) -> HarvestSnapshot:
    return HarvestSnapshot(
        household_id,
        as_of,
        tuple(accounts),
        dict(prices),
        threshold_amount,
        threshold_percent,
        tuple(acquisitions),
        tuple(loss_sales),
    )
