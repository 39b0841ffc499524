"""Cash-flow rebalancing wired end to end (issue 13): a settled deposit is invested in the
underweight holdings, a withdrawal the cash does not cover is raised by selling the overweight
ones — as proposals, approved at once for an automatic account, left for the advisor otherwise.

The account: 60/40 VTI/BND held on target — 30 VTI at $200, 57 BND at $70, $10 cash."""

from decimal import Decimal

import pytest

from trading import services
from trading.models import Order, RebalanceProposal

pytestmark = pytest.mark.django_db


def _deposit(account, alice, amount="1000.00"):
    transfer = services.transfer_create(
        account=account, direction="deposit", amount=Decimal(amount), acting_user=alice.user
    )
    return services.transfer_status_apply(transfer=transfer, bank_status="settled", acting_user=alice.user)


def _trades(proposal):
    return [(t.side, t.symbol, t.quantity) for t in proposal.trades.all()]


def test_a_settled_deposit_is_proposed_for_the_underweight_holdings(on_target, alice):
    _deposit(on_target, alice)
    proposal = RebalanceProposal.objects.get(account=on_target)
    # $11,000 after the deposit: VTI $600 under its $6,600 target (most underweight), BND $410
    # under $4,400. $1,010 buys 3 VTI ($600), then 5 BND ($350) of the $410 left.
    assert _trades(proposal) == [("buy", "BND", Decimal("5")), ("buy", "VTI", Decimal("3"))]
    assert proposal.status == "proposed"  # the advisor approves (approval mode)
    assert not Order.objects.filter(account=on_target).exists()


def test_an_automatic_account_has_its_deposit_invested_at_once(on_target, alice):
    on_target.rebalance_mode = "automatic"
    on_target.save(update_fields=["rebalance_mode"])
    _deposit(on_target, alice)
    proposal = RebalanceProposal.objects.get(account=on_target)
    assert proposal.status == "approved"
    orders = Order.objects.filter(proposal=proposal).order_by("security__symbol")
    assert [(o.side, o.security.symbol, o.quantity, o.status) for o in orders] == [
        ("buy", "BND", Decimal("5"), "approved"),
        ("buy", "VTI", Decimal("3"), "approved"),
    ]


def test_a_withdrawal_the_cash_does_not_cover_sells_the_overweight_holdings(on_target, alice):
    transfer, proposal = services.withdrawal_request(
        account=on_target, amount=Decimal("2000.00"), acting_user=alice.user
    )
    # It waits for the sales, nothing debited yet.
    assert (transfer.status, transfer.proposal_id) == ("awaiting_cash", proposal.pk)
    assert transfer.entry_id is None
    # $1,990 short, plus the 2% buffer ($39.80): $2,039.80 to raise from $10 of cash. $7,960.20
    # after it: VTI $1,224 over its $4,776 target, BND $806 over $3,184 -> 6 VTI ($1,200), 11 BND
    # ($770), then 1 more VTI for the last $59.80.
    assert _trades(proposal) == [("sell", "BND", Decimal("11")), ("sell", "VTI", Decimal("7"))]
    assert sum(t.estimated_amount for t in proposal.trades.all()) >= Decimal("2029.80")
    assert proposal.status == "proposed"  # approval mode and no approve=True: the advisor's


def test_a_withdrawal_the_cash_covers_is_made_at_once(on_target, alice):
    transfer, proposal = services.withdrawal_request(account=on_target, amount=Decimal("10.00"), acting_user=alice.user)
    assert proposal is None
    assert transfer.direction == "withdrawal" and transfer.amount == Decimal("10.00")


def test_a_deposit_into_a_grouped_account_is_left_to_the_households_plan(on_target, alice):
    """Alone, the account would buy VTI and BND for the deposit; in a group its holdings are the
    household's to place (asset location), so the group's plan invests the cash, in this account."""
    from portfolios import services as portfolio_services
    from tests.trading.factories import account_with

    ira = account_with(on_target.household, cash="0.00", account_type="traditional_ira", model=on_target.model)
    group = portfolio_services.rebalancing_group_create(
        household=on_target.household, name="Family", model=on_target.model, accounts=[on_target, ira],
        acting_user=alice.user,
    )  # fmt: skip
    _deposit(on_target, alice, amount="5000.00")
    assert not RebalanceProposal.objects.exists()

    result = services.household_rebalance_propose(group=group, acting_user=alice.user)
    [proposal] = result.proposals
    assert proposal.account_id == on_target.pk  # the deposit's own account, none of the IRA's cash
    assert {t.side for t in proposal.trades.all()} == {"buy"}
