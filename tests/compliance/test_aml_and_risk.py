from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Investor, Role
from compliance import services
from compliance.errors import ComplianceError
from compliance.models import AMLCase, RiskProfile, SuitabilityCase, WatchlistEntry
from compliance.suitability import check_model_assignment
from tests.accounts.factories import InvestorFactory, UserFactory
from tests.compliance.factories import ANSWERS_LEVEL
from tests.portfolios.factories import ModelPortfolioFactory

pytestmark = pytest.mark.django_db

WATCHLIST = """name,aliases,date_of_birth,country,list
Mohammed Al-Rashid,Muhammad Al Rashid;Mohamed Rashid,1968-03-14,SY,OFAC SDN
Aleksandr Ivanov,Александр Иванов,1970-05-01,RU,EU Sanctions
Olga Petrova,,1981-11-23,BY,UN Consolidated
"""


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


@pytest.fixture
def watchlist(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(WATCHLIST, encoding="utf-8")
    call_command("import_watchlist", str(path))
    return path


def test_import_watchlist_loads_and_reloads_without_duplicates(watchlist):
    assert WatchlistEntry.objects.count() == 3
    call_command("import_watchlist", str(watchlist))
    assert WatchlistEntry.objects.count() == 3
    assert WatchlistEntry.history.count() == 3


def test_a_bad_watchlist_line_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,aliases,date_of_birth,country,list\nX,,14/03/1968,SY,OFAC\n")
    with pytest.raises(Exception, match="Line 2: date of birth"):
        call_command("import_watchlist", str(path))
    assert not WatchlistEntry.objects.exists()


def test_a_hit_opens_one_case_and_rescreening_opens_no_second(watchlist, alice_household):
    hit = InvestorFactory(
        firm=alice_household.firm,
        households=[alice_household],
        first_name="Muhammad",
        last_name="Al Rashid",
        date_of_birth=date(1968, 3, 14),
        country="SY",
    )
    InvestorFactory(
        firm=alice_household.firm, households=[alice_household], first_name="Ava", last_name="Alvarez", country="US"
    )
    counts = services.aml_rescreen_all()
    assert counts == {"screened": 2, "hits": 1}
    case = AMLCase.objects.get()
    assert case.investor == hit and case.status == "open" and case.best_score >= Decimal(85)
    assert case.history.first().history_user.is_system
    services.aml_rescreen_all()
    assert AMLCase.objects.count() == 1


def test_a_cleared_case_is_not_reopened_by_the_same_match(watchlist, alice_household, officer):
    InvestorFactory(
        firm=alice_household.firm, households=[alice_household], first_name="Olga", last_name="Petrova", country="BY"
    )
    services.aml_rescreen_all()
    case = AMLCase.objects.get()
    services.aml_case_decide(
        case=case, decision="cleared", note="Different birth year, confirmed by passport.", acting_user=officer
    )
    services.aml_rescreen_all()
    assert AMLCase.objects.filter(status="open").count() == 0


def test_the_officer_clears_a_case_on_the_page_with_a_note(watchlist, alice_household, officer, verified_client):
    InvestorFactory(
        firm=alice_household.firm, households=[alice_household], first_name="Olga", last_name="Petrova", country="BY"
    )
    services.aml_rescreen_all()
    case = AMLCase.objects.get()
    client = verified_client(officer)
    assert b"Olga Petrova" in client.get(reverse("compliance:aml_queue")).content
    refused = client.post(reverse("compliance:aml_case", args=[case.pk]), {"decision": "cleared", "note": ""})
    assert refused.status_code == 200 and b"Write a note" in refused.content
    response = client.post(
        reverse("compliance:aml_case", args=[case.pk]), {"decision": "cleared", "note": "False positive."}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "cleared" and case.decided_by == officer and "False positive." in case.notes


def test_advisors_cannot_open_the_compliance_queues(alice, verified_client):
    client = verified_client(alice.user)
    for name in ("dashboard", "kyc_queue", "aml_queue", "order_queue", "suitability_queue", "audit"):
        assert client.get(reverse(f"compliance:{name}")).status_code == 403


def test_the_investor_completes_the_questionnaire(charlie, client):
    investor = Investor.objects.get(user=charlie)
    client.force_login(charlie)
    url = reverse("compliance:risk_questionnaire", args=[investor.pk])
    assert b"When will you need" in client.get(url).content
    response = client.post(url, ANSWERS_LEVEL[7], follow=True)
    assert b"risk level 7 of 10" in response.content
    client.post(url, ANSWERS_LEVEL[3])
    profile = RiskProfile.objects.get(investor=investor)
    assert (profile.risk_level, profile.version, profile.history.count()) == (3, 2, 2)


def test_an_incomplete_questionnaire_is_refused_in_the_api_with_field_errors(api, alice, charlie):
    investor = Investor.objects.get(user=charlie)
    response = api(alice.user).post(
        f"/api/v1/investors/{investor.pk}/risk-profile/", {"time_horizon": "gt20"}, format="json"
    )
    assert response.status_code == 400 and "objective" in response.json()
    ok = api(alice.user).post(f"/api/v1/investors/{investor.pk}/risk-profile/", ANSWERS_LEVEL[10], format="json")
    assert ok.status_code == 201 and ok.json()["risk_level"] == 10
    assert api(alice.user).get(f"/api/v1/investors/{investor.pk}/risk-profile/").json()["risk_level"] == 10


def test_assigning_a_model_riskier_than_the_owner_is_refused(charlie, alice_household):
    from tests.portfolios.factories import InvestmentAccountFactory

    investor = Investor.objects.get(user=charlie)
    services.risk_profile_submit(investor=investor, answers=ANSWERS_LEVEL[3], acting_user=charlie)
    account = InvestmentAccountFactory(household=alice_household)
    with pytest.raises(ComplianceError, match="riskier than the owners' risk level 3"):
        check_model_assignment(account=account, model=ModelPortfolioFactory(firm=alice_household.firm, risk_level=8))
    check_model_assignment(account=account, model=ModelPortfolioFactory(firm=alice_household.firm, risk_level=3))


def test_a_lower_profile_opens_a_suitability_case(charlie, alice_household, officer, verified_client):
    from tests.portfolios.factories import InvestmentAccountFactory

    investor = Investor.objects.get(user=charlie)
    services.risk_profile_submit(investor=investor, answers=ANSWERS_LEVEL[7], acting_user=charlie)
    account = InvestmentAccountFactory(
        household=alice_household, model=ModelPortfolioFactory(firm=alice_household.firm, risk_level=7)
    )
    assert not SuitabilityCase.objects.exists()
    services.risk_profile_submit(investor=investor, answers=ANSWERS_LEVEL[3], acting_user=charlie)
    case = SuitabilityCase.objects.get()
    assert case.account == account and case.owner_risk_level == 3 and case.model_risk_level == 7
    client = verified_client(officer)
    assert b"riskier than the owners" in client.get(reverse("compliance:suitability_queue")).content
    client.post(reverse("compliance:suitability_resolve", args=[case.pk]), {"note": "Model changed to Conservative."})
    case.refresh_from_db()
    assert case.status == "resolved"
