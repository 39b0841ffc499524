"""The whole front door through the services, the pages and the sandboxes: a household with
two investors and a joint account is submitted, KYC and AML clear, the sandbox custodian
opens the account by signed webhook, each investor follows their one-time invitation and
signs, and the account can be funded only once every owner has signed."""

import hashlib
import json
import re
import time
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import Investor
from compliance.adapters import kyc as kyc_adapter
from compliance.models import AMLScreening, KYCVerification
from onboarding.checks import account_agreement_signed
from onboarding.models import HouseholdDocument, Signature
from portfolios.models import InvestmentAccount
from tests.onboarding.conftest import api_cip
from trading.checks import FUNDING_CHECKS
from trading.errors import TradingError
from trading.models import CustodianAccountRequest, WebhookEvent
from trading.services import transfer_create

pytestmark = pytest.mark.django_db


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def household(alice, api):
    client = api(alice.user)
    household = post(client, "/api/v1/households/", {"name": "Whitfield Family"}, "h").json()
    a = post(client, f"/api/v1/households/{household['id']}/investors/", api_cip(), "a").json()
    b = post(
        client,
        f"/api/v1/households/{household['id']}/investors/",
        api_cip(first_name="Sam", email="sam@example.com", tax_id="987-65-4321"),
        "b",
    ).json()
    account = client.post(
        "/api/v1/accounts/",
        {
            "household": household["id"],
            "name": "Joint brokerage",
            "account_type": "joint",
            "owners": [a["id"], b["id"]],
        },
        format="json",
    ).json()
    return {"id": household["id"], "investors": [a["id"], b["id"]], "account": account["id"], "client": client}


def apply_kyc_results(server, capture):
    for verification in KYCVerification.objects.filter(status="pending"):
        result = kyc_adapter.parse_result(server.payload(verification.provider_reference))
        with capture(execute=True):
            from compliance.services import kyc_apply_result

            kyc_apply_result(result=result, acting_user=None)


def submit(household, capture):
    with capture(execute=True):
        return post(household["client"], f"/api/v1/households/{household['id']}/onboarding/submit/", {}, "submit")


def steps(household):
    body = household["client"].get(f"/api/v1/households/{household['id']}/onboarding/").json()
    return {(s["key"], s["subject"]): s for s in body["steps"]}


