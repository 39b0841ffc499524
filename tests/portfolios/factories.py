"""Factories for the portfolios domain, shared by every test package (keep them stable).

Holdings and cash are never created directly: use `fund(account, cash=..., holdings=...)`,
which transfers them in through the ledger like the real service.
"""

from datetime import date
from decimal import Decimal

import factory

from portfolios.models import InvestmentAccount, ModelPortfolio, ModelTarget, Price, Security
from tests.accounts.factories import HouseholdFactory


class SecurityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Security
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: f"SEC{n}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Inc.")
    asset_class = "us_equity"
    currency = "USD"


class PriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Price

    security = factory.SubFactory(SecurityFactory)
    date = factory.LazyFunction(date.today)
    close = Decimal("100.00")
    source = "test"


class ModelPortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPortfolio

    firm = factory.SubFactory("tests.accounts.factories.FirmFactory")
    name = factory.Sequence(lambda n: f"Model {n}")
    risk_level = 5
    cash_target = Decimal("0")


class ModelTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelTarget

    model = factory.SubFactory(ModelPortfolioFactory)
    security = factory.SubFactory(SecurityFactory)
    weight = Decimal("1")


class InvestmentAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvestmentAccount

    household = factory.SubFactory(HouseholdFactory)
    name = factory.Sequence(lambda n: f"Account {n}")
    custodian_account_number = factory.Sequence(lambda n: f"CUST{n:08d}")
    base_currency = "USD"
