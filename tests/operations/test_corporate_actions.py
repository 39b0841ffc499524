"""Corporate actions end to end: read from the sandbox market-data service over HTTP by the nightly
stage, processed, and the sandbox custodian (told the same action) agreeing in reconciliation;
operations' admin form for entering one."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from django.core.management import call_command

from accounts.services import system_user
from operations import services, stages
from operations.models import ReconciliationBreak
from portfolios import ledger
from portfolios.corporate_actions import action_terms_for_custodian, corporate_actions_import
from portfolios.models import CorporateAction, InvestmentAccount, JournalEntry, Position, Price
from portfolios.services import transfer_in
from sandboxes.custodian import SandboxCustodian
from sandboxes.market_data import serve_in_thread
from tests.accounts.factories import UserFactory
from tests.operations.book import mirror_into_sandbox
from tests.portfolios.factories import InvestmentAccountFactory, SecurityFactory
from trading.adapters.custodian import RestCustodian

pytestmark = pytest.mark.django_db

D = Decimal
OPENED = date(2025, 5, 1)
EX = date(2025, 6, 2)
PAY = date(2025, 6, 16)


@pytest.fixture
def market(settings):
    server, thread = serve_in_thread(port=0)
    host, port = server.server_address[:2]
    settings.MARKET_DATA_ADAPTER = "sandbox"
    settings.MARKET_DATA_URL = f"http://{host}:{port}"
    yield settings.MARKET_DATA_URL, server
    server.shutdown()
    server.server_close()


@pytest.fixture
def today():
    return {"day": OPENED}


@pytest.fixture
def custodian_sandbox(today):
    sandbox = SandboxCustodian(secret="s", today=lambda: today["day"])
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def holders(alice_household, custodian_sandbox):
    """Two whole-share accounts: 101 XYZ and $1,000.00; 40 XYZ and nothing else. The custodian
    holds the same."""
    xyz = SecurityFactory(symbol="XYZ")
    Price.objects.create(security=xyz, date=OPENED, close=D("30"), source="test")
    accounts = []
    for number, quantity, cash in (("KR-ODD", "101", "1000.00"), ("KR-EVEN", "40", None)):
        account = InvestmentAccountFactory(household=alice_household, custodian_account_number=number, opened_on=OPENED)
        transfer_in(
            account=account,
            positions=[{"symbol": "XYZ", "quantity": D(quantity), "cost_per_share": D("30"), "acquired_on": OPENED}],
            cash=D(cash) if cash else None,
            effective_date=OPENED,
            acting_user=system_user(),
            idempotency_key=f"open:{number}",
        )
        accounts.append(account)
    mirror_into_sandbox(custodian_sandbox, accounts, day=OPENED)
    return xyz, accounts


def post(url: str, body: dict) -> requests.Response:
    return requests.post(url, json=body, timeout=5)


def test_the_nightly_stage_reads_dividends_and_splits_from_the_sandbox_over_http(market, holders):
    url, _ = market
    xyz, (odd, even) = holders
    dividend = {
        "id": "E-XYZ-1",
        "ticker": "XYZ",
        "cash_amount": 0.2225,
        "currency": "USD",
        "dividend_type": "CD",
        "ex_dividend_date": EX.isoformat(),
        "record_date": EX.isoformat(),
        "pay_date": PAY.isoformat(),
        "declaration_date": "2025-05-20",
        "frequency": 4,
    }
    split = {"id": "S-XYZ-1", "ticker": "XYZ", "execution_date": EX.isoformat(), "split_from": 2, "split_to": 3}
    other = {**split, "id": "S-ABC-1", "ticker": "ABC"}  # a security we do not hold or know
    assert post(f"{url}/v3/reference/dividends", dividend).status_code == 201
    assert post(f"{url}/v3/reference/splits", {"results": [split, other]}).status_code == 201
    # The sandbox refuses what the provider would never send, naming it.
    refused = post(f"{url}/v3/reference/splits", {"id": "bad", "ticker": "XYZ", "execution_date": "2025-06-02"})
    assert refused.status_code == 400 and "no ratio" in refused.json()["error"]
    # It answers in Polygon's shape, the amount as an exact JSON number.
    listed = requests.get(f"{url}/v3/reference/dividends", params={"ticker": "XYZ"}, timeout=5)
    assert '"cash_amount": 0.2225' in listed.text and listed.json()["status"] == "OK"

    Price.objects.create(security=xyz, date=EX, close=D("20.37"), source="test")
    outcome = stages.corporate_actions_step(business_date=EX, acting_user=system_user())

    assert outcome.counts["imported"] == 2
    assert outcome.counts["splits_applied"] == 1 and outcome.counts["dividends_entitled"] == 1
    stored = {a.kind: a for a in CorporateAction.objects.all()}
    assert (stored["split"].ratio_numerator, stored["split"].ratio_denominator, stored["split"].source) == (
        3,
        2,
        "sandbox",
    )
    assert (stored["cash_dividend"].amount_per_share, stored["cash_dividend"].pay_date) == (D("0.2225"), PAY)
    # The split: 101 -> 151 + 0.5 x 20.37 = 10.185 -> 10.18 in lieu; 40 -> 60. The dividend of the
    # same ex-date is owed on the shares held at the close before it: the pre-split 101 and 40.
    assert Position.objects.get(account=odd).quantity == D(151)
    assert Position.objects.get(account=even).quantity == D(60)
    entitled = dict(stored["cash_dividend"].entitlements.values_list("account__custodian_account_number", "amount"))
    assert entitled == {"KR-ODD": D("22.47"), "KR-EVEN": D("8.90")}  # 101 x 0.2225 = 22.4725; 40 x 0.2225

    # A re-run of the night imports nothing new and moves nothing.
    again = stages.corporate_actions_step(business_date=EX, acting_user=system_user())
    assert again.counts.get("imported", 0) == 0 and again.counts["splits_applied"] == 0
    assert corporate_actions_import(start=EX, end=EX).created == 0
    call_command("check_ledger")


def test_the_stage_processes_known_actions_when_the_provider_is_down(settings, holders):
    xyz, (odd, _) = holders
    settings.MARKET_DATA_ADAPTER = "sandbox"
    settings.MARKET_DATA_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    CorporateAction.objects.create(
        security=xyz, kind="split", ex_date=EX, ratio_numerator=2, ratio_denominator=1, source="manual"
    )
    outcome = stages.corporate_actions_step(business_date=EX, acting_user=system_user())
    assert outcome.counts["failed"] == 1 and "not imported" in outcome.errors[0]["error"]
    assert outcome.counts["splits_applied"] == 1
    assert Position.objects.get(account=odd).quantity == D(202)


def _holdings_agree(accounts, custodian, day):
    ours = services.book_holdings_as_of(account_ids=[a.pk for a in accounts], as_of=day)
    for account in accounts:
        theirs = services._statement_holdings(custodian.statement(account.custodian_account_number, day), "USD")
        if ours[account.pk] != theirs:
            return False
    return True


def test_after_a_split_and_a_dividend_the_sandbox_custodian_agrees_and_reconciliation_has_no_break(
    holders, custodian_sandbox, today
):
    xyz, accounts = holders
    custodian = RestCustodian(custodian_sandbox.url, retries=0)
    Price.objects.create(security=xyz, date=EX, close=D("20.37"), source="test")
    split = CorporateAction.objects.create(
        security=xyz, kind="split", ex_date=EX, ratio_numerator=3, ratio_denominator=2, source="manual"
    )
    dividend = CorporateAction.objects.create(
        security=xyz,
        kind="cash_dividend",
        ex_date=EX + timedelta(days=7),
        pay_date=PAY,
        amount_per_share=D("0.1111"),
        source="manual",
    )
    from portfolios.corporate_actions import corporate_actions_process

    corporate_actions_process(as_of=EX, acting_user=system_user())
    split.refresh_from_db()
    # Kronos has split; a custodian that was not told still holds 101 and 40: that would break.
    assert not _holdings_agree(accounts, custodian, EX)

    # The custodian learns the action from its feed and processes it from its own books.
    for action in (split, dividend):
        answer = post(f"{custodian_sandbox.url}/v1/corporate-actions", action_terms_for_custodian(action))
        assert answer.status_code == 201, answer.text
    assert post(f"{custodian_sandbox.url}/v1/corporate-actions", action_terms_for_custodian(split)).status_code == 200
    corporate_actions_process(as_of=PAY, acting_user=system_user())

    for day in (EX, EX + timedelta(days=7), PAY):
        outcome = services.reconcile_accounts(
            account_ids=[a.pk for a in accounts], business_date=day, acting_user=system_user(), custodian=custodian
        )
        assert outcome.counts["breaks"] == 0, day
    assert not ReconciliationBreak.objects.exists()
    statement = custodian.statement("KR-ODD", PAY)
    # 151 XYZ; 1,000.00 + 10.18 in lieu + 151 x 0.1111 = 16.7761 -> 16.78.
    assert (statement.positions, statement.cash) == ({"XYZ": D(151)}, D("1026.96"))
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.DIVIDEND).count() == 2
    assert ledger.verify() == []


def test_the_custodian_adjusts_a_held_limit_order_on_the_ex_date(custodian_sandbox, today):
    custodian_sandbox.options.hold = True
    status, _ = custodian_sandbox.place(
        {
            "client_order_id": "c-1",
            "account": "KR-ODD",
            "symbol": "XYZ",
            "side": "buy",
            "order_type": "limit",
            "quantity": "35",
            "limit_price": "3.2567",
            "price": "3.20",
        }
    )
    assert status == 201
    custodian_sandbox.corporate_action(
        {"id": "r", "type": "split", "symbol": "XYZ", "ex_date": EX.isoformat(), "split_to": "1", "split_from": "10"}
    )
    custodian_sandbox.statement("KR-ODD", OPENED)  # any call before the ex-date leaves the order as it is
    assert custodian_sandbox.get("c-1")[1]["quantity"] == "35"
    today["day"] = EX
    custodian_sandbox.fill_held()
    order = custodian_sandbox._orders["c-1"]
    # 35 / 10 = 3.5 -> 3 whole shares; 3.2567 x 10 = 32.567 -> 32.56 (a buy's limit rounds down).
    assert (order.quantity, order.limit_price, order.price) == (D(3), D("32.56"), D("32.000000"))
    assert order.status == "filled"


# --- The admin --------------------------------------------------------------------------------------


@pytest.fixture
def ops_client(verified_client, alice):
    # A transactional test elsewhere may have flushed the permissions the data migrations granted.
    import importlib

    from django.apps import apps

    for module in (
        "portfolios.migrations.0002_grant_role_permissions",
        "portfolios.migrations.0004_grant_corporate_action_permissions",
    ):
        importlib.import_module(module).grant(apps, None)
    ops = UserFactory(email="ops-ca@example.com", roles=["operations"], is_staff=True, firm=alice.firm)
    return verified_client(ops), ops


def _form(security, **fields):
    data = {
        "security": security.pk,
        "kind": "split",
        "ex_date": "2025-06-02",
        "record_date": "",
        "pay_date": "",
        "amount_per_share": "",
        "currency": "USD",
        "ratio_numerator": "3",
        "ratio_denominator": "2",
        "cash_in_lieu_price": "",
        "entitlements-TOTAL_FORMS": "0",
        "entitlements-INITIAL_FORMS": "0",
        "entitlements-MIN_NUM_FORMS": "0",
        "entitlements-MAX_NUM_FORMS": "1000",
    }
    return {**data, **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ratio_numerator": "0"}, "The ratio must be greater than 0: give the new shares (a whole number)."),
        ({"ratio_numerator": "-3"}, "Ensure this value is greater than or equal to 0."),
        ({"ratio_denominator": ""}, "The ratio must be greater than 0: give the old shares (a whole number)."),
        ({"ratio_numerator": "1", "ratio_denominator": "10"}, "1-for-10 gives fewer shares: that is a reverse split."),
        (
            {
                "kind": "cash_dividend",
                "ratio_numerator": "",
                "ratio_denominator": "",
                "amount_per_share": "0.25",
                "pay_date": "2025-06-01",
            },
            "The pay date cannot be before the ex-date.",
        ),
        (
            {"kind": "cash_dividend", "ratio_numerator": "", "ratio_denominator": "", "pay_date": "2025-06-20"},
            "A cash dividend needs a positive amount per share.",
        ),
    ],
)
def test_the_admin_form_refuses_bad_terms_with_the_reason(ops_client, fields, message):
    client, _ = ops_client
    xyz = SecurityFactory(symbol="XYZ")
    page = client.post("/admin/portfolios/corporateaction/add/", _form(xyz, **fields))
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not CorporateAction.objects.exists()


def test_operations_enter_a_split_in_the_admin_with_history(ops_client):
    client, ops = ops_client
    xyz = SecurityFactory(symbol="XYZ")
    page = client.post("/admin/portfolios/corporateaction/add/", _form(xyz))
    assert page.status_code == 302, page.content.decode()[:2000]
    action = CorporateAction.objects.get()
    assert (action.kind, action.ratio_numerator, action.ratio_denominator, action.status, action.source) == (
        "split",
        3,
        2,
        "announced",
        "manual",
    )
    assert action.history.get().history_user == ops
    # Once applied it is history: the change page no longer saves.
    action.status = CorporateAction.Status.APPLIED
    action.save()
    page = client.post(f"/admin/portfolios/corporateaction/{action.pk}/change/", _form(xyz, ratio_numerator="4"))
    assert page.status_code == 403 or CorporateAction.objects.get().ratio_numerator == 3


def test_an_account_can_reinvest_dividends_as_a_setting():
    assert InvestmentAccount._meta.get_field("reinvest_dividends").default is False


def test_the_custodian_keeps_fractions_for_an_account_set_to_fractional_shares(custodian_sandbox):
    """Whole 101 shares, 3-for-2: a whole-share account gets 151 and cash in lieu, one the
    custodian was told allows fractions keeps 151.5 -- as Kronos does for the same accounts."""
    for ref in ("KR-WHOLE", "KR-FRAC"):
        custodian_sandbox._book(ref).moves.append((OPENED, "XYZ", D(101)))
    answer = post(f"{custodian_sandbox.url}/v1/accounts/KR-FRAC/settings", {"fractional_shares": True})
    assert answer.json() == {"account": "KR-FRAC", "fractional_shares": True}
    status, _ = custodian_sandbox.corporate_action(
        {
            "id": "s",
            "type": "split",
            "symbol": "XYZ",
            "ex_date": EX.isoformat(),
            "split_to": "3",
            "split_from": "2",
            "cash_in_lieu_price": "20.37",
        }
    )
    assert status == 201
    whole, frac = custodian_sandbox.statement("KR-WHOLE", EX), custodian_sandbox.statement("KR-FRAC", EX)
    assert (whole["positions"], whole["cash"]) == ({"XYZ": "151"}, "10.18")
    assert (D(frac["positions"]["XYZ"]), D(frac["cash"])) == (D("151.5"), D(0))
    # The day before the ex-date the statement is unchanged.
    assert custodian_sandbox.statement("KR-WHOLE", EX - timedelta(days=1))["positions"] == {"XYZ": "101"}
    bad = post(f"{custodian_sandbox.url}/v1/corporate-actions", {"id": "x", "type": "split", "symbol": "XYZ"})
    assert bad.status_code == 422
