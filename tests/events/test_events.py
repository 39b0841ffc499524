"""Events out: written with the change, replayed in order by cursor, scoped to the reader."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection, connections, transaction

from accounts import services as account_services
from accounts.models import Event, Role
from accounts.services import event_emit, events_publish, system_user
from compliance import services as compliance_services
from compliance.adapters import kyc as kyc_adapter
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory, UserFactory
from trading import services as trading_services

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


def kinds(**filters):
    return list(Event.objects.filter(**filters).order_by("id").values_list("kind", flat=True))


# --- Written in the transaction of the change --------------------------------------------------


def test_household_create_writes_its_event_with_the_household(alice):
    household = account_services.household_create(
        firm=alice.firm, name="Okafor Household", advisor=alice, acting_user=alice.user
    )
    event = Event.objects.get(kind="household.created")
    assert (event.firm_id, event.household_id, event.subject_id) == (alice.firm_id, household.pk, household.pk)
    assert event.payload == {
        "household": household.pk,
        "name": "Okafor Household",
        "status": "active",
        "advisor": alice.pk,
    }
    assert event.position is None  # not visible to readers before it is published


def test_a_change_rolled_back_leaves_no_event(alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        account_services.household_create(firm=alice.firm, name="Gone", advisor=alice, acting_user=alice.user)
        assert kinds() == ["household.created"]
        raise RuntimeError("the caller fails after the service")
    assert not Event.objects.exists()


def test_a_refused_change_writes_no_event(alice_household, alice):
    from accounts.errors import AccountsError

    with pytest.raises(AccountsError):
        account_services.household_create(
            firm=alice.firm, name=alice_household.name, advisor=alice, acting_user=alice.user
        )
    assert not Event.objects.exists()


def test_an_order_emits_its_status_moves_and_its_fill(advisor_account, alice, sandbox):
    order = trading_services.order_create(
        account=advisor_account, security="AAPL", side="buy", quantity=D("10"), acting_user=alice.user, source="advisor"
    )
    sandbox.relay()  # the batched (bulk) submission path
    sandbox.deliver()
    events = list(Event.objects.filter(subject_type="order", subject_id=order.pk).order_by("id"))
    assert [(e.kind, e.payload["status"]) for e in events] == [
        ("order.updated", "approved"),
        ("order.updated", "submitted"),
        ("order.updated", "filled"),
        ("order.filled", "filled"),
    ]
    fill = events[-1].payload
    assert fill["fill_quantity"] == "10" and fill["fill_price"] == "150"
    assert fill["fill_amount"] == {"amount": "1500.00", "currency": "USD"}
    assert all(e.household_id == advisor_account.household_id and e.account_id == advisor_account.pk for e in events)


def test_a_withdrawal_emits_transfer_updated(advisor_account, alice):
    transfer = trading_services.transfer_create(
        account=advisor_account, direction="withdrawal", amount=D("25.00"), acting_user=alice.user
    )
    event = Event.objects.get(kind="transfer.updated")
    assert event.subject_id == transfer.pk
    assert event.payload["amount"] == {"amount": "25.00", "currency": "USD"}
    assert event.payload["status"] == "requested" and event.payload["direction"] == "withdrawal"


def test_kyc_changes_emit_kyc_updated_scoped_to_the_investor(alice_household, alice):
    investor = InvestorFactory(firm=alice.firm, households=[alice_household])
    compliance_services.kyc_record_start(
        investor=investor,
        started=kyc_adapter.Started(reference="ref-1", redirect_url="https://kyc.example/1"),
        provider_name="sandbox",
        acting_user=alice.user,
    )
    compliance_services.kyc_apply_result(
        result=kyc_adapter.Result(reference="ref-1", event_id="e1", status="approved", reason=""),
        acting_user=system_user(),
    )
    events = list(Event.objects.filter(kind="kyc.updated").order_by("id"))
    assert [e.payload["status"] for e in events] == ["pending", "approved"]
    assert all(e.investor_id == investor.pk and e.household_id is None for e in events)


def test_aml_hit_emits_aml_case_opened(alice_household, alice):
    from compliance.adapters import aml as aml_adapter

    investor = InvestorFactory(firm=alice.firm, households=[alice_household])
    hit = aml_adapter.Hit(
        ref="L1", name="x", matched_name="x", list_name="OFAC", score=D("97"), name_score=D("97"), reasons=()
    )
    found = aml_adapter.ScreeningResult(provider="sandbox", best_score=D("97"), hits=[hit], threshold=D("85"))
    compliance_services.aml_record_screening(investor=investor, found=found, trigger="onboarding", acting_user=None)
    event = Event.objects.get(kind="aml.case_opened")
    assert event.investor_id == investor.pk and event.payload["status"] == "open"


def test_account_opened_event(alice_household, alice):
    from portfolios import services as portfolio_services

    account = portfolio_services.account_create(
        household=alice_household, name="Joint", custodian_account_number="EV0000001", acting_user=alice.user
    )
    event = Event.objects.get(kind="account.opened")
    assert (event.account_id, event.household_id) == (account.pk, alice_household.pk)
    assert event.payload["account_type"] == account.account_type


def test_unknown_kinds_are_a_programming_error(alice):
    with pytest.raises(ValueError, match="Unknown event kind"):
        event_emit(kind="household.exploded", firm=alice.firm, payload={})


# --- Publishing and the cursor ----------------------------------------------------------------


def test_publish_numbers_committed_events_on_from_the_highest_position(alice, alice_household):
    for n in range(3):
        event_emit(kind="household.created", firm=alice.firm, household=alice_household, payload={"n": n})
    assert len(events_publish()) == 3
    event_emit(kind="household.created", firm=alice.firm, household=alice_household, payload={"n": 3})
    assert len(events_publish()) == 1
    assert events_publish() == []
    assert list(Event.objects.order_by("id").values_list("position", flat=True)) == [1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_the_cursor_never_skips_an_event_that_commits_later_with_a_lower_id(api):
    """Transaction A writes its event first (the lower id) but commits after B. A reader that
    polled between the two commits must still get A's event next time."""
    advisor = AdvisorFactory()
    household = HouseholdFactory(advisor=advisor, firm=advisor.firm)
    client = api(advisor.user, "read")
    a_written, a_may_commit = threading.Event(), threading.Event()
    errors = []

    def transaction_a():
        try:
            with transaction.atomic():
                event_emit(kind="household.created", firm=advisor.firm_id, household=household.pk, payload={"tx": "A"})
                a_written.set()
                assert a_may_commit.wait(10)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=transaction_a)
    thread.start()
    try:
        assert a_written.wait(10)
        with transaction.atomic():
            b = event_emit(kind="household.created", firm=advisor.firm_id, household=household.pk, payload={"tx": "B"})
        events_publish()  # A has not committed: only B is published
        first = client.get(URL, {"after": 0}).json()
        assert [e["data"]["tx"] for e in first["results"]] == ["B"]
        cursor = first["next_cursor"]
    finally:
        a_may_commit.set()
        thread.join(10)
    assert not errors
    a = Event.objects.get(payload__tx="A")
    assert a.pk < b.pk  # ids commit out of order: a cursor on ids would have skipped A
    events_publish()
    second = client.get(URL, {"after": cursor}).json()
    assert [e["data"]["tx"] for e in second["results"]] == ["A"]
    assert second["results"][0]["cursor"] > cursor


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_publishers_give_unique_gapless_positions():
    advisor = AdvisorFactory()
    household = HouseholdFactory(advisor=advisor, firm=advisor.firm)
    errors = []

    def work(n):
        try:
            for i in range(15):
                with transaction.atomic():
                    event_emit(kind="household.created", firm=advisor.firm_id, household=household.pk, payload={"i": i})
                if i % 3 == n % 3:
                    events_publish()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    events_publish()
    positions = sorted(Event.objects.values_list("position", flat=True))
    assert positions == list(range(1, 61))
    # Published in id order within each publishing run: a later position never has an id that
    # was committed and visible to an earlier run (checked by the gapless, unique numbering above).


