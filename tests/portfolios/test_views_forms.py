"""The portfolios write pages: models, account settings and transfers in.

Each refusal of the services (weights not summing to 100%, unknown symbol, negative quantity,
future date, an unsuitable model) shows on the page and saves nothing; a save records the
advisor on the history row; other people's objects are 404s.
"""

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.models import InvestmentAccount, JournalEntry, ModelPortfolio, TaxLot
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_firm_model(securities):
    stranger = AdvisorFactory()
    return services.model_portfolio_create(
        firm=stranger.firm, name="Theirs", risk_level=3, targets={"BND": Decimal("1")}, acting_user=stranger.user
    )


def model_post(targets, *, name="Growth", risk_level="7", cash_target="0"):
    data = {
        "name": name,
        "risk_level": risk_level,
        "cash_target": cash_target,
        "is_active": "on",
        "targets-TOTAL_FORMS": str(len(targets) + 1),
        "targets-INITIAL_FORMS": "0",
        "targets-MIN_NUM_FORMS": "0",
        "targets-MAX_NUM_FORMS": "1000",
    }
    for i, (symbol, weight) in enumerate(targets):
        data[f"targets-{i}-symbol"] = symbol
        data[f"targets-{i}-weight"] = weight
    return data


def transfer_post(rows, *, cash="", key=None):
    data = {
        "cash": cash,
        "idempotency_key": str(key or uuid.uuid4()),
        "positions-TOTAL_FORMS": str(len(rows) + 1),
        "positions-INITIAL_FORMS": "0",
        "positions-MIN_NUM_FORMS": "0",
        "positions-MAX_NUM_FORMS": "1000",
    }
    for i, (symbol, quantity, cost, acquired) in enumerate(rows):
        data |= {
            f"positions-{i}-symbol": symbol,
            f"positions-{i}-quantity": quantity,
            f"positions-{i}-cost_basis": cost,
            f"positions-{i}-acquired_on": acquired,
        }
    return data


def settings_post(**overrides):
    data = {
        "model": "",
        "drift_threshold": "5",
        "band_mode": "absolute",
        "relative_band": "25",
        "cash_reserve": "2",
        "min_trade_amount": "50.00",
        "rebalance_mode": "approval",
    }
    return data | overrides


# --- Models -----------------------------------------------------------------------------------------


