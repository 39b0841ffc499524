from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.services import system_user
from compliance import services
from compliance.models import AMLCase, AMLScreening, KYCVerification, RuleMode
from compliance.pretrade import OrderIntent, account_may_transact, run_pretrade_checks, summarize
from kronos.history import save_attributed
from tests.compliance import factories as cf
from tests.portfolios.factories import ModelPortfolioFactory, PriceFactory, SecurityFactory

pytestmark = pytest.mark.django_db


def buy(account, security, amount="1000", **kw):
    return OrderIntent(
        account=account,
        security=security,
        side="buy",
        quantity=None,
        amount=Decimal(amount),
        price=Decimal("100"),
        **kw,
    )


def by_rule(results):
    return {r.rule: r for r in results}


def test_a_clean_order_passes_every_rule(account):
    bond = SecurityFactory(symbol="BND")
    results = run_pretrade_checks(buy(account, bond))
    assert summarize(results) == ("clear", [])
    assert {r.rule for r in results} == {
        "kyc",
        "aml",
        "account_restriction",
        "restricted_security",
        "suitability",
        "concentration",
        "funds",
        "wash_sale",
    }


@pytest.mark.parametrize("source", ["page", "proposal", "api", "job"])
@pytest.mark.parametrize("status", [KYCVerification.Status.PENDING, KYCVerification.Status.REJECTED, "none"])
def test_an_order_for_an_owner_without_approved_kyc_is_refused_on_every_path(account, security, owner, status, source):
    if status == "none":
        KYCVerification.objects.filter(investor=owner).update(status="not_started")
    else:
        cf.kyc(owner, status)
    results = run_pretrade_checks(buy(account, security, source=source))
    kyc = by_rule(results)["kyc"]
    assert (kyc.outcome, kyc.hard) == ("fail", True)
    assert "Charlie Investor" in kyc.message
    decision, reasons = summarize(results)
    assert decision == "rejected" and any("KYC" in r for r in reasons)
    assert account_may_transact(account)[0] is False


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_open_aml_case_freezes_trading(account, security, owner, side):
    screening = save_attributed(
        AMLScreening(investor=owner, trigger="manual", best_score=Decimal("95"), is_hit=True), acting_user=system_user()
    )
    save_attributed(AMLCase(investor=owner, screening=screening, best_score=Decimal("95")), acting_user=system_user())
    intent = OrderIntent(
        account=account, security=security, side=side, quantity=Decimal("1"), amount=None, price=Decimal("100")
    )
    result = by_rule(run_pretrade_checks(intent))["aml"]
    assert (result.outcome, result.hard) == ("fail", True)
    assert "AML" in result.message
    ok, reason = account_may_transact(account)
    assert not ok and "frozen" in reason


def test_a_cleared_aml_case_unfreezes_trading(account, security, owner, alice):
    screening = save_attributed(
        AMLScreening(investor=owner, trigger="manual", best_score=Decimal("95"), is_hit=True), acting_user=system_user()
    )
    case = save_attributed(
        AMLCase(investor=owner, screening=screening, best_score=Decimal("95")), acting_user=system_user()
    )
    services.aml_case_decide(
        case=case, decision="cleared", note="Different person: birth date differs.", acting_user=alice.user
    )
    assert by_rule(run_pretrade_checks(buy(account, security)))["aml"].outcome == "pass"


def test_an_order_on_an_account_whose_model_is_riskier_than_the_owner_is_refused(account, security, owner):
    account.model = ModelPortfolioFactory(firm=account.household.firm, risk_level=9, name="Aggressive")
    account.save()
    result = by_rule(run_pretrade_checks(buy(account, security)))["suitability"]
    assert (result.outcome, result.hard) == ("fail", True)
    assert "riskier than the owners' risk level 7" in result.message


def test_the_lowest_owner_level_decides_suitability(account, security, alice_household):
    from tests.accounts.factories import InvestorFactory

    joint = InvestorFactory(firm=alice_household.firm, households=[alice_household], first_name="Jo", last_name="Int")
    cf.kyc(joint)
    cf.profile(joint, 3)
    result = by_rule(run_pretrade_checks(buy(account, security)))["suitability"]
    assert result.outcome == "fail" and "risk level 3" in result.message


def test_a_restricted_account_is_refused(account, security):
    account.status = "restricted"
    account.save()
    assert by_rule(run_pretrade_checks(buy(account, security)))["account_restriction"].outcome == "fail"
    assert account_may_transact(account)[0] is False


def test_a_security_on_the_firms_restricted_list_is_refused(account, security, alice):
    services.restricted_security_add(
        firm=account.household.firm, security=security, reason="Insider holding", acting_user=alice.user
    )
    result = by_rule(run_pretrade_checks(buy(account, security)))["restricted_security"]
    assert result.outcome == "fail" and result.hard and "Insider holding" in result.message


def test_concentration_above_the_limit_sends_the_order_to_review(account, security):
    # 5,000 of 15,000 in VTI; buying 2,000 more makes 7,000 / 15,000 = 46.7%.
    results = run_pretrade_checks(buy(account, security, amount="2000"))
    result = by_rule(results)["concentration"]
    assert (result.outcome, result.hard) == ("fail", False)
    assert "46.7%" in result.message and "25.0%" in result.message
    assert summarize(results)[0] == "review"