# --- The replay: order, pages, scope ----------------------------------------------------------


@pytest.fixture
def two_firms(alice, bob, alice_household, bob_household, charlie):
    """alice and bob advise in one firm (charlie is an investor in alice's household); dana is
    that firm's compliance officer; another firm has its own household and operations user."""
    firm = alice.firm
    other = AdvisorFactory()
    other_household = HouseholdFactory(advisor=other, firm=other.firm)
    dana = UserFactory(email="dana@example.com", firm=firm, roles=[Role.COMPLIANCE])
    olga = UserFactory(email="olga@example.com", firm=other.firm, roles=[Role.OPERATIONS])
    charlie_investor = charlie.investor
    outsider = InvestorFactory(firm=firm, households=[bob_household])
    emitted = {
        "alice_household": event_emit(
            kind="household.created", firm=firm, household=alice_household, payload={"h": "alice"}
        ),
        "bob_household": event_emit(kind="household.created", firm=firm, household=bob_household, payload={"h": "bob"}),
        "other_household": event_emit(
            kind="household.created", firm=other.firm, household=other_household, payload={"h": "other"}
        ),
        "charlie_kyc": event_emit(kind="kyc.updated", firm=firm, investor=charlie_investor, payload={"k": "charlie"}),
        "charlie_aml": event_emit(kind="aml.case_opened", firm=firm, investor=charlie_investor, payload={"a": 1}),
        "outsider_kyc": event_emit(kind="kyc.updated", firm=firm, investor=outsider, payload={"k": "outsider"}),
    }
    events_publish()
    return {"alice": alice.user, "bob": bob.user, "charlie": charlie, "dana": dana, "olga": olga, "events": emitted}


