"""Account types and their ownership and beneficiary rules, for accounts opened through Kronos."""

import datetime as dt
from decimal import Decimal

import pytest

from accounts.services import investor_onboard
from portfolios.errors import PortfoliosError
from portfolios.models import AccountOwner, Beneficiary, InvestmentAccount
from portfolios.services import BeneficiarySpec, account_create
from tests.onboarding.conftest import cip

pytestmark = pytest.mark.django_db


@pytest.fixture
def adult(alice_household, alice):
    return investor_onboard(household=alice_household, acting_user=alice.user, **cip())


@pytest.fixture
def second_adult(alice_household, alice, adult):
    return investor_onboard(
        household=alice_household,
        acting_user=alice.user,
        **cip(first_name="Sam", email="sam@example.com", tax_id="987-65-4321"),
    )


@pytest.fixture
def minor(alice_household, alice, adult):
    today = dt.date.today()
    return investor_onboard(
        household=alice_household,
        acting_user=alice.user,
        relationship="dependent",
        **cip(first_name="Kim", date_of_birth=today.replace(year=today.year - 10), tax_id="111-22-3333"),
    )


def open_(household, user, **kw):
    kw.setdefault("name", "New account")
    return account_create(household=household, acting_user=user, **kw)


def test_without_a_number_the_account_is_pending_until_the_custodian_opens_it(alice_household, alice, adult):
    account = open_(alice_household, alice.user, account_type="individual", owners=[adult])
    assert account.status == InvestmentAccount.Status.PENDING
    assert account.custodian_account_number is None
    assert list(AccountOwner.objects.filter(account=account).values_list("investor_id", "role")) == [
        (adult.pk, "owner")
    ]


def test_a_minor_cannot_be_the_sole_owner_of_an_individual_account(alice_household, alice, minor):
    before = InvestmentAccount.objects.count()
    with pytest.raises(PortfoliosError) as exc:
        open_(alice_household, alice.user, account_type="individual", owners=[minor])
    assert "under 18" in exc.value.errors["owners"][0] and "UTMA" in exc.value.errors["owners"][0]
    assert InvestmentAccount.objects.count() == before


def test_the_day_a_minor_turns_18_they_may_own_an_individual_account(alice_household, alice, adult):
    today = dt.date.today()
    born = (
        today.replace(year=today.year - 18)
        if not (today.month == 2 and today.day == 29)
        else dt.date(today.year - 18, 2, 28)
    )
    eighteen = investor_onboard(
        household=alice_household,
        acting_user=alice.user,
        **cip(first_name="Lee", date_of_birth=born, tax_id="222-33-4444"),
    )
    account = open_(alice_household, alice.user, account_type="individual", owners=[eighteen])
    assert account.status == "pending"


def test_a_joint_account_needs_two_owners(alice_household, alice, adult, second_adult):
    with pytest.raises(PortfoliosError) as exc:
        open_(alice_household, alice.user, account_type="joint", owners=[adult])
    assert "at least two owners" in exc.value.errors["owners"][0]
    account = open_(alice_household, alice.user, account_type="joint", owners=[adult, second_adult])
    assert account.owners.count() == 2


def test_an_ira_without_a_beneficiary_is_refused(alice_household, alice, adult):
    before = (InvestmentAccount.objects.count(), Beneficiary.objects.count())
    for kind in ("traditional_ira", "roth_ira", "rollover_ira", "sep_ira"):
        with pytest.raises(PortfoliosError) as exc:
            open_(alice_household, alice.user, account_type=kind, owners=[adult])
        assert "primary beneficiary" in exc.value.errors["beneficiaries"][0]
    assert (InvestmentAccount.objects.count(), Beneficiary.objects.count()) == before


def test_an_iras_primary_shares_add_up_to_100(alice_household, alice, adult):
    halves = [BeneficiarySpec("Ana", "child", Decimal("50")), BeneficiarySpec("Ben", "child", Decimal("49.99"))]
    with pytest.raises(PortfoliosError) as exc:
        open_(alice_household, alice.user, account_type="roth_ira", owners=[adult], beneficiaries=halves)
    assert "exactly 100" in exc.value.errors["beneficiaries"][0]
    halves[1] = BeneficiarySpec("Ben", "child", Decimal("50"))
    account = open_(
        alice_household,
        alice.user,
        account_type="roth_ira",
        owners=[adult],
        beneficiaries=[*halves, BeneficiarySpec("Cy", "sibling", Decimal("100"), "contingent")],
    )
    assert account.beneficiaries.count() == 3


def test_a_utma_has_an_adult_custodian_and_a_minor(alice_household, alice, adult, second_adult, minor):
    with pytest.raises(PortfoliosError):
        open_(alice_household, alice.user, account_type="utma", owners=[adult, second_adult])
    account = open_(alice_household, alice.user, account_type="ugma", owners=[adult, minor])
    assert dict(account.owners.values_list("investor_id", "role")) == {adult.pk: "custodian", minor.pk: "minor"}


def test_trust_and_entity_accounts_name_trustees_and_signers(alice_household, alice, adult, second_adult):
    trust = open_(alice_household, alice.user, account_type="trust", owners=[adult, second_adult], name="Family trust")
    entity = open_(alice_household, alice.user, account_type="entity", owners=[adult], name="Whitfield LLC")
    assert set(trust.owners.values_list("role", flat=True)) == {"trustee"}
    assert set(entity.owners.values_list("role", flat=True)) == {"signer"}


