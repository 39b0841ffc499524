"""Household rebalancing and asset location: one model for a group of a household's accounts. Pure.

The group (several accounts of one household -- taxable, IRAs, 401(k)s) is brought to its
model's weights *as a whole*: what matters is the household's allocation, not each account's.

The rules, in the order the planner applies them:

1. **Contributions and withdrawals stay in their own accounts.** A pending deposit is cash of
   the account it arrives in, to be spent there; a pending withdrawal is raised by sales in the
   account it leaves from (its most overweight holdings first, household-wide weights).
2. **Decide.** The group's drift is each security's household weight minus its target (cash
   included); a rebalance is needed when a row breaches the group's absolute band, or a flow
   is pending. A breach no trade may help does not count: a security under its target that
   cannot be bought (restricted, or inside its wash-sale window), and cash over its target by
   no more than those securities' shortfall and the band (it waits for them). Otherwise every
   night would trade the accounts against each other -- sales in one, buys with another's cash
   -- and leave the household where it was; the plan names what waits instead.
3. **Sells, with the least tax.** Every security over target is sold down to target. Accounts
   are tried in order: tax-deferred accounts first (a sale there is not taxed), then taxable
   accounts by the smallest realised gain per dollar sold (lots at a loss first). Within an
   account the sale takes the lots with the highest cost first. One account that holds enough
   takes the whole sale (fewest trades).
4. **Buys, with asset location.** Every security under target is bought up to target with the
   cash each account has (after its own sells; an account never spends another's cash).
   Tax-inefficient classes (bonds, real estate: interest and REIT dividends are taxed as
   income) are bought in tax-deferred accounts first, everything else in taxable accounts
   first. One account whose cash covers the buy takes all of it (fewest trades). A security
   sold at a loss anywhere in the household in the last 30 days (`last_loss_sale_on`, day 30
   included) is not bought back: that would be a wash sale; the plan names it.
5. **Drift after.** The plan's household drift after its trades is reported; a row still
   outside its band is named in the notes with the reason (no cash where it was needed,
   trades under the minimum, whole shares).

Existing holdings are never relocated for location alone (that would realise gains); location
steers where new money goes.

Rounding: trade quantities ROUND_DOWN to whole shares (or to the account's places when it
allows fractions); amounts half-even to `money_places`; cash moves by the rounded amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from portfolios.engine.rebalancing import BUY, CASH, SELL, WASH_SALE_DAYS, Lot, LotSale, Trade

ZERO = Decimal(0)
ONE = Decimal(1)
#: Asset classes whose income is taxed as ordinary income, so they belong in tax-deferred
#: accounts first (the values of `portfolios.models.AssetClass`).
TAX_INEFFICIENT_CLASSES = frozenset({"bonds", "real_estate"})


@dataclass(frozen=True, slots=True)
class GroupHolding:
    symbol: str
    quantity: Decimal
    lots: tuple[Lot, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupAccount:
    account_id: int
    tax_deferred: bool
    cash: Decimal  # spendable now (net of what open orders hold)
    holdings: tuple[GroupHolding, ...] = ()
    external_flow: Decimal = ZERO  # a pending deposit (+) or withdrawal (-) of this account
    fractional_shares: bool = False
    quantity_places: int = 9
    min_trade_amount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class GroupSecurity:
    symbol: str
    price: Decimal
    target_weight: Decimal  # 0 when held but not in the model
    asset_class: str = "us_equity"
    restricted: bool = False  # never bought
    last_loss_sale_on: date | None = None  # the household's latest sale of it at a loss
    band_share: Decimal = Decimal(1)  # its fraction of a sleeve shared with a harvest substitute

    @property
    def tax_inefficient(self) -> bool:
        return self.asset_class in TAX_INEFFICIENT_CLASSES

    def wash_blocked(self, as_of: date) -> bool:
        """Bought now, it would replace shares sold at a loss within the wash-sale window."""
        sold = self.last_loss_sale_on
        return sold is not None and 0 <= (as_of - sold).days <= WASH_SALE_DAYS


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    group_id: int | str
    as_of: date
    accounts: tuple[GroupAccount, ...]
    securities: tuple[GroupSecurity, ...]
    cash_target: Decimal = ZERO
    threshold: Decimal = Decimal("0.05")
    money_places: int = 2


@dataclass(frozen=True, slots=True)
class GroupDriftRow:
    symbol: str
    target_weight: Decimal
    actual_weight: Decimal
    drift: Decimal
    breached: bool


@dataclass(frozen=True, slots=True)
class GroupPlan:
    group_id: int | str
    needed: bool
    trades: dict[int, tuple[Trade, ...]]  # by account, sells first then buys
    drift_before: tuple[GroupDriftRow, ...]
    drift_after: tuple[GroupDriftRow, ...]
    realised_gain_taxable: Decimal = ZERO
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trade_count(self) -> int:
        return sum(len(t) for t in self.trades.values())

    @property
    def max_drift_after(self) -> Decimal:
        return max((abs(r.drift) for r in self.drift_after), default=ZERO)


def group_drift(snapshot: GroupSnapshot, quantities: dict[str, Decimal], cash: Decimal) -> tuple[GroupDriftRow, ...]:
    """The household's weights against the model: securities in symbol order, then CASH."""
    prices = {s.symbol: s.price for s in snapshot.securities}
    values = {sym: q * prices[sym] for sym, q in quantities.items()}
    total = sum(values.values(), cash)
    rows = []
    invested = ZERO
    for security in sorted(snapshot.securities, key=lambda s: s.symbol):
        actual = values.get(security.symbol, ZERO) / total if total > 0 else ZERO
        invested += actual
        drift = actual - security.target_weight
        rows.append(
            GroupDriftRow(
                security.symbol,
                security.target_weight,
                actual,
                drift,
                abs(drift) > snapshot.threshold * security.band_share,
            )
        )
    actual = ONE - invested if total > 0 else ZERO
    drift = actual - snapshot.cash_target
    rows.append(GroupDriftRow(CASH, snapshot.cash_target, actual, drift, abs(drift) > snapshot.threshold))
    return tuple(rows)