def test_it_lists_the_firms_models_with_targets(verified_client, alice, model_60_40, other_firm_model):
    response = verified_client(alice.user).get(reverse("portfolios:model_list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Balanced 60/40" in body and "AAPL 60.00%" in body and "BND 40.00%" in body
    assert "Theirs" not in body
    assert reverse("portfolios:model_create") in body


def test_it_shows_the_models_link_to_advisors(verified_client, alice):
    body = verified_client(alice.user).get(reverse("portfolios:book")).content.decode()
    assert f'href="{reverse("portfolios:model_list")}"' in body


def test_it_shows_models_read_only_to_compliance(verified_client, alice, model_60_40):
    officer = UserFactory(roles=[Role.COMPLIANCE], firm=alice.firm)
    client = verified_client(officer)
    body = client.get(reverse("portfolios:model_list")).content.decode()
    assert "Balanced 60/40" in body and reverse("portfolios:model_create") not in body
    assert client.get(reverse("portfolios:model_edit", args=[model_60_40.pk])).status_code == 403


def test_it_creates_a_model_with_percent_weights_and_records_the_advisor(verified_client, alice, securities):
    client = verified_client(alice.user)
    response = client.post(
        reverse("portfolios:model_create"), model_post([("aapl", "55.5"), ("BND", "40")], cash_target="4.5")
    )
    assert response.status_code == 302
    model = ModelPortfolio.objects.get(name="Growth")
    assert {t.security.symbol: t.weight for t in model.targets.select_related("security")} == {
        "AAPL": Decimal("0.555"),
        "BND": Decimal("0.4"),
    }
    assert model.cash_target == Decimal("0.045")
    assert model.history.latest().history_user == alice.user
    assert "Model Growth created." in client.get(response["Location"]).content.decode()


def test_it_refuses_weights_summing_to_95_percent(verified_client, alice, securities):
    response = verified_client(alice.user).post(
        reverse("portfolios:model_create"), model_post([("AAPL", "55"), ("BND", "40")])
    )
    assert response.status_code == 200
    assert "Target weights sum to 95.00%; they must sum to exactly 100%." in response.content.decode()
    assert not ModelPortfolio.objects.filter(name="Growth").exists()


def test_it_refuses_an_unknown_symbol_in_a_model(verified_client, alice, securities):
    response = verified_client(alice.user).post(
        reverse("portfolios:model_create"), model_post([("AAPL", "60"), ("XYZ", "40")])
    )
    assert "Unknown symbol: XYZ." in response.content.decode()
    assert not ModelPortfolio.objects.filter(name="Growth").exists()


def test_it_answers_the_form_partial_to_htmx(verified_client, alice, securities):
    response = verified_client(alice.user).post(
        reverse("portfolios:model_create"), model_post([("AAPL", "50")]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert 'id="model-form"' in body and "<html" not in body
    assert "Target weights sum to 50.00%" in body


def test_it_edits_a_model_and_refuses_a_bad_edit_without_change(verified_client, alice, model_60_40):
    client = verified_client(alice.user)
    url = reverse("portfolios:model_edit", args=[model_60_40.pk])
    page = client.get(url).content.decode()
    assert 'value="60"' in page and 'value="Balanced 60/40"' in page
    bad = client.post(url, model_post([("AAPL", "60"), ("BND", "35")], name="Balanced 60/40", risk_level="5"))
    assert "Target weights sum to 95.00%" in bad.content.decode()
    assert model_60_40.targets.get(security__symbol="BND").weight == Decimal("0.4")
    good = client.post(url, model_post([("AAPL", "70"), ("BND", "30")], name="Balanced 70/30", risk_level="6"))
    assert good.status_code == 302
    model_60_40.refresh_from_db()
    assert model_60_40.name == "Balanced 70/30" and model_60_40.risk_level == 6
    assert model_60_40.targets.get(security__symbol="AAPL").weight == Decimal("0.7")
    assert model_60_40.history.latest().history_user == alice.user


def test_it_answers_404_for_another_firms_model(verified_client, alice, other_firm_model):
    response = verified_client(alice.user).get(reverse("portfolios:model_edit", args=[other_firm_model.pk]))
    assert response.status_code == 404


def test_it_keeps_investors_away_from_models(verified_client, charlie, model_60_40):
    client = verified_client(charlie)
    assert client.get(reverse("portfolios:model_list")).status_code == 302
    assert client.get(reverse("portfolios:model_create")).status_code == 404
    assert client.get(reverse("portfolios:model_edit", args=[model_60_40.pk])).status_code == 404


# --- Account settings -------------------------------------------------------------------------------


def test_it_links_settings_and_transfers_for_the_households_advisor_only(verified_client, alice, bob, account):
    url = reverse("portfolios:account_detail", args=[account.pk])
    body = verified_client(alice.user).get(url).content.decode()
    assert reverse("portfolios:account_settings", args=[account.pk]) in body
    assert reverse("portfolios:transfer_in", args=[account.pk]) in body


def test_it_hides_settings_links_from_the_investor(verified_client, charlie, account):
    body = verified_client(charlie).get(reverse("portfolios:account_detail", args=[account.pk])).content.decode()
    assert reverse("portfolios:account_settings", args=[account.pk]) not in body


def test_it_saves_settings_and_a_model_with_the_advisor_on_history(
    verified_client, alice, account, model_60_40, settings, override_checks
):
    override_checks(MODEL_ASSIGN_CHECKS)
    response = verified_client(alice.user).post(
        reverse("portfolios:account_settings", args=[account.pk]),
        settings_post(model=str(model_60_40.pk), drift_threshold="3.5", fractional_shares="on"),
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.model == model_60_40
    assert account.drift_threshold == Decimal("0.035")
    assert account.cash_reserve == Decimal("0.02")
    assert account.fractional_shares is True
    assert account.history.latest().history_user == alice.user


def test_the_advisor_turns_dividend_reinvestment_on_and_off_on_the_settings_form(verified_client, alice, account):
    url = reverse("portfolios:account_settings", args=[account.pk])
    page = verified_client(alice.user).get(url).content.decode()
    assert 'name="reinvest_dividends"' in page and "Reinvest dividends" in page
    assert verified_client(alice.user).post(url, settings_post(reinvest_dividends="on")).status_code == 302
    account.refresh_from_db()
    assert account.reinvest_dividends is True
    assert account.history.latest().history_user == alice.user
    page = verified_client(alice.user).get(url).content.decode()
    assert re.search(r'<input[^>]*name="reinvest_dividends"[^>]*checked', page)
    assert verified_client(alice.user).post(url, settings_post()).status_code == 302  # the box unticked
    account.refresh_from_db()
    assert account.reinvest_dividends is False


def test_it_refuses_an_unsuitable_model_and_changes_nothing(verified_client, alice, account, model_60_40):
    # Alice's household has no owner with a risk profile: compliance's suitability check refuses.
    before = account.history.count()
    response = verified_client(alice.user).post(
        reverse("portfolios:account_settings", args=[account.pk]),
        settings_post(model=str(model_60_40.pk), drift_threshold="9"),
    )
    assert response.status_code == 200
    assert "The account&#x27;s household has no owner with a risk profile." in response.content.decode()
    account.refresh_from_db()
    assert account.model is None and account.drift_threshold == Decimal("0.05")
    assert account.history.count() == before


def test_it_refuses_a_bad_threshold_with_the_services_message(verified_client, alice, account):
    response = verified_client(alice.user).post(
        reverse("portfolios:account_settings", args=[account.pk]), settings_post(drift_threshold="0")
    )
    assert "The drift threshold must be above 0% and at most 100%." in response.content.decode()


def test_it_offers_only_the_firms_active_models(verified_client, alice, account, model_60_40, other_firm_model):
    body = verified_client(alice.user).get(reverse("portfolios:account_settings", args=[account.pk])).content.decode()
    assert "Balanced 60/40" in body and "Theirs" not in body
    response = verified_client(alice.user).post(
        reverse("portfolios:account_settings", args=[account.pk]), settings_post(model=str(other_firm_model.pk))
    )
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize("page", ["portfolios:account_settings", "portfolios:transfer_in"])
def test_it_answers_404_for_another_advisors_account(verified_client, bob, account, page):
    assert verified_client(bob.user).get(reverse(page, args=[account.pk])).status_code == 404


@pytest.mark.parametrize("page", ["portfolios:account_settings", "portfolios:transfer_in"])
def test_it_answers_404_to_the_investor(verified_client, charlie, account, page):
    client = verified_client(charlie)
    assert client.get(reverse(page, args=[account.pk])).status_code == 404
    assert client.post(reverse(page, args=[account.pk]), {}).status_code == 404


# --- Transfers in -----------------------------------------------------------------------------------


def test_it_records_a_transfer_in_once_on_a_double_submit(verified_client, alice, account, securities):
    client = verified_client(alice.user)
    url = reverse("portfolios:transfer_in", args=[account.pk])
    page = client.get(url).content.decode()
    assert 'name="idempotency_key"' in page
    data = transfer_post([("AAPL", "10", "1200.00", "2021-05-03"), ("bnd", "5.5", "400", "")], cash="250.00")
    first = client.post(url, data)
    second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.TRANSFER_IN).count() == 1
    lots = {lot.security.symbol: lot for lot in TaxLot.objects.filter(account=account).select_related("security")}
    assert lots["AAPL"].quantity == Decimal("10") and lots["AAPL"].cost_per_share == Decimal("120")
    assert lots["BND"].quantity == Decimal("5.5")
    assert lots["AAPL"].history.latest().history_user == alice.user


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("AAPL", "-3", "100", "2021-01-04"), "Position 1: the quantity of AAPL must be positive."),
        (("AAPL", "0", "100", "2021-01-04"), "Position 1: the quantity of AAPL must be positive."),
        (("XYZ", "3", "100", "2021-01-04"), "Unknown symbol: XYZ."),
        (("AAPL", "3", "100", (date.today() + timedelta(days=3)).isoformat()), "is in the future."),
    ],
)
def test_it_refuses_a_bad_position_and_saves_nothing(verified_client, alice, account, securities, row, message):
    response = verified_client(alice.user).post(
        reverse("portfolios:transfer_in", args=[account.pk]), transfer_post([row], cash="100.00")
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not JournalEntry.objects.filter(kind=JournalEntry.Kind.TRANSFER_IN).exists()
    assert not TaxLot.objects.filter(account=account).exists()


def test_it_refuses_an_empty_transfer(verified_client, alice, account):
    response = verified_client(alice.user).post(reverse("portfolios:transfer_in", args=[account.pk]), transfer_post([]))
    assert "Nothing to transfer: give positions or cash." in response.content.decode()


def test_it_refuses_a_transfer_into_a_closed_account(verified_client, alice, account, securities):
    services.account_update(account=account, acting_user=alice.user, status=InvestmentAccount.Status.CLOSED)
    response = verified_client(alice.user).post(
        reverse("portfolios:transfer_in", args=[account.pk]), transfer_post([], cash="10.00")
    )
    assert "The account is closed." in response.content.decode()


def test_it_keeps_other_households_accounts_out_of_reach(verified_client, alice, securities):
    stranger_household = HouseholdFactory(advisor=AdvisorFactory(firm=alice.firm), firm=alice.firm)
    theirs = InvestmentAccountFactory(household=stranger_household)
    response = verified_client(alice.user).post(
        reverse("portfolios:transfer_in", args=[theirs.pk]), transfer_post([], cash="10.00")
    )
    assert response.status_code == 404
    assert not JournalEntry.objects.filter(kind=JournalEntry.Kind.TRANSFER_IN).exists()


def test_it_redirects_an_htmx_save_with_hx_redirect(verified_client, alice, securities):
    response = verified_client(alice.user).post(
        reverse("portfolios:model_create"), model_post([("AAPL", "100")]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("portfolios:model_list")


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_it_lists_models_in_a_fixed_number_of_queries(verified_client, alice, securities):
    client = verified_client(alice.user)

    def add(start, stop):
        for i in range(start, stop):
            services.model_portfolio_create(
                firm=alice.firm,
                name=f"M{i}",
                risk_level=1 + i % 10,
                targets={"AAPL": Decimal("0.5"), "BND": Decimal("0.5")},
                acting_user=alice.user,
            )

    def queries_for_the_list():
        with CaptureQueriesContext(connection) as captured:
            body = client.get(reverse("portfolios:model_list")).content.decode()
        return len(captured), body.count('id="model-')

    add(0, 2)
    client.get(reverse("portfolios:model_list"))  # warm the session
    small = queries_for_the_list()
    add(2, 40)
    large = queries_for_the_list()
    assert small[1] == 2 and large[1] == 40
    assert small[0] == large[0]
