import datetime as dt

import pytest

from accounts.models import Role
from onboarding.models import REQUIRED_KINDS, AgreementTemplate
from tests.accounts.factories import UserFactory

SSN = "123-45-6789"


def cip(**overrides):
    """Identification data as the service takes it (flat names)."""
    data = {
        "first_name": "Dana",
        "last_name": "Whitfield",
        "date_of_birth": dt.date(1980, 5, 17),
        "email": "dana@example.com",
        "phone": "+1 212 555 0100",
        "tax_id": SSN,
        "citizenship": "US",
        "address_line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "employment_status": "employed",
        "annual_income": "100k_250k",
        "net_worth": "500k_1m",
        "investment_objective": "growth",
    }
    data.update(overrides)
    return data


def api_cip(**overrides):
    """The same as the API takes it (nested address)."""
    data = {
        "first_name": "Dana",
        "last_name": "Whitfield",
        "date_of_birth": "1980-05-17",
        "email": "dana@example.com",
        "phone": "+1 212 555 0100",
        "tax_id": SSN,
        "citizenship": "US",
        "address": {
            "line1": "1 Main St",
            "line2": "",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "employment_status": "employed",
        "annual_income": "100k_250k",
        "net_worth": "500k_1m",
        "investment_objective": "growth",
    }
    data.update(overrides)
    return data


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


@pytest.fixture
def ops(alice):
    return UserFactory(
        email="otto@example.com", full_name="Otto Ops", firm=alice.firm, roles=[Role.OPERATIONS], is_staff=True
    )


@pytest.fixture
def templates(alice):
    return {
        kind: AgreementTemplate.objects.create(
            firm=alice.firm,
            kind=kind,
            version="2026-01",
            title=f"{kind.replace('_', ' ').title()}",
            body=f"The {kind} text.\n\nSecond paragraph.",
            sha256=AgreementTemplate.digest(f"The {kind} text.\n\nSecond paragraph."),
        )
        for kind in REQUIRED_KINDS
    }


@pytest.fixture
def kyc_sandbox(settings):
    from sandboxes.kyc import start_in_thread

    server = start_in_thread(secret=settings.KYC_WEBHOOK_SECRET, delay=0)
    settings.KYC_URL = server.url
    settings.KYC_CALLBACK_URL = "http://127.0.0.1:9/unreachable"  # results are applied by the test
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def custodian(client, settings):
    from tests.trading.conftest import SandboxHarness

    harness = SandboxHarness(client)
    settings.CUSTODIAN_URL = harness.url
    settings.CUSTODIAN_WEBHOOK_SECRET = "test-webhook-secret"
    settings.CUSTODIAN_RETRIES = 0
    yield harness
    harness.sandbox.stop()
