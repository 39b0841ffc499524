"""The onboarding pages: forms show their errors and write nothing, CSRF is required, the
taxpayer id is masked for all but its owner and compliance, documents are scoped."""

import re

import pytest
from django.test import Client

from accounts.models import Household, Investor
from accounts.services import investor_onboard
from onboarding.models import HouseholdDocument
from onboarding.services import agreement_sign
from portfolios.models import InvestmentAccount
from tests.accounts.factories import UserFactory
from tests.onboarding.conftest import cip

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in cip().items()}
    data.update(overrides)
    return data


def test_an_advisor_creates_a_household_from_the_form(alice, verified_client):
    client = verified_client(alice.user)
    assert client.get("/households/new/").status_code == 200
    empty = client.post("/households/new/", {"name": ""})
    assert empty.status_code == 200 and b"This field is required" in empty.content
    response = client.post("/households/new/", {"name": "Whitfield Family"})
    household = Household.objects.get(name="Whitfield Family")
    assert response.status_code == 302 and response["Location"] == f"/households/{household.pk}/onboarding/"
    assert household.advisor == alice


def test_an_investor_cannot_open_the_new_household_form(charlie, client):
    client.force_login(charlie)
    assert client.get("/households/new/").status_code == 403
    assert client.post("/households/new/", {"name": "Mine"}).status_code == 403
    assert not Household.objects.filter(name="Mine").exists()


def test_the_pages_require_the_csrf_token(alice, alice_household):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=alice.user, name="t", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    assert client.post(f"/households/{alice_household.pk}/investors/new/", form_data()).status_code == 403
    assert client.post("/households/new/", {"name": "No token"}).status_code == 403
    assert not Investor.objects.filter(last_name="Whitfield").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tax_id": "12-345-678"}, b"nine digits"),
        ({"date_of_birth": "2999-01-01"}, b"cannot be in the future"),
        ({"address_line1": ""}, b"This field is required"),
        ({"citizenship": "U"}, b"Ensure this value has at least 2 characters"),
    ],
)
def test_the_investor_form_shows_its_errors_and_writes_nothing(
    alice, alice_household, verified_client, change, message
):
    client = verified_client(alice.user)
    response = client.post(f"/households/{alice_household.pk}/investors/new/", form_data(**change))
    assert response.status_code == 200
    assert message in response.content
    assert not Investor.objects.filter(last_name="Whitfield").exists()


def test_an_investor_is_added_from_the_form(alice, alice_household, verified_client):
    client = verified_client(alice.user)
    response = client.post(f"/households/{alice_household.pk}/investors/new/", form_data())
    assert response.status_code == 302
    assert Investor.objects.get(last_name="Whitfield").tax_id_last4 == "6789"


def test_the_account_form_refuses_a_minor_alone_and_an_ira_without_a_beneficiary(
    alice, alice_household, verified_client
):
    import datetime as dt

    today = dt.date.today()
    kid = investor_onboard(
        household=alice_household,
        acting_user=alice.user,
        **cip(first_name="Kim", date_of_birth=today.replace(year=today.year - 9)),
    )
    adult = investor_onboard(
        household=alice_household, acting_user=alice.user, **cip(first_name="Dana", tax_id="987-65-4321")
    )
    client = verified_client(alice.user)
    url = f"/households/{alice_household.pk}/accounts/new/"
    management = {"beneficiaries-TOTAL_FORMS": "3", "beneficiaries-INITIAL_FORMS": "0"}
    minor = client.post(url, {"name": "Kid", "account_type": "individual", "owners": [kid.pk], **management})
    assert minor.status_code == 200 and b"under 18" in minor.content
    ira = client.post(url, {"name": "IRA", "account_type": "roth_ira", "owners": [adult.pk], **management})
    assert ira.status_code == 200 and b"primary beneficiary" in ira.content
    half = client.post(
        url,
        {"name": "IRA", "account_type": "roth_ira", "owners": [adult.pk], **management, "beneficiaries-0-name": "Ana"},
    )
    assert half.status_code == 200 and b"name, relationship and share" in half.content
    assert not InvestmentAccount.objects.filter(household=alice_household).exists()
    ok = client.post(
        url,
        {
            "name": "IRA",
            "account_type": "roth_ira",
            "owners": [adult.pk],
            **management,
            "beneficiaries-0-name": "Ana",
            "beneficiaries-0-relationship": "daughter",
            "beneficiaries-0-share_percent": "100",
            "beneficiaries-0-kind": "primary",
        },
    )
    assert ok.status_code == 302
    assert InvestmentAccount.objects.get(household=alice_household).status == "pending"