def test_a_firm_can_make_a_soft_rule_hard(account, security):
    services.compliance_settings_update(firm=account.household.firm, acting_user=None, concentration_mode=RuleMode.HARD)
    assert summarize(run_pretrade_checks(buy(account, security, amount="2000")))[0] == "rejected"


def test_a_buy_without_enough_cash_is_refused(account):
    other = SecurityFactory(symbol="BND")
    PriceFactory(security=other, close=Decimal("100"))
    result = by_rule(run_pretrade_checks(buy(account, other, amount="20000")))["funds"]
    assert result.outcome == "fail" and "Not enough cash" in result.message


def test_a_sell_of_more_shares_than_held_is_refused(account, security):
    intent = OrderIntent(
        account=account, security=security, side="sell", quantity=Decimal("60"), amount=None, price=Decimal("100")
    )
    result = by_rule(run_pretrade_checks(intent))["funds"]
    assert result.outcome == "fail" and "holds 50" in result.message


def test_a_buy_after_a_loss_sale_warns_of_a_wash_sale(account):
    from portfolios.models import LotClosure, TaxLot

    security = SecurityFactory(symbol="BND")

    lot = TaxLot.objects.create(
        account=account,
        security=security,
        quantity=0,
        original_quantity=10,
        cost_per_share=Decimal("120"),
        acquired_on=date.today() - timedelta(days=90),
        closed_on=date.today() - timedelta(days=5),
    )
    LotClosure.objects.create(
        lot=lot,
        quantity=10,
        proceeds=Decimal("1000"),
        cost=Decimal("1200"),
        gain=Decimal("-200"),
        closed_on=date.today() - timedelta(days=5),
    )
    results = run_pretrade_checks(buy(account, security, amount="100"))
    assert by_rule(results)["wash_sale"].outcome == "warn"
    assert summarize(results)[0] == "clear"


def test_orders_checked_together_read_the_household_once_and_get_each_ones_own_answer(
    account, security, alice, alice_household
):
    """A proposal's orders are checked with one shared context: the household's wash-sale window,
    the account's open lots and the firm's restricted list are read once for all of them, and
    each order gets the answers it gets when checked alone -- the wash sale only for the
    security sold or bought at a loss, the restriction only for the restricted one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portfolios.models import LotClosure, TaxLot
    from tests.portfolios.factories import InvestmentAccountFactory

    today = date.today()
    bnd, gld = SecurityFactory(symbol="BND"), SecurityFactory(symbol="GLD")
    for s in (bnd, gld):
        PriceFactory(security=s, close=Decimal("100.00"))
    ira = InvestmentAccountFactory(household=alice_household, account_type="roth_ira")
    # BND sold at a loss in the household's IRA five days ago: buying it now is a wash sale.
    sold = TaxLot.objects.create(
        account=ira, security=bnd, quantity=0, original_quantity=10, cost_per_share=Decimal("120"),
        acquired_on=today - timedelta(days=90), closed_on=today - timedelta(days=5),
    )  # fmt: skip
    LotClosure.objects.create(
        lot=sold, quantity=10, proceeds=Decimal("1000"), cost=Decimal("1200"), gain=Decimal("-200"),
        closed_on=today - timedelta(days=5),
    )  # fmt: skip
    # VTI bought at 150 sixty days ago here, and in the IRA three days ago: selling the dear lot at
    # 100 now is a loss that purchase washes.
    TaxLot.objects.create(
        account=account, security=security, quantity=10, original_quantity=10, cost_per_share=Decimal("150"),
        acquired_on=today - timedelta(days=60),
    )  # fmt: skip
    TaxLot.objects.create(
        account=ira, security=security, quantity=5, original_quantity=5, cost_per_share=Decimal("100"),
        acquired_on=today - timedelta(days=3),
    )  # fmt: skip
    services.restricted_security_add(
        firm=account.household.firm, security=gld, reason="Insider holding", acting_user=alice.user
    )
    sell = OrderIntent(
        account=account, security=security, side="sell", quantity=Decimal("10"), amount=None, price=Decimal("100")
    )
    sell.lot_selection = {"method": "hifo"}  # type: ignore[attr-defined]
    intents = [sell, buy(account, bnd, amount="100"), buy(account, gld, amount="100"), buy(account, security, "100")]
    alone = [run_pretrade_checks(intent) for intent in intents]
    context: dict = {}
    for intent in intents:
        intent.context = context  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as queries:
        together = [run_pretrade_checks(intent) for intent in intents]
    assert together == alone
    assert [by_rule(r)["wash_sale"].outcome for r in together] == ["warn", "warn", "pass", "pass"]
    assert [by_rule(r)["restricted_security"].outcome for r in together] == ["pass", "pass", "fail", "pass"]
    reads = [q["sql"] for q in queries.captured_queries]
    assert sum('FROM "portfolios_lotclosure"' in q for q in reads) == 1
    assert sum('FROM "portfolios_taxlot"' in q and "portfolios_lotclosure" not in q for q in reads) <= 2
    assert sum('FROM "compliance_restrictedsecurity"' in q for q in reads) == 1
