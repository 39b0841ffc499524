"""What the advisor reads on the orders and proposal pages: why an order waits or was refused
(as text, not a hover title), and figures in the portal's one format (kronos.formatting)."""

from decimal import Decimal

import pytest

from tests.pages import visible_text
from tests.trading.factories import account_with, model_of
from tests.trading.test_orders import soft_fail
from trading import services
from trading.checks import PRETRADE_CHECKS
from trading.models import Order, RebalanceProposal

pytestmark = pytest.mark.django_db

REVIEW_REASON = "Too concentrated."


def test_the_orders_page_shows_why_an_order_waits_for_review_and_why_one_was_rejected(
    verified_client, alice, advisor_account, settings, override_checks
):
    override_checks(PRETRADE_CHECKS, soft_fail)
    waiting = services.order_create(
        account=advisor_account,
        security="AAPL",
        side="buy",
        quantity=Decimal("2"),
        acting_user=alice.user,
        source="advisor",
    )
    rejected = services.order_create(
        account=advisor_account,
        security="AAPL",
        side="buy",
        quantity=Decimal("1"),
        acting_user=alice.user,
        source="advisor",
    )
    services.order_review_decide(order=rejected, approve=False, acting_user=alice.user, note="Client said no by phone.")
    assert Order.objects.get(pk=waiting.pk).status == "pending_review"
    assert REVIEW_REASON in Order.objects.get(pk=waiting.pk).status_reason

    text = visible_text(verified_client(alice.user).get(f"/accounts/{advisor_account.pk}/trading/").content)
    assert f"Pending review {Order.objects.get(pk=waiting.pk).status_reason}" in text
    assert "Rejected Client said no by phone." in text


def test_the_proposal_page_shows_why_its_orders_wait_for_review(
    verified_client, alice, alice_household, securities, settings, override_checks
):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    client = verified_client(alice.user)
    client.post(f"/accounts/{account.pk}/rebalance/")
    proposal = RebalanceProposal.objects.get()
    override_checks(PRETRADE_CHECKS, soft_fail)
    client.post(f"/proposals/{proposal.pk}/approve/")
    orders = list(Order.objects.filter(proposal=proposal))
    assert orders and all(o.status == "pending_review" for o in orders)

    text = visible_text(client.get(f"/proposals/{proposal.pk}/").content)
    assert text.count(f"Pending review {orders[0].status_reason}") == len(orders)


def test_the_proposal_page_shows_drift_in_percent_and_money_with_separators(
    verified_client, alice, alice_household, securities
):
    # AAPL 150, BND 70; $10,000 cash on a 50/50 model: buy 33 AAPL ($4,950.00) and 71 BND ($4,970.00),
    # then the engine's last pass spends $70 of the $80 left on one more BND (the cheaper share that
    # fits, $30 under its target): 72 BND ($5,040.00), $10 (0.10%) of cash left.
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    client = verified_client(alice.user)
    client.post(f"/accounts/{account.pk}/rebalance/")
    proposal = RebalanceProposal.objects.get()
    text = visible_text(client.get(f"/proposals/{proposal.pk}/").content)

    assert "max drift 100.00% before, 0.50% after" in text  # the account page's form, not 1.0000
    assert "AAPL 50.00% 0.00% −50.00% −0.50%" in text  # target, actual, drift and after, in percent
    assert "CASH 0.00% 100.00% +100.00% +0.10%" in text
    assert "0.5000" not in text and "1.0000" not in text
    assert "Buy AAPL 33 $150.00 $4,950.00" in text  # quantity exact, price and amount as money
    assert "Buy BND 72 $70.00 $5,040.00" in text
    assert "estimated cost $" in text


def test_the_orders_page_shows_money_with_separators_and_quantities_exactly(verified_client, alice, advisor_account):
    services.order_create(
        account=advisor_account,
        security="BND",
        side="buy",
        quantity=Decimal("100"),
        acting_user=alice.user,
        source="advisor",
    )
    services.order_create(
        account=advisor_account,
        security="AAPL",
        side="sell",
        quantity=Decimal("0.123456789"),
        acting_user=alice.user,
        source="advisor",
    )
    text = visible_text(verified_client(alice.user).get(f"/accounts/{advisor_account.pk}/trading/").content)
    assert "Buying power $" in text and "10000.00 USD" not in text
    assert "Buy BND 100 Market" in text  # not 1E+2
    assert "Sell AAPL 0.123456789 Market" in text  # every decimal of a real fraction, no trailing zeros
    assert "E+" not in text


@pytest.mark.usefixtures("uncached")
def test_the_orders_page_with_reasons_keeps_a_fixed_query_count(
    verified_client, alice, advisor_account, settings, override_checks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    override_checks(PRETRADE_CHECKS, soft_fail)
    client = verified_client(alice.user)

    def place(n):
        for _ in range(n):
            services.order_create(
                account=advisor_account,
                security="AAPL",
                side="buy",
                quantity=Decimal("0.5"),
                acting_user=alice.user,
                source="advisor",
            )

    def count():
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(f"/accounts/{advisor_account.pk}/trading/")
        return len(ctx.captured_queries), visible_text(page.content).count(REVIEW_REASON)

    place(2)
    few = count()
    place(10)
    many = count()
    assert (few[1], many[1]) == (2, 12)
    assert few[0] == many[0]