def test_submitting_screens_invites_and_the_custodian_opens_the_account(
    household, kyc_sandbox, custodian, django_capture_on_commit_callbacks, templates
):
    response = submit(household, django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert sorted(body["screened"]) == ["Dana Whitfield", "Sam Whitfield"]
    assert sorted(body["invited"]) == ["Dana Whitfield", "Sam Whitfield"]
    assert body["requested"] == []  # KYC is pending: the custodian is not asked yet
    assert KYCVerification.objects.filter(status="pending").count() == 2
    assert AMLScreening.objects.filter(investor_id__in=household["investors"]).count() == 2
    waiting = steps(household)[("account", "Joint brokerage (Joint)")]
    assert waiting["status"] == "waiting"
    assert waiting["missing"] == [
        "Waiting for Dana Whitfield's identity verification.",
        "Waiting for Sam Whitfield's identity verification.",
    ]
    assert len(mail.outbox) == 2

    apply_kyc_results(kyc_sandbox, django_capture_on_commit_callbacks)
    request = CustodianAccountRequest.objects.get(account_id=household["account"])
    assert request.status == "requested"
    assert steps(household)[("account", "Joint brokerage (Joint)")]["status"] == "waiting"
    assert custodian.deliver() == 1  # the signed account.opened webhook
    account = InvestmentAccount.objects.get(pk=household["account"])
    assert account.status == "open" and re.fullmatch(r"SBX-\d{8}", account.custodian_account_number)
    assert WebhookEvent.objects.filter(type="account.opened").count() == 1
    opened = steps(household)[("account", "Joint brokerage (Joint)")]
    assert opened["status"] == "done" and opened["missing"] == [f"Custodian number {account.custodian_account_number}"]
    # the custodian repeats itself: nothing changes twice
    event = WebhookEvent.objects.get(type="account.opened")
    raw = json.dumps(event.payload).encode()
    assert custodian.send(raw, custodian.sandbox.headers_for(raw)) == 200
    assert InvestmentAccount.objects.get(pk=account.pk).custodian_account_number == account.custodian_account_number


def test_an_unsigned_webhook_opens_nothing(household, client):
    body = json.dumps({"id": "evt_x", "type": "account.opened", "data": {"request_id": "r", "account_number": "X"}})
    response = client.post("/webhooks/custodian/", data=body, content_type="application/json")
    assert response.status_code == 401
    assert InvestmentAccount.objects.get(pk=household["account"]).status == "pending"


def test_a_custodian_that_is_down_leaves_the_request_to_ask_again(
    household, kyc_sandbox, custodian, django_capture_on_commit_callbacks, settings
):
    settings.CUSTODIAN_URL = "http://127.0.0.1:9"  # closed port
    submit(household, django_capture_on_commit_callbacks)
    apply_kyc_results(kyc_sandbox, django_capture_on_commit_callbacks)
    request = CustodianAccountRequest.objects.get(account_id=household["account"])
    assert request.status == "failed" and "could not be reached" in request.last_error
    step = steps(household)[("account", "Joint brokerage (Joint)")]
    assert step["status"] == "action_needed" and "submit again" in step["missing"][0]
    settings.CUSTODIAN_URL = custodian.url
    with django_capture_on_commit_callbacks(execute=True):
        post(household["client"], f"/api/v1/households/{household['id']}/onboarding/submit/", {}, "again")
    request.refresh_from_db()
    assert request.status == "requested" and request.attempts == 2
    custodian.deliver()
    assert InvestmentAccount.objects.get(pk=household["account"]).status == "open"


def invitation_link(email):
    message = next(m for m in mail.outbox if m.to == [email])
    return re.search(r"http://testserver(/accounts/invitation/\S+/)", message.body).group(1)


def test_the_invitation_link_works_once(household, kyc_sandbox, custodian, django_capture_on_commit_callbacks, client):
    submit(household, django_capture_on_commit_callbacks)
    link = invitation_link("dana@example.com")
    assert client.get(link).status_code == 200
    weak = client.post(link, {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 200 and b"too short" in weak.content
    done = client.post(link, {"new_password1": "a-long-new-passphrase-9", "new_password2": "a-long-new-passphrase-9"})
    assert done.status_code == 302 and done["Location"] == "/onboarding/"
    assert client.get("/onboarding/").status_code == 200
    client.logout()
    assert client.get(link).status_code == 404  # used: the password it was made from has changed
    assert (
        client.post(
            link, {"new_password1": "another-passphrase-77", "new_password2": "another-passphrase-77"}
        ).status_code
        == 404
    )
    from accounts.models import User

    assert User.objects.get(email="dana@example.com").check_password("a-long-new-passphrase-9")
    assert Investor.objects.get(email="dana@example.com").invitations.get().accepted_at is not None


def test_an_expired_invitation_link_is_refused(
    household, kyc_sandbox, custodian, django_capture_on_commit_callbacks, client, settings
):
    submit(household, django_capture_on_commit_callbacks)
    link = invitation_link("sam@example.com")
    settings.PASSWORD_RESET_TIMEOUT = 0
    time.sleep(1.1)
    assert client.get(link).status_code == 404


def sign_all(client, household_id, investor, user_agent="KronosTest/1.0"):
    for kind in ("advisory_agreement", "form_adv", "privacy_notice"):
        page = client.get(f"/households/{household_id}/agreements/{kind}/sign/")
        assert page.status_code == 200
        response = client.post(
            f"/households/{household_id}/agreements/{kind}/sign/",
            {"signed_name": investor.full_name, "agree": "on"},
            HTTP_USER_AGENT=user_agent,
            REMOTE_ADDR="203.0.113.7",
        )
        assert response.status_code == 302, response.content.decode()[:2000]


def test_signing_records_the_evidence_and_funding_waits_for_every_owner(
    household, kyc_sandbox, custodian, django_capture_on_commit_callbacks, client, templates, alice
):
    submit(household, django_capture_on_commit_callbacks)
    apply_kyc_results(kyc_sandbox, django_capture_on_commit_callbacks)
    custodian.deliver()
    account = InvestmentAccount.objects.get(pk=household["account"])
    dana, sam = (Investor.objects.get(pk=pk) for pk in household["investors"])

    with pytest.raises(TradingError) as exc:
        transfer_create(account=account, direction="deposit", amount=Decimal("5000.00"), acting_user=alice.user)
    assert "signs the investment advisory agreement" in exc.value.message

    client.post(
        invitation_link(dana.email), {"new_password1": "dana-passphrase-123", "new_password2": "dana-passphrase-123"}
    )
    wrong = client.post(
        f"/households/{household['id']}/agreements/advisory_agreement/sign/",
        {"signed_name": "Someone Else", "agree": "on"},
    )
    assert wrong.status_code == 200 and b"Type your name as Dana Whitfield" in wrong.content
    assert not Signature.objects.exists()
    sign_all(client, household["id"], dana)

    signature = Signature.objects.get(investor=dana, template__kind="advisory_agreement")
    template = templates["advisory_agreement"]
    assert signature.document_version == "2026-01"
    assert signature.document_sha256 == hashlib.sha256(template.body.encode()).hexdigest()
    assert (
        signature.signer == dana.user
        and signature.ip_address == "203.0.113.7"
        and signature.user_agent == "KronosTest/1.0"
    )
    assert signature.signed_at is not None and signature.signed_name == "Dana Whitfield"
    document = signature.document
    assert (
        bytes(document.content).startswith(b"%PDF")
        and document.sha256 == hashlib.sha256(bytes(document.content)).hexdigest()
    )
    assert document.household_id == household["id"]

    with pytest.raises(TradingError) as exc:  # Sam has not signed: still refused
        transfer_create(account=account, direction="deposit", amount=Decimal("5000.00"), acting_user=alice.user)
    assert "Sam Whitfield" in exc.value.message
    from trading.models import CashTransfer

    assert not CashTransfer.objects.filter(account=account).exists()

    client.logout()
    client.post(
        invitation_link(sam.email), {"new_password1": "sam-passphrase-1234", "new_password2": "sam-passphrase-1234"}
    )
    sign_all(client, household["id"], sam)
    transfer = transfer_create(account=account, direction="deposit", amount=Decimal("5000.00"), acting_user=alice.user)
    assert transfer.amount == Decimal("5000.00")
    agreements = steps(household)[("agreements", "Sam Whitfield")]
    assert agreements["status"] == "done"
    assert HouseholdDocument.objects.filter(household_id=household["id"]).count() == 6


def test_a_pending_account_cannot_be_funded(household, alice, override_checks):
    override_checks(FUNDING_CHECKS, account_agreement_signed)
    account = InvestmentAccount.objects.get(pk=household["account"])
    with pytest.raises(TradingError) as exc:
        transfer_create(account=account, direction="deposit", amount=Decimal("10.00"), acting_user=alice.user)
    assert "still being opened" in exc.value.message
    assert account_agreement_signed(account)[0] is False