def test_the_tax_id_is_masked_except_for_its_owner_and_compliance(
    alice, alice_household, officer, ops, verified_client, client
):
    owner_login = UserFactory(email="dana@example.com", roles=["investor"])
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    investor.user = owner_login
    investor.save()
    url = f"/investors/{investor.pk}/"

    def shown(response):
        assert response.status_code == 200
        return response.content.decode()

    for staff in (alice.user, ops):
        page = shown(verified_client(staff).get(url))
        assert "•••-••-6789" in page and "123456789" not in page
        verified_client(staff).logout()
    page = shown(verified_client(officer).get(url))
    assert "123456789" in page
    verified_client(officer).logout()
    client.force_login(owner_login)
    assert "123456789" in shown(client.get(url))
    assert "123456789" in shown(client.get("/onboarding/"))


def test_documents_open_for_investors_advisor_and_compliance_only(
    alice, bob, alice_household, officer, ops, templates, api, client, verified_client
):
    owner_login = UserFactory(email="dana@example.com", roles=["investor"])
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    investor.user = owner_login
    investor.save()
    signature = agreement_sign(
        household=alice_household,
        investor=investor,
        template=templates["privacy_notice"],
        signer=owner_login,
        signed_name="Dana Whitfield",
        ip_address="198.51.100.4",
        user_agent="pytest",
    )
    document = signature.document
    url = f"/api/v1/documents/{document.pk}/"
    for user in (owner_login, alice.user, officer):
        response = api(user).get(url)
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        listed = api(user).get(f"/api/v1/households/{alice_household.pk}/documents/").json()
        assert [d["id"] for d in listed] == [document.pk]
        assert listed[0]["signature"]["ip_address"] == "198.51.100.4"
    for user in (bob.user, ops):
        assert api(user).get(url).status_code == 404
    assert api(bob.user).get(f"/api/v1/households/{alice_household.pk}/documents/").status_code == 404
    assert api(ops).get(f"/api/v1/households/{alice_household.pk}/documents/").status_code == 404
    assert verified_client(bob.user).get(f"/documents/{document.pk}/").status_code == 404
    client.force_login(owner_login)
    page = client.get(f"/documents/{document.pk}/")
    assert page.status_code == 200 and page["Content-Type"] == "application/pdf"
    assert HouseholdDocument.objects.count() == 1


def test_an_investor_cannot_sign_for_another(alice, alice_household, templates, client):
    dana_login = UserFactory(email="dana@example.com", roles=["investor"])
    sam_login = UserFactory(email="sam@example.com", roles=["investor"])
    dana = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    dana.user = dana_login
    dana.save()
    from onboarding.errors import OnboardingError

    with pytest.raises(OnboardingError):
        agreement_sign(
            household=alice_household,
            investor=dana,
            template=templates["form_adv"],
            signer=sam_login,
            signed_name="Dana Whitfield",
            ip_address=None,
            user_agent="",
        )
    client.force_login(sam_login)
    assert client.get(f"/households/{alice_household.pk}/agreements/form_adv/sign/").status_code == 404


def test_the_household_page_shows_each_step(alice, alice_household, verified_client):
    investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    page = verified_client(alice.user).get(f"/households/{alice_household.pk}/onboarding/").content.decode()
    assert 'data-step="kyc" data-status="action_needed"' in page
    assert "Submit the household to start identity verification." in page
    assert "Open at least one account." in page
    section = verified_client(alice.user).get(f"/households/{alice_household.pk}/onboarding/section/").content.decode()
    assert "Identity verification (KYC)" in section


def test_operations_upload_a_template_version_in_the_admin(ops, verified_client, alice):
    from django.contrib.auth.models import Group, Permission
    from django.core.files.uploadedfile import SimpleUploadedFile

    from onboarding.models import AgreementTemplate

    # The data migration grants these to the operations group; a transactional test earlier in the
    # run flushes group permissions (tests/conftest.py restores only the groups), so grant them here.
    Group.objects.get(name="operations").permissions.add(
        *Permission.objects.filter(content_type__app_label="onboarding", codename__endswith="agreementtemplate")
    )
    client = verified_client(ops)
    upload = SimpleUploadedFile("adv.txt", b"Form ADV text.\n\nMore.", content_type="text/plain")
    response = client.post(
        "/admin/onboarding/agreementtemplate/add/",
        {
            "firm": alice.firm_id,
            "kind": "form_adv",
            "version": "2026-02",
            "title": "Form ADV",
            "upload": upload,
            "body": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, re.findall(r"errorlist[^<]*<li>([^<]*)", response.content.decode())
    template = AgreementTemplate.objects.get(version="2026-02")
    assert template.body == "Form ADV text.\n\nMore." and template.sha256 == AgreementTemplate.digest(template.body)
    assert template.uploaded_by == ops
    newer = SimpleUploadedFile("adv.txt", b"Form ADV, revised.", content_type="text/plain")
    client.post(
        "/admin/onboarding/agreementtemplate/add/",
        {
            "firm": alice.firm_id,
            "kind": "form_adv",
            "version": "2026-03",
            "title": "Form ADV",
            "upload": newer,
            "body": "",
            "is_active": "on",
        },
    )
    assert list(
        AgreementTemplate.objects.filter(kind="form_adv", is_active=True).values_list("version", flat=True)
    ) == ["2026-03"]
