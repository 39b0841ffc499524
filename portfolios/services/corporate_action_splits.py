"""Splits and reverse splits on the ex-date: the ledger entries, the cash in lieu of fractions,
the tax lots (rules in `portfolios.services.corporate_actions`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from kronos.history import attribute
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger.posting import PostingSpec
from portfolios.models import (
    ZERO,
    CorporateAction,
    CorporateActionEntitlement,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    LotClosure,
    Price,
    TaxLot,
)
from portfolios.services.common import COST_QUANTUM, PRICE_QUANTUM, SHARE_QUANTUM, WHOLE
from portfolios.services.common import to_cents as cents
from portfolios.services.corporate_actions import holdings_before, split_handlers
from portfolios.services.lots import lots_take


def cash_in_lieu_price(action: CorporateAction) -> Decimal:
    """The action's price for fractional shares: given, else the ex-date close, else the last
    close before the ex-date divided by the ratio (6 places, ROUND_HALF_EVEN)."""
    if action.cash_in_lieu_price is not None:
        return action.cash_in_lieu_price
    on_day = Price.objects.filter(security=action.security, date=action.ex_date).values_list("close", flat=True).first()
    if on_day is not None:
        return on_day
    before = (
        Price.objects.filter(security=action.security, date__lt=action.ex_date)
        .order_by("-date")
        .values_list("close", flat=True)
        .first()
    )
    if before is None:
        raise PortfoliosError(
            f"No price of {action.security.symbol} to pay fractional shares at: give the cash-in-lieu price.",
            field="cash_in_lieu_price",
        )
    assert action.ratio_numerator and action.ratio_denominator
    return (before * action.ratio_denominator / action.ratio_numerator).quantize(
        PRICE_QUANTUM, rounding=ROUND_HALF_EVEN
    )


@dataclass(frozen=True, slots=True)
class SplitOutcome:
    """One account's split: `new_quantity` kept, `fraction` paid as `cash_in_lieu`."""

    quantity: Decimal
    new_quantity: Decimal
    fraction: Decimal
    cash_in_lieu: Decimal


def split_outcome(
    quantity: Decimal, *, numerator: int, denominator: int, fractional_shares: bool, price: Decimal
) -> SplitOutcome:
    """The pure rule (see the module docstring): exact ratio, whole shares kept ROUND_DOWN (9
    places for fractional accounts), the rest paid at `price`, rounded to cents ROUND_HALF_EVEN."""
    exact = quantity * numerator / denominator
    kept = exact.quantize(SHARE_QUANTUM if fractional_shares else WHOLE, rounding=ROUND_DOWN)
    fraction = exact - kept
    return SplitOutcome(
        quantity=quantity,
        new_quantity=kept,
        fraction=fraction,
        cash_in_lieu=cents(fraction * price) if fraction else ZERO,
    )


def keeps_fractions(account: InvestmentAccount, quantity: Decimal) -> bool:
    """Whether a split leaves the account its fraction of a share: it takes fractional shares, or
    it holds a fraction already (shares transferred in) -- the custodian's rule, so both books
    agree on the ex-date."""
    return account.fractional_shares or quantity != quantity.to_integral_value()