class _Book:
    """The group's working state: quantities and lots per account, cash per account."""

    def __init__(self, snapshot: GroupSnapshot):
        self.snapshot = snapshot
        self.prices = {s.symbol: s.price for s in snapshot.securities}
        self.accounts = {a.account_id: a for a in snapshot.accounts}
        self.qty: dict[int, dict[str, Decimal]] = {}
        self.lots: dict[int, dict[str, list[Lot]]] = {}
        for a in snapshot.accounts:
            self.qty[a.account_id] = {h.symbol: h.quantity for h in a.holdings}
            self.lots[a.account_id] = {h.symbol: list(h.lots) for h in a.holdings}
        self.cash = {a.account_id: a.cash + a.external_flow for a in snapshot.accounts}
        self.sells: dict[tuple[int, str], Decimal] = {}
        self.buys: dict[tuple[int, str], Decimal] = {}
        self.gains: dict[tuple[int, str], Decimal] = {}
        self.lot_sales: dict[tuple[int, str], list[LotSale]] = {}
        self.places = Decimal(1).scaleb(-snapshot.money_places)

    def money(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.places, rounding=ROUND_HALF_EVEN)

    def unit(self, account_id: int) -> Decimal:
        account = self.accounts[account_id]
        return Decimal(1).scaleb(-account.quantity_places) if account.fractional_shares else ONE

    def held(self, symbol: str) -> Decimal:
        return sum((q.get(symbol, ZERO) for q in self.qty.values()), ZERO)

    def total_value(self) -> Decimal:
        return sum(
            (q * self.prices[s] for held in self.qty.values() for s, q in held.items() if s in self.prices),
            sum(self.cash.values(), ZERO),
        )

    def gain_per_dollar(self, account_id: int, symbol: str) -> Decimal:
        """The realised gain of selling one dollar of `symbol` here, lots highest cost first
        (the first lot's, which is what a small sale realises)."""
        lots = sorted(self.lots[account_id].get(symbol, []), key=_lot_order)
        price = self.prices[symbol]
        if not lots or price <= 0:
            return ZERO
        return (price - lots[0].cost_per_share) / price

    def sell(self, account_id: int, symbol: str, quantity: Decimal) -> Decimal:
        """Sell up to `quantity` (rounded down to the account's unit); the cash it raises."""
        unit = self.unit(account_id)
        quantity = min(quantity, self.qty[account_id].get(symbol, ZERO)).quantize(unit, rounding=ROUND_DOWN)
        if quantity <= 0:
            return ZERO
        price = self.prices[symbol]
        amount = self.money(quantity * price)
        if amount < self.accounts[account_id].min_trade_amount:
            return ZERO
        self.qty[account_id][symbol] -= quantity
        self.cash[account_id] += amount
        key = (account_id, symbol)
        self.sells[key] = self.sells.get(key, ZERO) + quantity
        left = quantity
        remaining: list[Lot] = []
        for lot in sorted(self.lots[account_id].get(symbol, []), key=_lot_order):
            take = min(left, lot.quantity)
            if take > 0:
                gain = self.money(take * (price - lot.cost_per_share))
                self.lot_sales.setdefault(key, []).append(LotSale(lot.lot_id, take, gain))
                self.gains[key] = self.gains.get(key, ZERO) + gain
                left -= take
            if lot.quantity - take > 0:
                remaining.append(
                    Lot(lot.lot_id, lot.quantity - take, lot.cost_per_share, lot.acquired_on, lot.held_from)
                )
        self.lots[account_id][symbol] = remaining
        return amount

    def buy(self, account_id: int, symbol: str, want_value: Decimal) -> Decimal:
        """Buy up to `want_value` of `symbol` with this account's cash; the value bought."""
        price = self.prices[symbol]
        budget = min(want_value, self.cash[account_id])
        if budget <= 0 or price <= 0:
            return ZERO
        quantity = (budget / price).quantize(self.unit(account_id), rounding=ROUND_DOWN)
        amount = self.money(quantity * price)
        while quantity > 0 and amount > self.cash[account_id]:
            quantity -= self.unit(account_id)
            amount = self.money(quantity * price)
        if quantity <= 0 or amount < self.accounts[account_id].min_trade_amount:
            return ZERO
        self.qty[account_id][symbol] = self.qty[account_id].get(symbol, ZERO) + quantity
        self.cash[account_id] -= amount
        key = (account_id, symbol)
        self.buys[key] = self.buys.get(key, ZERO) + quantity
        return amount


