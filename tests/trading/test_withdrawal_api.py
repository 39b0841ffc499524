"""`POST /api/v1/accounts/{id}/withdrawals/` with `raise_cash` (issue 13). Without it a withdrawal
larger than the cash is refused as before. Same account as test_withdrawal_raise ($10.00 cash,
worth $10,000.00)."""

from decimal import Decimal

import pytest

from portfolios.models import CashBalance
from trading.models import CashTransfer, Order, RebalanceProposal

pytestmark = pytest.mark.django_db


def _withdraw(client, account, amount, key="w-1", **extra):
    return client.post(
        f"/api/v1/accounts/{account.pk}/withdrawals/",
        {"amount": {"amount": amount, "currency": "USD"}, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_raise_cash_answers_the_waiting_withdrawal_with_its_proposal(api, alice, on_target):
    response = _withdraw(api(alice.user), on_target, "2000.00", raise_cash=True)
    assert response.status_code == 201, response.json()
    body = response.json()
    proposal = RebalanceProposal.objects.get(account=on_target)
    assert (body["status"], body["proposal"], body["amount"]) == (
        "awaiting_cash",
        proposal.pk,
        {"amount": "2000.00", "currency": "USD"},
    )
    assert proposal.status == "approved"  # the advisor may trade: the sales go at once


def test_exactly_the_cash_needs_no_sale_even_with_raise_cash(api, alice, on_target):
    body = _withdraw(api(alice.user), on_target, "10.00", raise_cash=True).json()
    assert (body["status"], body["proposal"]) == ("requested", None)
    assert not RebalanceProposal.objects.exists()


def test_retrying_the_same_key_places_no_second_proposal(api, alice, on_target):
    client = api(alice.user)
    first = _withdraw(client, on_target, "2000.00", raise_cash=True).json()
    again = _withdraw(client, on_target, "2000.00", raise_cash=True)
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert RebalanceProposal.objects.count() == 1 and Order.objects.count() == 2
    assert CashTransfer.objects.count() == 1


def test_more_than_the_account_is_worth_is_a_400_on_the_amount(api, alice, on_target):
    response = _withdraw(api(alice.user), on_target, "10000.01", raise_cash=True)
    assert response.status_code == 400
    body = response.json()
    assert "more than the account is worth (10,000.00 USD)" in body["detail"]
    assert body["code"] == "more_than_value" and "more than the account is worth" in body["amount"][0]
    assert not CashTransfer.objects.exists() and not RebalanceProposal.objects.exists()


def test_without_raise_cash_a_withdrawal_larger_than_the_cash_is_refused_as_before(api, alice, on_target):
    response = _withdraw(api(alice.user), on_target, "10.01")
    assert response.status_code == 400 and "Not enough cash" in response.json()["detail"]
    assert not RebalanceProposal.objects.exists()


def test_an_investors_withdrawal_leaves_the_sale_for_the_advisor(api, charlie, on_target):
    body = _withdraw(api(charlie), on_target, "2000.00", raise_cash=True).json()
    assert body["status"] == "awaiting_cash", body
    assert RebalanceProposal.objects.get(pk=body["proposal"]).status == "proposed"
    assert not Order.objects.exists()


def test_raise_cash_must_be_a_boolean(api, alice, on_target):
    response = _withdraw(api(alice.user), on_target, "2000.00", raise_cash="lots")
    assert response.status_code == 400
    assert not CashTransfer.objects.exists()
    assert CashBalance.objects.get(account=on_target).amount == Decimal("10.00")