def _seen(client, **params):
    body = client.get(URL, params).json()
    return [e["id"] for e in body["results"]]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("alice", ["alice_household", "charlie_kyc", "charlie_aml"]),
        ("bob", ["bob_household", "outsider_kyc"]),
        ("charlie", ["alice_household", "charlie_kyc"]),  # never the AML case (staff only)
        ("dana", ["alice_household", "bob_household", "charlie_kyc", "charlie_aml", "outsider_kyc"]),
        ("olga", ["other_household"]),
    ],
)
def test_the_replay_shows_each_role_what_it_may_see_in_order(two_firms, api, who, expected):
    events = two_firms["events"]
    client = api(two_firms[who], "read")
    assert _seen(client) == [events[name].public_id for name in expected]


def test_the_replay_pages_by_cursor_in_order(two_firms, api):
    client = api(two_firms["dana"], "read")
    seen, cursor = [], 0
    while True:
        body = client.get(URL, {"after": cursor, "limit": 2}).json()
        seen += [e["cursor"] for e in body["results"]]
        assert len(body["results"]) <= 2
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert seen == sorted(seen) and len(seen) == 5
    assert client.get(URL, {"after": cursor}).json() == {"results": [], "next_cursor": cursor, "has_more": False}


def test_the_replay_filters_by_type(two_firms, api):
    client = api(two_firms["dana"], "read")
    body = client.get(URL, {"type": "kyc.updated"}).json()
    assert {e["type"] for e in body["results"]} == {"kyc.updated"} and len(body["results"]) == 2


def test_the_replay_item_shape(two_firms, api):
    client = api(two_firms["alice"], "read")
    item = client.get(URL, {"limit": 1}).json()["results"][0]
    event = two_firms["events"]["alice_household"]
    event.refresh_from_db()
    assert item == {
        "id": f"evt_{event.pk}",
        "cursor": event.position,
        "type": "household.created",
        "occurred_at": item["occurred_at"],
        "firm": event.firm_id,
        "household": event.household_id,
        "investor": None,
        "account": None,
        "data": {"h": "alice"},
    }


@pytest.mark.parametrize(
    "params", [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "5000"}, {"type": "nope.nope"}]
)
def test_bad_replay_parameters_are_400s(alice, api, params):
    response = api(alice.user, "read").get(URL, params)
    assert response.status_code == 400


