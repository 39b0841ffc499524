import pytest

from tests.trading.factories import account_with, model_of
from trading.models import Order, OutboxMessage, RebalanceProposal

pytestmark = pytest.mark.django_db


def test_the_advisor_places_an_order_from_the_page(verified_client, alice, advisor_account):
    client = verified_client(alice.user)
    page = client.get(f"/accounts/{advisor_account.pk}/trading/")
    assert page.status_code == 200 and b"New order" in page.content
    response = client.post(
        f"/accounts/{advisor_account.pk}/orders/new/",
        {"symbol": "aapl", "side": "buy", "order_type": "market", "quantity": "2"},
    )
    assert response.status_code == 302
    assert Order.objects.get().status == "approved"
    page = client.get(f"/accounts/{advisor_account.pk}/trading/")
    assert b'hx-trigger="every 2s"' in page.content


@pytest.mark.parametrize(
    "data, message",
    [
        ({"quantity": "NaN"}, b"Enter a number"),
        ({"quantity": "1,000"}, b"Enter a number"),
        ({"quantity": "-1"}, b"greater than or equal"),
        ({"quantity": "5000"}, b"Not enough cash"),
        ({"symbol": "ZZZ"}, b"Unknown symbol"),
        ({"side": "sell", "quantity": "101"}, b"Not enough AAPL"),
        ({"quantity": "Infinity"}, b"Enter a number"),
        ({"quantity": "1e30"}, b"no more than 19 digits"),
        ({"quantity": "0"}, b"greater than or equal"),
        ({"quantity": "1.0000000001"}, b"no more than 9 decimal places"),
        ({"quantity": "", "amount": "NaN"}, b"Enter a number"),
        ({"quantity": "", "amount": "1e30"}, b"no more than 14 digits"),
        ({"quantity": "", "amount": "1,000"}, b"Enter a number"),
        ({"quantity": "", "amount": "-5"}, b"greater than or equal"),
        ({"quantity": "", "amount": "10.001"}, b"no more than 2 decimal places"),
        ({"quantity": "", "amount": "20000"}, b"Not enough cash"),
        ({"amount": "100"}, b"not both"),
        ({"quantity": ""}, b"not both"),
        ({"order_type": "limit"}, b"needs a limit price"),
        ({"order_type": "limit", "limit_price": "NaN"}, b"Enter a number"),
        ({"side": "short"}, b"Select a valid choice"),
        ({"symbol": ""}, b"This field is required"),
    ],
)
def test_bad_order_forms_show_the_error_and_change_nothing(verified_client, alice, advisor_account, data, message):
    before = _holdings(advisor_account)
    body = {"symbol": "AAPL", "side": "buy", "order_type": "market", "quantity": "1", **data}
    response = verified_client(alice.user).post(f"/accounts/{advisor_account.pk}/orders/new/", body)
    assert response.status_code == 400
    assert message in response.content
    assert b'id="order-form"' in response.content
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()
    assert _holdings(advisor_account) == before


