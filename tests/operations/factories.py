"""Factories and helpers for the operations tests."""

from datetime import date, timedelta
from decimal import Decimal

import factory

from accounts.models import Role
from portfolios.models import ValuationSnapshot
from tests.accounts.factories import UserFactory


class ValuationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ValuationSnapshot

    date = factory.LazyFunction(date.today)
    market_value = Decimal("0")
    cash = Decimal("0")


def valuations(account, values: dict[date, Decimal]) -> None:
    """One valuation per given day (market value = the value, no cash)."""
    ValuationSnapshot.objects.bulk_create(
        [ValuationSnapshot(account=account, date=d, market_value=v, cash=Decimal("0")) for d, v in values.items()]
    )


def weekdays(first: date, last: date):
    day = first
    while day <= last:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def ops_user(firm, **kwargs):
    return UserFactory(firm=firm, roles=[Role.OPERATIONS], **kwargs)
