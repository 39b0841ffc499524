"""Bulk approval from the book (orders blocked across accounts) and the firm-wide trade blotter."""

import csv
import io
from decimal import Decimal

import pytest

from accounts.models import Role
from tests.accounts.factories import UserFactory
from tests.trading.factories import account_with, model_of
from trading import services
from trading.models import BlockOrder, Order, RebalanceProposal

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def two_proposals(alice, alice_household, securities):
    """Two accounts all in cash on a 100% VTI model: each proposal buys VTI."""
    model = model_of(alice_household.firm, {"VTI": "1"})
    accounts = [account_with(alice_household, cash="10000.00", model=model) for _ in range(2)]
    return services.proposal_create_for_accounts(account_ids=[a.pk for a in accounts], acting_user=alice.user)


def test_proposals_approved_in_bulk_send_one_block_per_security(alice, two_proposals):
    result = services.proposals_approve_bulk(proposals=two_proposals, acting_user=alice.user)
    assert len(result.approved) == 2 and not result.refused
    [block] = result.blocks
    assert block.security.symbol == "VTI" and block.side == "buy"
    # Each account buys 10,000 / 200 = 50 VTI: one block of 100.
    assert block.quantity == sum(o.quantity for o in result.orders) == D("100")
    assert set(Order.objects.values_list("block_id", flat=True)) == {block.pk}


def test_a_proposal_that_cannot_be_approved_is_named_and_the_others_go_on(alice, two_proposals):
    services.proposal_discard(proposal=two_proposals[0], acting_user=alice.user)
    result = services.proposals_approve_bulk(proposals=two_proposals, acting_user=alice.user)
    assert [p.pk for p in result.approved] == [two_proposals[1].pk]
    assert [(p.pk, why) for p, why in result.refused] == [(two_proposals[0].pk, "The proposal is discarded, not open.")]
    assert result.blocks == []  # one account alone goes as its own order


def test_the_book_page_approves_the_selection(verified_client, alice, two_proposals, django_assert_max_num_queries):
    client = verified_client(alice.user)
    with django_assert_max_num_queries(15):
        page = client.get("/proposals/")
    assert page.status_code == 200 and page.content.count(b'name="proposal"') == 2
    response = client.post("/proposals/approve/", {"proposal": [p.pk for p in two_proposals]})
    assert response.status_code == 200
    assert b"2 approved, 2 orders, 1 block order" in response.content
    assert set(RebalanceProposal.objects.values_list("status", flat=True)) == {"approved"}


def test_bulk_approval_of_someone_elses_proposal_is_a_404_and_approves_nothing(verified_client, bob, two_proposals):
    response = verified_client(bob.user).post("/proposals/approve/", {"proposal": [p.pk for p in two_proposals]})
    assert response.status_code == 404
    assert not Order.objects.exists() and not BlockOrder.objects.exists()
    assert verified_client(bob.user).post("/proposals/approve/", {"proposal": ["x"]}).status_code == 404


# --- the blotter ----------------------------------------------------------------------------


@pytest.fixture
def orders_of_two_advisors(alice, bob, alice_household, bob_household, securities):
    mine = account_with(alice_household, cash="10000.00", name="Alice's client")
    theirs = account_with(bob_household, cash="10000.00", name="Bob's client")
    made = []
    for account, user, side, symbol in (
        (mine, alice.user, "buy", "VTI"),
        (mine, alice.user, "buy", "BND"),
        (theirs, bob.user, "buy", "VTI"),
    ):
        made.append(
            services.order_create(
                account=account, security=symbol, side=side, quantity=D("2"), acting_user=user, source="advisor"
            )
        )
    return made


def test_the_advisor_sees_their_accounts_orders_and_operations_the_firms(
    verified_client, alice, orders_of_two_advisors, django_assert_max_num_queries
):
    client = verified_client(alice.user)
    with django_assert_max_num_queries(12):
        page = client.get("/blotter/")
    assert page.status_code == 200
    assert page.content.count(b"data-order=") == 2 and b"Bob&#x27;s client" not in page.content
    ops = UserFactory(email="ops@example.com", firm=alice.firm, roles=[Role.OPERATIONS])
    page = verified_client(ops).get("/blotter/")
    assert page.content.count(b"data-order=") == 3


def test_the_blotter_filters_and_exports_csv(verified_client, alice, orders_of_two_advisors):
    client = verified_client(alice.user)
    page = client.get("/blotter/", {"symbol": "bnd", "side": "buy", "status": "approved"})
    assert page.content.count(b"data-order=") == 1
    export = client.get("/blotter/", {"symbol": "VTI", "export": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:3] == ["placed_at", "order_id", "client_order_id"]
    assert [(r[4], r[6], r[7], r[8]) for r in rows[1:]] == [
        (orders_of_two_advisors[0].account.custodian_account_number, "buy", "VTI", "2")
    ]


def test_bad_blotter_filters_are_form_errors_and_an_investor_gets_404(verified_client, alice, charlie):
    client = verified_client(alice.user)
    page = client.get("/blotter/", {"date_from": "2026-12-02", "date_to": "2026-12-01", "account": "x"})
    assert page.status_code == 200 and b"The end date is before the start date." in page.content
    assert b"Enter a whole number" in page.content
    assert verified_client(charlie).get("/blotter/").status_code == 404


# --- a model's accounts ----------------------------------------------------------------------


def test_editing_a_model_shows_the_accounts_it_moves_and_queues_their_proposals(
    verified_client, alice, bob, alice_household, bob_household, securities
):
    model = model_of(alice_household.firm, {"VTI": "1"})
    mine = account_with(alice_household, cash="10000.00", model=model, name="On the model")
    account_with(bob_household, cash="10000.00", model=model, name="Bob's on it too")
    account_with(alice_household, cash="10000.00", name="Not on it")
    client = verified_client(alice.user)
    page = client.get(f"/models/{model.pk}/edit/")
    assert page.status_code == 200
    assert f'data-account="{mine.pk}"'.encode() in page.content
    assert b"Not on it" not in page.content and b"Bob&#x27;s on it too" not in page.content
    response = client.post(f"/models/{model.pk}/rebalance/")
    assert response.status_code == 200
    # Alice trades only her own household's account: one proposal, for it.
    assert list(RebalanceProposal.objects.values_list("account_id", flat=True)) == [mine.pk]
    assert verified_client(bob.user).post(f"/models/{model.pk}/rebalance/").status_code == 200
    assert RebalanceProposal.objects.count() == 2  # bob queued his own account's
