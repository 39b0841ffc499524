"""Trading test data, built through the real services (holdings and cash arrive by transfer in)."""

import itertools
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import system_user
from portfolios import services as portfolio_services
from portfolios.models import ModelPortfolio, ModelTarget, Price, Security
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory
from trading import services as trading_services
from trading.adapters.custodian import signing

_numbers = itertools.count(1)


def today() -> date:
    """The services' today, read when a test runs, not when the module is imported (a run may cross midnight)."""
    return timezone.localdate()


def make_security(symbol: str, price: str | Decimal, *, active: bool = True) -> Security:
    security = SecurityFactory(symbol=symbol, is_active=active)
    Price.objects.update_or_create(security=security, date=today(), defaults={"close": Decimal(price)})
    PriceFactory(security=security, date=date.today() - timedelta(days=3), close=Decimal(price))
    return security


def account_with(household, *, cash="0", positions=(), model=None, **fields):
    """An account of `household` with `cash` and positions [(symbol, quantity, cost_per_share)] transferred in."""
    account = InvestmentAccountFactory(
        household=household, custodian_account_number=f"T{next(_numbers):07d}", model=model, **fields
    )
    cash = Decimal(cash)
    if cash or positions:
        portfolio_services.transfer_in(
            account=account,
            positions=[
                {
                    "symbol": s,
                    "quantity": Decimal(q),
                    "cost_per_share": Decimal(c),
                    "acquired_on": date.today() - timedelta(days=400),
                }
                for s, q, c in positions
            ],
            cash=cash if cash else None,
            acting_user=system_user(),
            idempotency_key=f"test-fund-{account.pk}",
        )
    return account


def model_of(firm, weights: dict[str, str], cash_target="0") -> ModelPortfolio:
    model = ModelPortfolio.objects.create(
        firm=firm, name=f"Model {next(_numbers)}", risk_level=5, cash_target=Decimal(cash_target)
    )
    for symbol, weight in weights.items():
        ModelTarget.objects.create(model=model, security=Security.objects.get(symbol=symbol), weight=Decimal(weight))
    return model


@pytest.fixture
def securities(db):
    return {"AAPL": make_security("AAPL", "150"), "BND": make_security("BND", "70"), "VTI": make_security("VTI", "200")}


@pytest.fixture
def advisor_account(alice_household, securities):
    """alice's account: $10,000.00 cash and 100 AAPL bought at 100 (now 150)."""
    return account_with(alice_household, cash="10000.00", positions=[("AAPL", "100", "100")])


_ids = iter(range(1, 10_000))


def filled_trade(account, symbol, side, quantity, price, on, user, **kwargs):
    """An order filled at `price` on `on` through the real services (checks off in this app)."""
    order = trading_services.order_create(
        account=account,
        security=symbol,
        side=side,
        quantity=Decimal(quantity),
        acting_user=user,
        source="advisor",
        **kwargs,
    )
    order = trading_services.order_transition(order, "submitted", acting_user=user)
    trading_services.execution_apply(
        fill=trading_services.Fill(
            client_order_id=order.client_order_id,
            execution_id=f"W{next(_ids)}",
            quantity=Decimal(quantity),
            price=Decimal(price),
            trade_date=on,
        ),
        acting_user=user,
    )
    order.refresh_from_db()
    return order


#: The custodian webhook secret the trading tests configure (tests/trading/conftest.py).
WEBHOOK_SECRET = "test-webhook-secret"


def fill(order, *, event_id, execution_id, quantity, price="150", order_quantity=None):
    """A custodian `order.fill` event for `order` (its order quantity only when given)."""
    data = {
        "client_order_id": order.client_order_id,
        "execution_id": execution_id,
        "quantity": quantity,
        "price": price,
    }
    if order_quantity is not None:
        data["order_quantity"] = order_quantity
    return {"id": event_id, "type": "order.fill", "data": data}


def post(client, event):
    """`event` signed and posted to the custodian webhook, as the custodian sends it."""
    body = json.dumps(event).encode()
    return client.post(
        "/webhooks/custodian/",
        data=body,
        content_type="application/json",
        HTTP_X_CUSTODIAN_SIGNATURE=signing.sign(WEBHOOK_SECRET, body),
    )


def profiled_owner(household, level: int = 7):
    """Every investor of `household` given a risk profile of `level` (its questionnaire answered
    through the compliance service), and an owner made if it has none: models up to that risk are
    suitable for the household's accounts, as assigning one (directly or by joining a rebalancing
    group) requires."""
    from accounts.models import Investor
    from tests.accounts.factories import InvestorFactory
    from tests.compliance.factories import profile

    investors = list(Investor.objects.filter(households=household, risk_profile__isnull=True))
    if not Investor.objects.filter(households=household).exists():
        investors = [InvestorFactory(firm=household.firm, households=[household])]
    for investor in investors:
        profile(investor, level)