def _lot_order(lot: Lot) -> tuple[Decimal, date, str]:
    return (-lot.cost_per_share, lot.acquired_on, str(lot.lot_id))


def _sell_order(book: _Book, symbol: str, value: Decimal) -> list[int]:
    """Where to sell `value` of `symbol`: tax-deferred first, then taxable by the least gain per
    dollar; within each, an account holding enough for the whole sale before one that does not
    (fewest trades), then the larger holding, then the account id."""
    price = book.prices[symbol]
    holders = [a for a in book.accounts if book.qty[a].get(symbol, ZERO) > 0]

    def key(account_id: int) -> tuple[int, Decimal, int, Decimal, int]:
        account = book.accounts[account_id]
        value_here = book.qty[account_id][symbol] * price
        gain = ZERO if account.tax_deferred else book.gain_per_dollar(account_id, symbol)
        return (0 if account.tax_deferred else 1, gain, 0 if value_here >= value else 1, -value_here, account_id)

    return sorted(holders, key=key)


def _buy_order(book: _Book, security: GroupSecurity, value: Decimal) -> list[int]:
    """Where to buy: tax-inefficient classes in tax-deferred accounts first, the rest in taxable
    first; within each, an account whose cash covers the whole buy first (fewest trades), then
    one that already holds it, then the most cash, then the account id."""

    def key(account_id: int) -> tuple[int, int, int, Decimal, int]:
        account = book.accounts[account_id]
        preferred = account.tax_deferred == security.tax_inefficient
        return (
            0 if preferred else 1,
            0 if book.cash[account_id] >= value else 1,
            0 if book.qty[account_id].get(security.symbol, ZERO) > 0 else 1,
            -book.cash[account_id],
            account_id,
        )

    return sorted((a for a in book.accounts if book.cash[a] > 0), key=key)


