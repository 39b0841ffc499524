"""Audit completeness: every model with financial or personal data has a history table, the
acting user is recorded on every path, and retained records cannot be deleted."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse

from accounts.models import Investor, Role
from compliance import services
from compliance.models import AMLCase, AMLScreening, KYCVerification
from kronos.retention import RetentionError
from sandboxes.kyc import start_in_thread
from tests.accounts.factories import InvestorFactory, UserFactory

KRONOS_APPS = ("accounts", "portfolios", "trading", "compliance", "operations")

#: Models without a history table, each with the reason it needs none.
NO_HISTORY_NEEDED = {
    "accounts.IdempotencyKey": "a replay cache of API answers, kept 48 hours; the records it created have history",
    "portfolios.Price": "public market data, re-importable from the provider; not client data",
    "compliance.WebhookEvent": "an append-only log of inbound delivery ids for replay protection; never changed",
    "trading.WebhookEvent": "the custodian's inbound delivery ids for replay protection; the fills are Executions",
    "accounts.Event": "the outbox of outgoing events: append-only copies of changes whose records have history",
    "accounts.WebhookDelivery": "the outgoing delivery log itself (one row per event and subscriber, with its attempts)",
    "accounts.WebhookAttempt": "an append-only log of outgoing HTTP attempts; never changed",
    "portfolios.AccountFigures": "derived figures kept for reading, rebuilt from the ledger, positions and prices "
    "(which have history) by the same transaction that changes them",
    "trading.ProposalDocument": "proposals' inputs stored once and referenced: content-addressed by their digest, "
    "written once and never changed; the proposals that reference them have history",
}
#: Apps whose infrastructure tables hold neither client nor financial data (checked by prefix).
NO_HISTORY_PREFIXES = {
    "trading.OutboxMessage": "a transient delivery queue of messages about orders (the orders have history)",
    "operations.": "job runs and their logs: operational records, not client or financial data",
}


def _exempt(label: str) -> bool:
    return label in NO_HISTORY_NEEDED or any(label.startswith(p) for p in NO_HISTORY_PREFIXES)


def test_every_model_with_financial_or_personal_data_has_a_history_table():
    from simple_history.models import registered_models

    tracked = {m._meta.label for m in registered_models.values()}
    missing = []
    for app_label in KRONOS_APPS:
        try:
            config = apps.get_app_config(app_label)
        except LookupError:
            continue
        for model in config.get_models():
            label = model._meta.label
            if model.__name__.startswith("Historical") or model._meta.auto_created:
                continue
            if label not in tracked and not _exempt(label):
                missing.append(label)
    assert not missing, f"models without history (add HistoricalRecords or justify in the allow-list): {missing}"


def test_the_allow_list_names_only_models_that_exist():
    for label in NO_HISTORY_NEEDED:
        assert apps.get_model(label)


@pytest.mark.django_db(transaction=True)
def test_web_api_and_job_changes_record_three_different_actors(alice, alice_household, verified_client, api, settings):
    server = start_in_thread(secret=settings.KYC_WEBHOOK_SECRET, delay=0)
    settings.KYC_URL = server.url
    settings.KYC_CALLBACK_URL = "http://127.0.0.1:9/unreachable"
    try:
        officer = UserFactory(email="cora@example.com", firm=alice.firm, roles=[Role.COMPLIANCE])
        investor = InvestorFactory(
            firm=alice_household.firm, households=[alice_household], first_name="Rita", last_name="Rejectova"
        )
        # 1. the web: the advisor starts the verification on the household page
        response = verified_client(alice.user).post(
            reverse("compliance:kyc_start", args=[investor.pk]), {"household": alice_household.pk}
        )
        assert response.status_code == 302
        # 2. a job: the poll finds the provider's result (rejected, by the sandbox's rule)
        assert services.kyc_refresh_pending(older_than=timedelta(0)) == 1
        # 3. the API: the compliance officer's token restarts it
        assert api(officer, "read trade").post(f"/api/v1/investors/{investor.pk}/kyc/").status_code == 201
    finally:
        server.shutdown()
        server.server_close()
    rows = list(KYCVerification.objects.get(investor=investor).history.order_by("history_date", "history_id"))
    rows = [(r.status, r.history_user) for r in rows if r.status != "not_started"]
    # A start writes two rows by the same actor (recorded pending before the provider is called,
    # then its redirect link): one change each time the status or the actor moves.
    changes = [row for i, row in enumerate(rows) if i == 0 or row != rows[i - 1]]
    assert [s for s, _ in changes] == ["pending", "rejected", "pending"]
    users = [u for _, u in changes]
    assert users[0] == alice.user and users[1].is_system and users[2] == officer
    assert len({u.pk for u in users}) == 3


@pytest.mark.django_db
def test_retained_records_cannot_be_deleted(alice_household):
    investor = InvestorFactory(firm=alice_household.firm, households=[alice_household])
    screening = AMLScreening.objects.create(investor=investor, trigger="manual")
    case = AMLCase.objects.create(investor=investor, screening=screening, best_score=90)
    with pytest.raises(RetentionError, match="kept for seven years"):
        case.delete()
    with pytest.raises(RetentionError):
        AMLCase.objects.filter(pk=case.pk).delete()
    assert AMLCase.objects.filter(pk=case.pk).exists()
    assert Investor.objects.filter(pk=investor.pk).exists()


@pytest.mark.django_db
def test_the_admin_offers_no_delete_for_compliance_records(rf, admin_user):
    from django.contrib import admin

    from compliance.models import RiskProfile

    request = rf.get("/")
    request.user = admin_user
    assert admin.site._registry[AMLCase].has_delete_permission(request) is False
    assert admin.site._registry[RiskProfile].has_delete_permission(request) is False