def test_the_replay_needs_the_read_scope_and_a_token(alice, api, client):
    assert api(alice.user, "trade").get(URL).status_code == 403
    assert client.get(URL).status_code in (401, 403)


def test_the_replay_has_a_fixed_number_of_queries(two_firms, api, django_assert_max_num_queries, uncached):
    client = api(two_firms["dana"], "read")
    client.get(URL)  # warm the token lookups
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"limit": 1000}).json()["results"]) == 5


def test_the_schema_documents_events_and_webhooks(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/events/" in schema["paths"]
    post = schema["paths"]["/api/v1/webhook-subscriptions/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in post["parameters"])
    assert "/api/v1/webhook-subscriptions/{id}/" in schema["paths"]


def test_proposals_written_by_copy_emit_their_events_in_the_same_transaction(alice_household, alice, securities):
    from kronos import bulk
    from tests.trading.factories import account_with, model_of
    from trading.models import RebalanceProposal

    assert bulk.enabled()  # the PostgreSQL COPY path
    model = model_of(alice.firm, {"BND": "0.5", "VTI": "0.5"})
    accounts = [account_with(alice_household, cash="10000.00", model=model) for _ in range(3)]
    balanced = account_with(
        alice_household, cash="0", positions=[("BND", "1", "70")], model=model_of(alice.firm, {"BND": "1"})
    )
    ids = [a.pk for a in accounts] + [balanced.pk]
    with pytest.raises(RuntimeError), transaction.atomic():
        trading_services.proposal_create_for_accounts(account_ids=ids, acting_user=system_user(), scheduled=True)
        raise RuntimeError("the chunk fails")
    assert not Event.objects.filter(kind="proposal.created").exists()
    created = trading_services.proposal_create_for_accounts(account_ids=ids, acting_user=system_user(), scheduled=True)
    needed = {p.pk for p in created if p.needed}
    assert len(needed) == 3 and RebalanceProposal.objects.filter(pk__in=needed).count() == 3
    events = Event.objects.filter(kind="proposal.created")
    assert {e.subject_id for e in events} == needed  # the balanced account's record is no event
    assert all(e.payload["trades"] >= 1 and e.household_id == alice_household.pk for e in events)


def test_event_insert_is_one_copy_for_a_bulk_emit(alice, alice_household, django_assert_num_queries, monkeypatch):
    from accounts.services import EventSpec, events_emit_bulk
    from kronos import bulk

    specs = [
        EventSpec(
            kind="statement.ready",
            firm_id=alice.firm_id,
            household_id=alice_household.pk,
            payload={"n": n, "amount": D("12.30"), "name": 'O\'Brien "Jr"\t\\'},
        )
        for n in range(50)
    ]
    copies = []
    real_copy = bulk.copy_rows
    monkeypatch.setattr(
        bulk,
        "copy_rows",
        lambda model, columns, rows, **kw: copies.append(model) or real_copy(model, columns, rows, **kw),
    )
    with django_assert_num_queries(0):  # one COPY, which Django's query log does not see
        assert events_emit_bulk(specs) == 50
    assert copies == [Event] and connection.vendor == "postgresql"
    stored = list(Event.objects.filter(kind="statement.ready").order_by("id"))
    assert [e.payload["n"] for e in stored] == list(range(50))
    # decimals as strings (as the API writes them); quotes, tabs and backslashes survive the COPY
    assert stored[0].payload == {"n": 0, "amount": "12.30", "name": 'O\'Brien "Jr"\t\\'}
    assert {e.household_id for e in stored} == {alice_household.pk} and all(e.position is None for e in stored)
    assert all(e.occurred_at == stored[0].occurred_at for e in stored)


def test_a_bulk_emit_refuses_an_unknown_kind_and_writes_nothing(alice):
    from accounts.services import EventSpec, events_emit_bulk

    specs = [
        EventSpec(kind="statement.ready", firm_id=alice.firm_id, payload={}),
        EventSpec(kind="nope", firm_id=alice.firm_id, payload={}),
    ]
    with pytest.raises(ValueError, match="Unknown event kind"):
        events_emit_bulk(specs)
    assert not Event.objects.filter(kind="statement.ready").exists()
