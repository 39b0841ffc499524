"""The mornings after a simulated firm's last day: trading rounds and a close until every order
has ended -- a buy its proposal's sells released at the last close goes out the next morning
(a 2,000-account run ended with four such buys still approved after a single morning)."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from sandboxes.simulation.config import Summary
from sandboxes.simulation.runner import FINISH_MORNINGS, Simulation
from tests.trading.factories import advisor_account, securities  # noqa: F401
from trading import services
from trading.models import Order

pytestmark = pytest.mark.django_db
LAST = date(2026, 1, 2)


def _simulation(on_round) -> tuple[Simulation, list[date]]:
    """A Simulation with the world stubbed: `on_round(day)` is each trading round; the closes are
    recorded."""
    sim = Simulation.__new__(Simulation)
    closes: list[date] = []
    sim.clock = SimpleNamespace(at=lambda *args: None, shift=lambda minutes: None)
    sim.config = SimpleNamespace(rounds=2)
    sim.summary = Summary()
    sim.trading_round = lambda: on_round(sim.today)  # type: ignore[method-assign]
    sim.close_of_day = lambda: closes.append(sim.today)  # type: ignore[method-assign]
    return sim, closes


@pytest.fixture
def open_order(advisor_account, alice):  # noqa: F811 -- the fixture imported above
    order = services.order_create(
        account=advisor_account,
        security="AAPL",
        side="buy",
        quantity=Decimal(1),
        acting_user=alice.user,
        source="advisor",
    )
    # Approved and not sent yet (the next round's relay would send it), whatever the checks said
    # of this account without an owner.
    Order.objects.filter(pk=order.pk).update(status="approved")
    return order


def test_one_morning_when_every_order_ends_in_it(open_order):
    sim, closes = _simulation(lambda day: Order.objects.filter(pk=open_order.pk).update(status="filled"))
    sim.mornings_after(LAST)
    assert closes == [date(2026, 1, 3)]


def test_an_order_still_open_after_the_first_close_gets_another_morning(open_order):
    def world(day: date) -> None:
        if day == date(2026, 1, 4):  # released at the first morning's close, filled the next
            Order.objects.filter(pk=open_order.pk).update(status="filled")

    sim, closes = _simulation(world)
    sim.mornings_after(LAST)
    assert closes == [date(2026, 1, 3), date(2026, 1, 4)]
    assert sim.summary.counts["mornings after the last day"] == 2


def test_an_order_that_never_ends_stops_the_mornings_at_the_limit(open_order):
    sim, closes = _simulation(lambda day: None)
    sim.mornings_after(LAST)
    assert len(closes) == FINISH_MORNINGS  # and the final check reports the order
    assert Order.objects.get(pk=open_order.pk).status not in ("filled", "cancelled")
