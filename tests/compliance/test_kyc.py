import json
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Investor, Role
from compliance import services
from compliance.adapters import kyc as kyc_adapter
from compliance.models import KYCVerification, WebhookEvent
from compliance.onboarding import onboard_investor
from sandboxes.kyc import start_in_thread
from tests.accounts.factories import InvestorFactory, UserFactory
from tests.compliance.factories import ANSWERS_LEVEL

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(settings):
    server = start_in_thread(secret=settings.KYC_WEBHOOK_SECRET, delay=0)
    settings.KYC_URL = server.url
    settings.KYC_CALLBACK_URL = "http://127.0.0.1:9/unreachable"  # the callback is posted in tests by hand
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


def investor_named(household, last_name):
    return InvestorFactory(firm=household.firm, households=[household], first_name="Pat", last_name=last_name)


def signed(payload, *, ts=None, secret=None):
    body = json.dumps(payload).encode()
    ts = int(ts if ts is not None else time.time())
    return body, {
        "HTTP_X_KYC_TIMESTAMP": str(ts),
        "HTTP_X_KYC_SIGNATURE": kyc_adapter.sign(body, ts, secret),
    }


def result_payload(verification, decision="PASSED", event_id="evt-1"):
    return {
        "eventId": event_id,
        "customerInternalReference": verification.provider_reference,
        "workflowExecution": {
            "id": "wf-1",
            "status": "PROCESSED",
            "decision": {"type": decision, "details": {"label": "OK"}},
        },
    }


@pytest.mark.parametrize(
    ("last_name", "status"),
    [("Smith", "approved"), ("Rejectson", "rejected"), ("Reviewer", "needs_review")],
)
def test_the_sandbox_decides_by_last_name_and_the_poll_job_applies_it(
    sandbox, alice, alice_household, last_name, status
):
    investor = investor_named(alice_household, last_name)
    verification = services.kyc_start(investor=investor, acting_user=alice.user)
    assert verification.status == "pending" and verification.redirect_url.startswith(sandbox.url)
    assert services.kyc_refresh_pending(older_than=timedelta(0)) == 1
    verification.refresh_from_db()
    assert verification.status == status
    assert verification.history.first().history_user.is_system


def test_the_sandbox_posts_a_signed_webhook_that_the_site_accepts(
    sandbox, live_server, alice, alice_household, settings
):
    settings.KYC_CALLBACK_URL = f"{live_server.url}{reverse('compliance:kyc_webhook')}"
    investor = investor_named(alice_household, "Webhook")
    services.kyc_start(investor=investor, acting_user=alice.user)
    for _ in range(100):  # the status changes before the sandbox has read the answer: wait for both
        if KYCVerification.objects.get(investor=investor).status != "pending" and sandbox.delivered:
            break
        time.sleep(0.1)
    assert KYCVerification.objects.get(investor=investor).status == "approved"
    assert sandbox.delivered and sandbox.delivered[-1][1] == 200


def test_a_webhook_with_a_good_signature_approves(client, alice, alice_household, sandbox):
    verification = services.kyc_start(investor=investor_named(alice_household, "Good"), acting_user=alice.user)
    body, headers = signed(result_payload(verification))
    response = client.post(reverse("compliance:kyc_webhook"), body, content_type="application/json", **headers)
    assert response.status_code == 200
    verification.refresh_from_db()
    assert verification.status == "approved"