def test_an_owner_outside_the_household_is_refused(alice_household, alice, bob_household, bob, adult):
    stranger = investor_onboard(
        household=bob_household, acting_user=bob.user, **cip(first_name="Zed", tax_id="333-44-5555")
    )
    with pytest.raises(PortfoliosError) as exc:
        open_(alice_household, alice.user, account_type="individual", owners=[stranger])
    assert "not a member" in exc.value.errors["owners"][0]
    assert "Zed" not in exc.value.errors["owners"][0]


def test_an_account_with_its_own_number_is_recorded_as_it_is(alice_household, alice):
    account = open_(alice_household, alice.user, account_type="roth_ira", custodian_account_number="XFER-1")
    assert account.status == "open" and account.custodian_account_number == "XFER-1"


def test_the_accounts_apis_lean_answer_is_what_its_schema_serializer_writes(
    alice_household, alice, adult, second_adult, api
):
    """The list builds each account's answer directly (`account_dict`); `AccountOutput` is its
    schema: for every kind of account (owners, beneficiaries, no model, settings off their
    defaults) the two write the same keys, in the same order, with the same strings."""
    from django.db.models import prefetch_related_objects

    from portfolios.api.accounts import AccountOutput, account_dict, account_parties
    from portfolios.selectors.accounts import (
        AccountRow,
        account_row_values_for_user,
        account_rows_for_user,
        row_figures,
    )
    from portfolios.selectors.figures import kept_figures

    open_(
        alice_household,
        alice.user,
        account_type="roth_ira",
        owners=[adult],
        beneficiaries=[
            BeneficiarySpec("Ana", "child", Decimal("100")),
            BeneficiarySpec("Cy", "sibling", Decimal("100"), "contingent"),
        ],
    )
    open_(alice_household, alice.user, account_type="joint", owners=[adult, second_adult], name="Joint",
          drift_threshold=Decimal("0.0325"), cash_reserve=Decimal("0.015"), min_trade_amount=Decimal("25.50"))  # fmt: skip
    accounts = list(account_rows_for_user(user=alice.user))
    prefetch_related_objects(accounts, "owners__investor", "beneficiaries")
    figures = kept_figures(accounts)
    assert len(accounts) == 2
    # The list reads tuples (AccountRow), not model instances: the same answer.
    rows = [AccountRow._make(r) for r in account_row_values_for_user(user=alice.user)]
    assert [r.pk for r in rows] == [a.pk for a in accounts]
    row_figures_ = row_figures(rows)
    for account, row in zip(accounts, rows, strict=True):
        lean = account_dict(account, figures, account_parties([a.pk for a in accounts]))
        schema = AccountOutput(account, context={"figures": figures}).data
        assert list(lean) == list(schema) and lean == dict(schema)
        from_row = account_dict(row, row_figures_, account_parties([a.pk for a in accounts]))
        assert list(from_row) == list(lean) and from_row == lean
    listed = api(alice.user).get("/api/v1/accounts/").json()["results"]
    assert {a["name"] for a in listed} >= {"Joint"} and listed[0]["owners"]


@pytest.mark.parametrize("fractional", [True, False])
def test_the_custodian_is_told_at_the_opening_whether_the_account_trades_fractions(
    alice_household, alice, adult, fractional
):
    """A split leaves a fractional account its fractions in Kronos's books; the custodian keeps
    them too only when it knows the account trades fractions (a 200-account simulation with every
    third account fractional broke on a 1:4 reverse split: ours 4,895.75 GE, the custodian's 4,895
    and 8.85 in lieu). The opening request says so, and the sandbox custodian keeps it."""
    from sandboxes.custodian import SandboxCustodian
    from trading.adapters.custodian import RestCustodian
    from trading.services.account_opening import account_opening_request

    account = open_(
        alice_household, alice.user, account_type="individual", owners=[adult], fractional_shares=fractional
    )
    sandbox = SandboxCustodian(secret="s", today=lambda: dt.date(2025, 3, 3))
    sandbox.start()
    try:
        request = account_opening_request(account=account, acting_user=alice.user, custodian=RestCustodian(sandbox.url))
        [(number, book)] = [(n, b) for n, b in sandbox._books.items()]
        assert number.startswith("SBX-") and book.fractional_shares is fractional
        assert request.request_id
        # 31 shares, then a 1:4 reverse split: 7.75 kept when fractional, else 7 and 0.75 in lieu.
        sandbox.open_books([(number, dt.date(2025, 3, 3), "XYZ", Decimal(31))])
        sandbox.corporate_action(
            {"id": "r", "type": "split", "symbol": "XYZ", "ex_date": "2025-03-04", "split_to": 1, "split_from": 4,
             "cash_in_lieu_price": "40.00"}
        )  # fmt: skip
        statement = sandbox.statement(number, dt.date(2025, 3, 4))
        assert (Decimal(statement["positions"]["XYZ"]), Decimal(statement["cash"])) == (
            (Decimal("7.75"), Decimal(0)) if fractional else (Decimal(7), Decimal("30.00"))
        )
    finally:
        sandbox.stop()
