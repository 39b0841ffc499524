"""The portfolios API, transfers in: once per idempotency key, all or nothing, the advisor's only."""

from datetime import date
from decimal import Decimal

import pytest

from portfolios.models import TaxLot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


def transfer(client, account, body, key="tr-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/accounts/{account.pk}/transfers-in/", body, format="json", **headers)


TRANSFER = {
    "positions": [
        {
            "symbol": "VXUS",
            "quantity": "12.5",
            "cost_basis": {"amount": "700.00", "currency": "USD"},
            "acquired_on": "2022-06-01",
        }
    ],
    "cash": {"amount": "250.00", "currency": "USD"},
}


def test_a_transfer_in_moves_positions_and_cash_once(api, alice, modelled):
    client = api(alice.user)
    first = transfer(client, modelled, TRANSFER)
    assert first.status_code == 201, first.json()
    again = transfer(client, modelled, TRANSFER)
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    lot = TaxLot.objects.get(account=modelled, security__symbol="VXUS")
    assert (lot.quantity, lot.cost_per_share, lot.acquired_on) == (Decimal("12.5"), Decimal("56"), date(2022, 6, 1))
    body = client.get(f"/api/v1/accounts/{modelled.pk}/").json()
    assert body["cash"] == {"amount": "1250.00", "currency": "USD"}


def test_a_transfer_in_needs_an_idempotency_key(api, alice, modelled):
    answer = transfer(api(alice.user), modelled, TRANSFER, key=None)
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["detail"]


def test_the_same_key_with_another_transfer_is_refused(api, alice, modelled):
    client = api(alice.user)
    transfer(client, modelled, TRANSFER)
    answer = transfer(client, modelled, {"cash": {"amount": "1.00", "currency": "USD"}})
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"positions": [{"symbol": "VXUS", "quantity": "0", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        (
            {"positions": [{"symbol": "VXUS", "quantity": "-2", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        (
            {"positions": [{"symbol": "NOPE", "quantity": "2", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        ({"positions": [{"symbol": "VXUS", "quantity": "2", "cost_basis": "100"}]}, "positions"),
        (
            {
                "positions": [
                    {
                        "symbol": "VXUS",
                        "quantity": "2",
                        "cost_basis": {"amount": "1", "currency": "USD"},
                        "acquired_on": "2999-01-01",
                    }
                ]
            },
            "positions",
        ),
        ({"cash": {"amount": "10.001", "currency": "USD"}}, "cash"),
        ({"cash": {"amount": "10", "currency": "EUR"}}, "cash"),
        ({"cash": {"amount": "1e3", "currency": "USD"}}, "cash"),
        ({}, "non_field_errors"),
    ],
)
def test_a_bad_transfer_is_refused_and_nothing_moves(api, alice, modelled, body, field):
    before = (TaxLot.objects.count(), api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()["cash"])
    answer = transfer(api(alice.user), modelled, body)
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()
    assert (TaxLot.objects.count(), api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()["cash"]) == before


def test_only_the_advisor_transfers_in(api, bob, charlie, modelled):
    assert transfer(api(charlie), modelled, TRANSFER).status_code == 403
    assert transfer(api(bob.user), modelled, TRANSFER).status_code == 404
    assert transfer(api(modelled.household.advisor.user, "read"), modelled, TRANSFER).status_code == 403