def split_apply(action: CorporateAction, *, acting_user: User) -> int:
    num, den = action.ratio_numerator, action.ratio_denominator
    assert num and den
    held = holdings_before(security=action.security, day=action.ex_date)
    accounts = {
        a.pk: a for a in InvestmentAccount.objects.filter(pk__in=list(held)).select_related("household").order_by("pk")
    }
    outcomes: dict[int, SplitOutcome] = {}
    price: Decimal | None = None
    for account_id, quantity in sorted(held.items()):
        if quantity <= 0:
            continue
        exact = quantity * num / den
        fractional = keeps_fractions(accounts[account_id], quantity)
        needs_price = exact != exact.quantize(SHARE_QUANTUM if fractional else WHOLE)
        if needs_price and price is None:
            price = cash_in_lieu_price(action)
        outcomes[account_id] = split_outcome(
            quantity, numerator=num, denominator=den, fractional_shares=fractional, price=price or ZERO
        )
    if price is not None and action.cash_in_lieu_price is None:
        action.cash_in_lieu_price = price
    memo_head = f"{action.security.symbol} {action.describe()}"
    books = ledger.client_books(accounts.values())
    agents: dict[int, LedgerBook] = {}
    specs = []
    for account_id, outcome in outcomes.items():
        firm_id = accounts[account_id].household.firm_id
        if firm_id not in agents:
            agents[firm_id] = ledger.system_book(LedgerBook.Kind.CORPORATE_ACTIONS, firm=firm_id)
        book, agent = books[account_id], agents[firm_id]
        delta = outcome.new_quantity - outcome.quantity
        postings = []
        if delta:
            postings += [
                PostingSpec.shares(book, action.security, delta),
                PostingSpec.shares(agent, action.security, -delta),
            ]
        if outcome.cash_in_lieu:
            postings += [
                PostingSpec.cash(book, outcome.cash_in_lieu, action.currency),
                PostingSpec.cash(agent, -outcome.cash_in_lieu, action.currency),
            ]
        if not postings:
            continue
        memo = f"{memo_head}: {outcome.quantity.normalize():f} -> {outcome.new_quantity.normalize():f}"
        if outcome.cash_in_lieu:
            memo += f", cash in lieu of {outcome.fraction.normalize():f} at {price}"
        specs.append(
            (
                account_id,
                ledger.EntrySpec(
                    kind=JournalEntry.Kind.CORPORATE_ACTION,
                    postings=postings,
                    effective_date=action.ex_date,
                    memo=memo,
                    idempotency_key=f"corpaction:{action.pk}:ex:{account_id}",
                    reference_type="portfolios.corporateaction",
                    reference_id=action.pk,
                ),
            )
        )
    posted = ledger.post_entries_bulk([s for _, s in specs], acting_user=acting_user) if specs else []
    entries = {account_id: p.entry for (account_id, _), p in zip(specs, posted, strict=True)}
    reason = f"{action.describe()} #{action.pk}"
    _split_lots(action, outcomes, entries, price=price, acting_user=acting_user, reason=reason)
    bulk_create_with_history(
        [
            CorporateActionEntitlement(
                action=action,
                account_id=account_id,
                quantity=o.quantity,
                new_quantity=o.new_quantity,
                fraction=o.fraction,
                cash_in_lieu=o.cash_in_lieu,
                status=CorporateActionEntitlement.Status.APPLIED,
                entry=entries.get(account_id),
            )
            for account_id, o in outcomes.items()
        ],
        CorporateActionEntitlement,
        default_user=acting_user,
        default_change_reason=reason,
    )
    for handler in split_handlers:
        handler(action=action, acting_user=acting_user)
    action.status = CorporateAction.Status.APPLIED
    action.processed_at = timezone.now()
    attribute(action, acting_user=acting_user, reason=f"applied: {reason}")
    action.save(update_fields=["status", "processed_at", "cash_in_lieu_price"])
    return len(outcomes)


def _split_lots(
    action: CorporateAction,
    outcomes: dict[int, SplitOutcome],
    entries: dict[int, JournalEntry | None],
    *,
    price: Decimal | None,
    acting_user: User,
    reason: str,
) -> None:
    """Every open lot acquired before the ex-date: quantity x ratio, cost per share / ratio; then
    the fraction paid in lieu relieved from the account's lots, highest cost first, as a sale."""
    num, den = action.ratio_numerator, action.ratio_denominator
    assert num and den
    lots = list(
        TaxLot.objects.select_for_update()
        .filter(security=action.security, account_id__in=list(outcomes), quantity__gt=0, acquired_on__lt=action.ex_date)
        .order_by("account_id", "-cost_per_share", "acquired_on", "id")
    )
    by_account: dict[int, list[TaxLot]] = defaultdict(list)
    for lot in lots:
        lot.quantity = lot.quantity * num / den
        lot.original_quantity = lot.original_quantity * num / den
        lot.cost_per_share = (lot.cost_per_share * den / num).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
        by_account[lot.account_id].append(lot)
    closures: list[LotClosure] = []
    for account_id, outcome in outcomes.items():
        # Below a billionth of a share (a fractional account's remainder) no lot can record it.
        taken, _ = lots_take(
            by_account.get(account_id, []),
            outcome.fraction.quantize(SHARE_QUANTUM, rounding=ROUND_HALF_EVEN),
            price=price or ZERO,
            closed_on=action.ex_date,
            entry=entries.get(account_id),
            # Cash in lieu is a sale of the fraction: the last lot's proceeds are what is left,
            # so the proceeds add up to the cash paid.
            total_proceeds=outcome.cash_in_lieu,
        )
        closures += taken
    for lot in lots:
        # Quantities keep 9 places; a split's product of two integers over one never needs more
        # unless the denominator has factors other than 2 and 5 -- then ROUND_DOWN, the remainder
        # being below a billionth of a share.
        lot.quantity = lot.quantity.quantize(SHARE_QUANTUM, rounding=ROUND_DOWN)
        lot.original_quantity = max(lot.original_quantity.quantize(SHARE_QUANTUM, rounding=ROUND_DOWN), lot.quantity)
    if lots:
        bulk_update_with_history(
            lots,
            TaxLot,
            ["quantity", "original_quantity", "cost_per_share", "closed_on"],
            default_user=acting_user,
            default_change_reason=reason,
        )
    if closures:
        bulk_create_with_history(closures, LotClosure, default_user=acting_user, default_change_reason=reason)
