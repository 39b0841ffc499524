"""The withdrawal form on the account's trading page (issue 13): what the advisor and the investor
are told when a withdrawal is larger than the cash. Same account as test_withdrawal_raise: 30 VTI
at $200, 57 BND at $70 and $10.00 cash on a 60/40 model, worth $10,000.00."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import system_user
from trading import services
from trading.models import CashTransfer, Order, RebalanceProposal

pytestmark = pytest.mark.django_db


def _post(client, account, **data):
    return client.post(f"/accounts/{account.pk}/transfers/new/", {"direction": "withdrawal", **data}, follow=True)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_the_form_offers_to_raise_the_cash_ticked(verified_client, alice, on_target):
    page = verified_client(alice.user).get(f"/accounts/{on_target.pk}/trading/").content.decode()
    assert 'name="raise_cash"' in page
    assert "Sell holdings to raise the cash" in page
    assert re.search(r'<input type="checkbox" name="raise_cash"[^>]*\schecked', page)


def test_an_advisors_withdrawal_larger_than_the_cash_places_the_sales_and_waits(verified_client, alice, on_target):
    response = _post(verified_client(alice.user), on_target, amount="2000.00", raise_cash="on")
    proposal = RebalanceProposal.objects.get(account=on_target)
    assert _messages(response) == [
        f"Withdrawal of 2,000.00 USD requested. The cash is short, so sale proposal {proposal.pk} is approved "
        "and its sell orders are placed; the withdrawal is sent once the sales have settled."
    ]
    page = response.content.decode()
    assert "Awaiting cash from sales" in page
    assert f'href="/proposals/{proposal.pk}/"' in page
    assert Order.objects.filter(proposal=proposal, side="sell").count() == 2


def test_an_investors_withdrawal_waits_for_the_advisors_approval(verified_client, charlie, on_target):
    response = _post(verified_client(charlie), on_target, amount="2000.00", raise_cash="on")
    proposal = RebalanceProposal.objects.get(account=on_target)
    assert "waits for the advisor's approval" in _messages(response)[0]
    assert proposal.status == "proposed" and not Order.objects.exists()


def test_without_raising_cash_the_old_refusal_stands(verified_client, alice, on_target):
    response = _post(verified_client(alice.user), on_target, amount="2000.00")
    assert _messages(response) == ["Not enough cash to withdraw 2,000.00 USD: 10.00 is available."]
    assert not CashTransfer.objects.exists() and not RebalanceProposal.objects.exists()


def test_more_than_the_account_is_worth_is_refused_and_nothing_is_written(verified_client, alice, on_target):
    response = _post(verified_client(alice.user), on_target, amount="10000.01", raise_cash="on")
    assert _messages(response) == ["10,000.01 USD is more than the account is worth (10,000.00 USD)."]
    assert not CashTransfer.objects.exists()
    assert not RebalanceProposal.objects.exists() and not Order.objects.exists()


def test_a_withdrawal_whose_sales_fell_short_says_so_on_the_page(verified_client, alice, on_target):
    client = verified_client(alice.user)
    _post(client, on_target, amount="2000.00", raise_cash="on")
    for order in Order.objects.all():
        services.order_cancel(order=order, acting_user=alice.user)
    services.withdrawals_release(acting_user=system_user())
    page = client.get(f"/accounts/{on_target.pk}/trading/").content.decode()
    assert "Failed" in page
    assert "The sales left 10.00 USD to pay out, short of 2,000.00 USD: nothing was paid out" in page


def test_the_transfer_list_costs_the_same_queries_with_more_waiting_withdrawals(verified_client, alice, on_target):
    client = verified_client(alice.user)
    _post(client, on_target, amount="100.00", raise_cash="on")
    client.get(f"/accounts/{on_target.pk}/trading/")
    with CaptureQueriesContext(connection) as one:
        client.get(f"/accounts/{on_target.pk}/trading/")
    for n in range(3):
        _post(client, on_target, amount=f"10{n}.00", raise_cash="on")
    assert CashTransfer.objects.filter(status="awaiting_cash").count() == 4
    with CaptureQueriesContext(connection) as four:
        client.get(f"/accounts/{on_target.pk}/trading/")
    assert len(four.captured_queries) == len(one.captured_queries)