def _raise_withdrawals(book: _Book, notes: list[str]) -> None:
    """Rule 1: an account whose pending withdrawal its cash does not cover sells there."""
    total = book.total_value()
    for account_id in sorted(book.accounts):
        if book.cash[account_id] >= 0:
            continue

        # Most overweight household-wide first.
        def over(symbol: str) -> tuple[Decimal, str]:
            weight = book.held(symbol) * book.prices[symbol] / total if total > 0 else ZERO
            target = next(s.target_weight for s in book.snapshot.securities if s.symbol == symbol)
            return (-(weight - target), symbol)

        for symbol in sorted((s for s, q in book.qty[account_id].items() if q > 0 and s in book.prices), key=over):
            short = -book.cash[account_id]
            if short <= 0:
                break
            price = book.prices[symbol]
            # Round up to cover the shortfall (a sale never goes past the holding).
            unit = book.unit(account_id)
            want = (short / price / unit).to_integral_value(rounding=ROUND_CEILING) * unit
            book.sell(account_id, symbol, want)
        if book.cash[account_id] < 0:
            notes.append(f"Account {account_id}: its holdings do not cover its withdrawal.")


def plan_household(snapshot: GroupSnapshot, *, force: bool = False) -> GroupPlan:
    """The group's trades (see the module docstring). `force` rebalances inside the bands too."""
    book = _Book(snapshot)
    before_qty = {s.symbol: book.held(s.symbol) for s in snapshot.securities}
    drift_before = group_drift(snapshot, before_qty, sum((a.cash for a in snapshot.accounts), ZERO))
    flows = any(a.external_flow for a in snapshot.accounts)
    needed = force or flows or _calls_for_trades(snapshot, drift_before)
    notes: list[str] = []
    if not needed:
        if not any(r.breached for r in drift_before):
            return GroupPlan(snapshot.group_id, False, {}, drift_before, drift_before, notes=("Inside its bands.",))
        return GroupPlan(
            snapshot.group_id, False, {}, drift_before, drift_before, notes=_waiting_notes(snapshot, drift_before)
        )
    _raise_withdrawals(book, notes)
    total = book.total_value()
    by_symbol = {s.symbol: s for s in snapshot.securities}
    # Sells: every security over target, down to target.
    for security in sorted(snapshot.securities, key=lambda s: s.symbol):
        if security.price <= 0:
            continue
        excess = book.held(security.symbol) * security.price - security.target_weight * total
        for account_id in _sell_order(book, security.symbol, excess):
            if excess <= 0:
                break
            quantity = (excess / security.price).quantize(book.unit(account_id), rounding=ROUND_DOWN)
            excess -= book.sell(account_id, security.symbol, quantity)
    # Buys: every security under target, up to target, most underweight first.
    keep = {a: snapshot.cash_target * _account_value(book, a) for a in book.accounts}

    def shortfall(security: GroupSecurity) -> Decimal:
        return security.target_weight * total - book.held(security.symbol) * security.price

    wanted = []
    for s in snapshot.securities:
        if s.restricted or s.target_weight <= 0 or s.price <= 0:
            continue
        if s.wash_blocked(snapshot.as_of):
            if shortfall(s) >= s.price:
                notes.append(f"{s.symbol} {_why_unbuyable(s)}.")
            continue
        wanted.append(s)
    for security in sorted(wanted, key=lambda s: (-shortfall(s), s.symbol)):
        need = shortfall(security)
        for account_id in _buy_order(book, security, need):
            if need < security.price:
                break
            spendable = book.cash[account_id] - keep[account_id]
            if spendable <= 0:
                continue
            need -= book.buy(account_id, security.symbol, min(need, spendable))
    after_qty = {s: book.held(s) for s in by_symbol}
    drift_after = group_drift(snapshot, after_qty, sum(book.cash.values(), ZERO))
    for row in drift_after:
        if row.breached:
            notes.append(
                f"{row.symbol} stays {abs(row.drift) * 100:.2f} points {'over' if row.drift > 0 else 'under'} "
                "its target: no account had the cash or the shares to trade it further."
            )
    trades: dict[int, tuple[Trade, ...]] = {}
    realised = ZERO
    for account_id in sorted(book.accounts):
        rows: list[Trade] = []
        for (acct, symbol), quantity in sorted(book.sells.items()):
            if acct != account_id:
                continue
            gain = book.gains.get((acct, symbol), ZERO)
            if not book.accounts[acct].tax_deferred:
                realised += gain
            price = book.prices[symbol]
            rows.append(
                Trade(
                    symbol,
                    SELL,
                    quantity,
                    price,
                    book.money(quantity * price),
                    tuple(book.lot_sales.get((acct, symbol), ())),
                    gain,
                )
            )
        for (acct, symbol), quantity in sorted(book.buys.items()):
            if acct == account_id:
                price = book.prices[symbol]
                rows.append(Trade(symbol, BUY, quantity, price, book.money(quantity * price)))
        if rows:
            trades[account_id] = tuple(rows)
    return GroupPlan(snapshot.group_id, bool(trades), trades, drift_before, drift_after, realised, tuple(notes))


