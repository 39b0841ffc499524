"""The investor's start page: their accounts and what they are worth."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.accounts.factories import HouseholdFactory, InvestorFactory
from tests.pages import visible_text
from tests.trading.factories import account_with, make_security

pytestmark = pytest.mark.django_db


@pytest.fixture
def charlies_accounts(alice_household, charlie):
    make_security("VTI", "200")
    brokerage = account_with(alice_household, cash="1234.56", positions=[("VTI", "10", "150")], name="Joint brokerage")
    ira = account_with(alice_household, cash="500.00", name="Roth IRA")
    return brokerage, ira


def test_the_investor_lands_on_their_accounts_and_total_value(verified_client, charlie, charlies_accounts):
    brokerage, ira = charlies_accounts
    client = verified_client(charlie)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/my/accounts/"
    text = visible_text(response.content)
    assert "My accounts" in text and "Households" in text  # the households list stays a link away
    assert "Total value $3,734.56 2 accounts" in text
    assert f"Joint brokerage {brokerage.custodian_account_number}" in text and "$1,234.56 $3,234.56" in text
    assert f"Roth IRA {ira.custodian_account_number}" in text and "$500.00 $500.00" in text
    assert f'href="/accounts/{brokerage.pk}/"' in response.text


def test_the_investor_sees_no_one_elses_accounts(verified_client, alice, charlie, charlies_accounts):
    stranger_household = HouseholdFactory(advisor=alice, firm=alice.firm, name="Stranger Household")
    InvestorFactory(firm=alice.firm, households=[stranger_household])
    account_with(stranger_household, cash="99999.00", name="Stranger account")
    text = visible_text(verified_client(charlie).get("/my/accounts/").content)
    assert "Stranger" not in text and "$99,999.00" not in text
    assert "Total value $3,734.56" in text


def test_an_investor_without_accounts_is_told_so(verified_client, charlie):
    text = visible_text(verified_client(charlie).get("/my/accounts/").content)
    assert "Total value $0.00 0 accounts" in text and "You have no accounts yet" in text


def test_staff_land_where_they_did(verified_client, alice):
    assert verified_client(alice.user).get("/").headers["Location"] == "/book/"
    assert verified_client(alice.user).get("/my/accounts/").headers["Location"] == "/households/"


@pytest.mark.usefixtures("uncached")
def test_the_investor_page_keeps_a_fixed_query_count(verified_client, alice_household, charlie, charlies_accounts):
    client = verified_client(charlie)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/my/accounts/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(8):
        account_with(alice_household, cash=Decimal(10 + i), positions=[("VTI", "1", "150")], name=f"Extra {i}")
    assert count() == few