def test_a_bad_order_through_htmx_comes_back_as_the_form_with_its_errors(verified_client, alice, advisor_account):
    response = verified_client(alice.user).post(
        f"/accounts/{advisor_account.pk}/orders/new/",
        {"symbol": "AAPL", "side": "sell", "order_type": "market", "quantity": "101"},
        HTTP_HX_REQUEST="true",
    )
    # htmx swaps no 4xx by default: the partial arrives as 200 so the user sees the errors.
    assert response.status_code == 200
    assert b"Not enough AAPL" in response.content
    assert response.content.lstrip().startswith(b'<section class="card" id="order-form">')
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"amount": "NaN"}, "Enter a number"),
        ({"amount": "Infinity"}, "Enter a number"),
        ({"amount": "1e30"}, "no more than 14 digits"),
        ({"amount": "1,000"}, "Enter a number"),
        ({"amount": "0"}, "greater than or equal"),
        ({"amount": "-10"}, "greater than or equal"),
        ({"amount": "1.001"}, "no more than 2 decimal places"),
        ({"amount": "10000.01"}, "available"),
        ({"direction": "steal"}, "Select a valid choice"),
    ],
)
def test_bad_transfer_forms_show_the_error_and_change_nothing(verified_client, alice, advisor_account, data, message):
    from trading.models import CashTransfer

    before = _holdings(advisor_account)
    client = verified_client(alice.user)
    response = client.post(
        f"/accounts/{advisor_account.pk}/transfers/new/",
        {"direction": "withdrawal", "amount": "1", **data},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any(message in m for m in shown), shown
    assert not CashTransfer.objects.exists() and not OutboxMessage.objects.exists()
    assert _holdings(advisor_account) == before


def _holdings(account):
    from portfolios.models import CashBalance, Position

    return (
        sorted(Position.objects.filter(account=account).values_list("security__symbol", "quantity")),
        sorted(CashBalance.objects.filter(account=account).values_list("currency", "amount")),
    )


def test_other_advisors_get_404(verified_client, bob, advisor_account):
    client = verified_client(bob.user)
    assert client.get(f"/accounts/{advisor_account.pk}/trading/").status_code == 404
    assert client.post(f"/accounts/{advisor_account.pk}/rebalance/").status_code == 404


def test_rebalance_approve_from_the_pages(verified_client, alice, alice_household, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    client = verified_client(alice.user)
    response = client.post(f"/accounts/{account.pk}/rebalance/")
    proposal = RebalanceProposal.objects.get()
    assert response.url == f"/proposals/{proposal.pk}/"
    page = client.get(response.url)
    assert b"Approve and place orders" in page.content
    client.post(f"/proposals/{proposal.pk}/approve/")
    proposal.refresh_from_db()
    assert proposal.status == "approved" and proposal.orders.count() == 2


def test_a_balanced_account_needs_no_trades(verified_client, alice, alice_household, securities):
    model = model_of(alice_household.firm, {"AAPL": "1"})
    account = account_with(alice_household, positions=[("AAPL", "10", "100")], model=model)
    client = verified_client(alice.user)
    client.post(f"/accounts/{account.pk}/rebalance/")
    proposal = RebalanceProposal.objects.get()
    assert proposal.needed is False and not proposal.trades.exists()
    assert b"no trades are needed" in client.get(f"/proposals/{proposal.pk}/").content


def test_the_nightly_job_makes_one_proposal_per_account_and_day(alice, alice_household, securities):
    from accounts.services import system_user
    from trading.services import proposal_create_for_accounts

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="1000.00", model=model)
    first = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user(), scheduled=True)
    again = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user(), scheduled=True)
    assert [p.pk for p in first] == [p.pk for p in again]
    assert RebalanceProposal.objects.count() == 1


def test_operations_page_shows_the_backlog(verified_client, alice, advisor_account):
    from tests.accounts.factories import UserFactory

    ops = UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm)
    response = verified_client(ops).get("/operations/")
    assert response.status_code == 200 and b"Outbox backlog" in response.content
    assert verified_client(alice.user).get("/operations/").status_code == 403


def test_the_book_rebalances_exactly_the_selected_accounts(verified_client, alice, alice_household, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    first, second, third = (account_with(alice_household, cash="1000.00", model=model) for _ in range(3))
    client = verified_client(alice.user)
    book = client.get("/book/")
    assert b'id="rebalance-selection"' in book.content
    for account in (first, second, third):
        assert f'name="account" value="{account.pk}" form="rebalance-selection"'.encode() in book.content

    response = client.post("/rebalance/", {"account": [first.pk, third.pk]})

    assert response.status_code == 200
    assert sorted(RebalanceProposal.objects.values_list("account_id", flat=True)) == [first.pk, third.pk]
    for proposal in RebalanceProposal.objects.all():
        assert f'href="/proposals/{proposal.pk}/"'.encode() in response.content
    assert b"2 proposals for 2 selected accounts" in response.content


@pytest.mark.parametrize("foreign", ["bob", "unknown", "junk"])
def test_a_selection_with_an_account_not_in_the_book_is_refused(
    verified_client, alice, alice_household, bob_household, securities, foreign
):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    mine = account_with(alice_household, cash="1000.00", model=model)
    other = {
        "bob": lambda: account_with(bob_household, cash="1000.00", model=model).pk,
        "unknown": lambda: 987654,
        "junk": lambda: "1; DROP",
    }[foreign]()

    response = verified_client(alice.user).post("/rebalance/", {"account": [mine.pk, other]})

    assert response.status_code == 404
    assert not RebalanceProposal.objects.exists()


def test_an_empty_selection_changes_nothing(verified_client, alice, alice_household, securities):
    response = verified_client(alice.user).post("/rebalance/", {}, HTTP_REFERER="http://evil.example/")
    assert response.status_code == 302 and response.url == "/book/"
    assert not RebalanceProposal.objects.exists()


def test_staff_without_the_advisor_role_see_no_selection(verified_client, alice, advisor_account):
    from tests.accounts.factories import UserFactory

    officer = UserFactory(email="cco@example.com", roles=["compliance officer"], firm=alice.firm)
    book = verified_client(officer).get("/book/")
    assert book.status_code == 200
    assert b"rebalance-selection" not in book.content
