"""A small demo-like book for the operations tests: a model, securities with prices, funded accounts."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from accounts.services import system_user
from portfolios.models import InvestmentAccount, ModelPortfolio, Price, Security
from portfolios.services import transfer_in
from tests.portfolios.factories import (
    InvestmentAccountFactory,
    ModelPortfolioFactory,
    ModelTargetFactory,
    SecurityFactory,
)

SYMBOLS = {"VTI": Decimal("100.00"), "BND": Decimal("50.00"), "VXUS": Decimal("25.00")}
WEIGHTS = {"VTI": Decimal("0.6"), "BND": Decimal("0.3"), "VXUS": Decimal("0.1")}


@dataclass
class Book:
    model: ModelPortfolio
    securities: dict[str, Security]
    accounts: list[InvestmentAccount] = field(default_factory=list)


def build_book(
    household, *, funded_on: date, price_days: list[date], drifted: int = 2, balanced: int = 2, automatic: bool = True
) -> Book:
    """`drifted` accounts hold 80/10/10 of a 60/30/10 model (20 points over), `balanced` hold the model."""
    securities = {s: SecurityFactory(symbol=s) for s in SYMBOLS}
    for day in price_days:
        Price.objects.bulk_create(
            [Price(security=securities[s], date=day, close=c, source="test") for s, c in SYMBOLS.items()]
        )
    model = ModelPortfolioFactory(firm=household.firm, name="Balanced 60/30/10")
    for symbol, weight in WEIGHTS.items():
        ModelTargetFactory(model=model, security=securities[symbol], weight=weight)
    book = Book(model=model, securities=securities)
    mixes = [{"VTI": 800, "BND": 200, "VXUS": 400}] * drifted + [{"VTI": 600, "BND": 600, "VXUS": 400}] * balanced
    for i, mix in enumerate(mixes):
        account = InvestmentAccountFactory(
            household=household,
            model=model,
            opened_on=funded_on,
            rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC
            if automatic
            else InvestmentAccount.RebalanceMode.APPROVAL,
        )
        transfer_in(
            account=account,
            acting_user=system_user(),
            idempotency_key=f"open:{account.pk}",
            positions=[
                {"symbol": s, "quantity": Decimal(q), "cost_basis": Decimal(q) * SYMBOLS[s], "acquired_on": funded_on}
                for s, q in mix.items()
            ],
            cash=Decimal("0.00") if i % 2 else Decimal("1000.00"),
            effective_date=funded_on,
        )
        book.accounts.append(account)
    return book


def mirror_into_sandbox(sandbox, accounts, *, day: date) -> None:
    """Give the sandbox custodian the opening books a real custodian would already hold: our
    books as of `day`, on that day (`SandboxCustodian.open_books`)."""
    from operations.services import book_holdings_as_of

    held = book_holdings_as_of(account_ids=[a.pk for a in accounts], as_of=day)
    sandbox.open_books(
        (account.custodian_account_number, day, "CASH" if asset.startswith("CASH:") else asset, quantity)
        for account in accounts
        for asset, quantity in held[account.pk].items()
    )


def inject(sandbox, account, asset: str, delta: Decimal, *, day: date) -> None:
    """A difference at the custodian: `delta` more (or less) of `asset` ("CASH" or a symbol)."""
    with sandbox._lock:
        sandbox._book(account.custodian_account_number).moves.append((day, asset, delta))