@pytest.mark.parametrize("problem", ["bad_signature", "wrong_secret", "stale", "missing"])
def test_a_bad_or_stale_webhook_is_refused_and_changes_nothing(client, alice, alice_household, sandbox, problem):
    verification = services.kyc_start(investor=investor_named(alice_household, "Bad"), acting_user=alice.user)
    versions = verification.history.count()
    payload = result_payload(verification)
    if problem == "stale":
        body, headers = signed(payload, ts=time.time() - settings.WEBHOOK_TOLERANCE_SECONDS - 5)
    elif problem == "wrong_secret":
        body, headers = signed(payload, secret="not-the-secret")
    else:
        body, headers = signed(payload)
        if problem == "bad_signature":
            headers["HTTP_X_KYC_SIGNATURE"] = "0" * 64
        else:
            headers = {}
    response = client.post(reverse("compliance:kyc_webhook"), body, content_type="application/json", **headers)
    assert response.status_code == 401
    verification.refresh_from_db()
    assert verification.status == "pending"
    assert verification.history.count() == versions
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "ts",
    [
        # signed for later replay: the tolerance and a minute ahead of the clock when the test runs
        # (not when it is collected: a suite's earlier tests take longer than the tolerance)
        lambda: time.time() + settings.WEBHOOK_TOLERANCE_SECONDS + 60,
        lambda: 10**309,  # beyond a float: OverflowError (a 500) before the shared verifier
    ],
    ids=["future", "overflow"],
)
def test_a_future_dated_webhook_is_refused_and_changes_nothing(client, alice, alice_household, sandbox, ts):
    """Issue 12: a signature dated ahead of the clock beyond the tolerance is refused, as a stale one is."""
    ts = ts()
    verification = services.kyc_start(investor=investor_named(alice_household, "Future"), acting_user=alice.user)
    body, headers = signed(result_payload(verification), ts=ts)
    response = client.post(reverse("compliance:kyc_webhook"), body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["detail"] in ("Webhook refused: future timestamp.", "Webhook refused: bad timestamp.")
    verification.refresh_from_db()
    assert verification.status == "pending" and not WebhookEvent.objects.exists()


def test_a_replayed_webhook_is_refused_and_changes_nothing(client, alice, alice_household, sandbox):
    investor = investor_named(alice_household, "Replay")
    verification = services.kyc_start(investor=investor, acting_user=alice.user)
    body, headers = signed(result_payload(verification, decision="REJECTED", event_id="evt-replay"))
    assert (
        client.post(reverse("compliance:kyc_webhook"), body, content_type="application/json", **headers).status_code
        == 200
    )
    # The advisor restarts; the old (rejected) event replayed must not touch the new attempt.
    services.kyc_start(investor=investor, acting_user=alice.user)
    body, headers = signed(result_payload(verification, decision="REJECTED", event_id="evt-replay"))
    response = client.post(reverse("compliance:kyc_webhook"), body, content_type="application/json", **headers)
    assert response.status_code == 409
    assert KYCVerification.objects.get(investor=investor).status == "pending"


def test_an_officer_decides_a_verification_that_needs_review(officer, alice, alice_household, sandbox, verified_client):
    investor = investor_named(alice_household, "Reviewed")
    services.kyc_start(investor=investor, acting_user=alice.user)
    services.kyc_refresh_pending(older_than=timedelta(0))
    verification = KYCVerification.objects.get(investor=investor)
    client = verified_client(officer)
    page = client.get(reverse("compliance:kyc_queue"))
    assert b"Pat Reviewed" in page.content
    response = client.post(
        reverse("compliance:kyc_decide", args=[verification.pk]),
        {"decision": "approved", "note": "Passport checked by hand."},
    )
    assert response.status_code == 302
    verification.refresh_from_db()
    assert verification.status == "approved" and verification.decided_by == officer


def test_the_api_starts_kyc_and_lists_the_households_status(api, alice, alice_household, sandbox):
    investor = investor_named(alice_household, "Api")
    client = api(alice.user)
    response = client.post(f"/api/v1/investors/{investor.pk}/kyc/")
    assert response.status_code == 201 and response.json()["status"] == "pending"
    again = client.post(f"/api/v1/investors/{investor.pk}/kyc/")
    assert again.status_code == 409 and "already pending" in again.json()["detail"]
    listing = client.get(f"/api/v1/households/{alice_household.pk}/kyc/").json()
    assert {"name": "Pat Api", "kyc_status": "pending"}.items() <= next(
        r for r in listing if r["name"] == "Pat Api"
    ).items()


def test_another_advisors_investor_is_a_404(api, bob, alice_household, sandbox):
    investor = investor_named(alice_household, "Hidden")
    assert api(bob.user).post(f"/api/v1/investors/{investor.pk}/kyc/").status_code == 404


def test_the_onboarding_workflow_runs_kyc_aml_and_the_risk_profile(sandbox, alice, alice_household):
    investor = investor_named(alice_household, "Onboard")
    out = onboard_investor(investor=investor, acting_user=alice.user, answers=ANSWERS_LEVEL[7])
    assert out["kyc_status"] == "pending" and out["aml_hit"] is False and out["risk_level"] == 7
    investor = Investor.objects.get(pk=investor.pk)
    assert investor.kyc.status == "pending" and investor.aml_screenings.count() == 1


def test_a_result_that_overtakes_the_providers_answer_still_clears_the_onboarding_kyc(
    sandbox, live_server, alice, alice_household, settings, monkeypatch
):
    """The zero-delay sandbox posts its result while the workflow's node is still waiting for
    the answer to the start (made certain here: the start answers only once the callback has
    been received). The attempt was recorded before the provider was called, so the result
    applies at once — no pending verification left for the 5-minute poll."""
    settings.KYC_CALLBACK_URL = f"{live_server.url}{reverse('compliance:kyc_webhook')}"
    real_provider = kyc_adapter.get_provider()

    class AnswersLate:
        name = real_provider.name

        def start(self, **kwargs):
            started = real_provider.start(**kwargs)
            for _ in range(100):
                if sandbox.delivered:
                    break
                time.sleep(0.05)
            return started

        def fetch(self, **kwargs):
            return real_provider.fetch(**kwargs)

    monkeypatch.setattr(kyc_adapter, "get_provider", lambda: AnswersLate())
    investor = investor_named(alice_household, "Quick")
    out = onboard_investor(investor=investor, acting_user=alice.user)
    assert sandbox.delivered and sandbox.delivered[-1][1] == 200  # received before the start's answer
    assert out["kyc_status"] == "pending"  # what the node saw
    verification = KYCVerification.objects.get(investor=investor)
    assert verification.status == "approved"
    assert verification.redirect_url.startswith(sandbox.url)  # the start's answer kept, the result not undone


def test_a_provider_outage_leaves_the_verification_as_it_was(alice, alice_household, settings):
    settings.KYC_URL = "http://127.0.0.1:9"  # nothing listens
    investor = investor_named(alice_household, "Outage")
    with pytest.raises(Exception, match="unavailable"):
        onboard_investor(investor=investor, acting_user=alice.user)
    assert KYCVerification.objects.filter(investor=investor).values_list("status", flat=True).first() == "not_started"
    with pytest.raises(Exception, match="unavailable"):
        services.kyc_start(investor=investor, acting_user=alice.user)
    assert KYCVerification.objects.filter(investor=investor).values_list("status", flat=True).first() == "not_started"