def _unbuyable(snapshot: GroupSnapshot) -> dict[str, GroupSecurity]:
    """The model's securities no plan may buy today: restricted, or sold at a loss inside the
    wash-sale window."""
    return {s.symbol: s for s in snapshot.securities if s.restricted or s.wash_blocked(snapshot.as_of)}


def _why_unbuyable(security: GroupSecurity) -> str:
    """Why `security` may not be bought today, as a plan's note says it after its symbol."""
    if security.restricted:
        return "is on the restricted list"
    return (
        f"was sold at a loss on {security.last_loss_sale_on} and is not bought again within "
        f"{WASH_SALE_DAYS} days (wash sale)"
    )


def _calls_for_trades(snapshot: GroupSnapshot, drift: tuple[GroupDriftRow, ...]) -> bool:
    """Whether a row outside its band is one that trades could bring back. Not a security under
    its target that cannot be bought (`_unbuyable`), nor cash over its target by no more than what
    waits for such securities (their shortfall, kept in cash until they can be bought) plus the
    band: rebalancing the other rows to the penny every night would only trade the accounts against
    each other (the sales in one account, the buys with another's cash) and leave the household
    where it was."""
    unbuyable = _unbuyable(snapshot)
    waiting = sum((-r.drift for r in drift if r.symbol in unbuyable and r.drift < 0), ZERO)
    for row in drift:
        if not row.breached or (row.symbol in unbuyable and row.drift < 0):
            continue
        if row.symbol == CASH and row.drift > 0 and row.drift - waiting <= snapshot.threshold:
            continue
        return True
    return False


def _waiting_notes(snapshot: GroupSnapshot, drift: tuple[GroupDriftRow, ...]) -> tuple[str, ...]:
    """Why a group outside its bands is not traded: each security that cannot be bought yet, and
    the cash that waits for it."""
    unbuyable = _unbuyable(snapshot)
    notes = []
    for row in drift:
        security = unbuyable.get(row.symbol)
        if security is None or not row.breached or row.drift >= 0:
            continue
        notes.append(
            f"{row.symbol} is {abs(row.drift) * 100:.2f} points under its target: it {_why_unbuyable(security)}."
        )
    notes.append(
        "No trade: the household is outside its bands only where no trade may help; the cash waiting "
        "for what cannot be bought yet stays in cash."
    )
    return tuple(notes)


def _account_value(book: _Book, account_id: int) -> Decimal:
    held = book.qty[account_id]
    return sum((q * book.prices[s] for s, q in held.items() if s in book.prices), book.cash[account_id])


def household_snapshot(
    *,
    group_id: int | str,
    as_of: date,
    accounts: Sequence[GroupAccount],
    securities: Sequence[GroupSecurity],
    cash_target: Decimal = ZERO,
    threshold: Decimal = Decimal("0.05"),
) -> GroupSnapshot:
    """A GroupSnapshot with every held or targeted symbol priced (a held symbol without a price
    is left out of the plan and named by the caller)."""
    return GroupSnapshot(group_id, as_of, tuple(accounts), tuple(securities), cash_target, threshold)
