"""A withdrawal larger than the cash raises the difference by selling (issue 13): it waits as
`awaiting_cash`, linked to its sale proposal, and goes out once the sales have filled and settled.

The account: 60/40 VTI/BND held on target — 30 VTI at $200, 57 BND at $70, $10.00 cash; worth
$10,000.00 in all."""

from decimal import Decimal

import pytest

from accounts.services import system_user
from portfolios.models import CashBalance, JournalEntry
from tests.trading.factories import account_with
from trading import services
from trading.errors import TradingError
from trading.models import CashTransfer, Order, OutboxMessage, RebalanceProposal
from trading.services.common import add_business_days, buying_power, withdrawable_cash

pytestmark = pytest.mark.django_db
D = Decimal


def _cash(account) -> Decimal:
    return CashBalance.objects.get(account=account, currency="USD").amount


def _withdraw(account, user, amount, **kwargs):
    return services.withdrawal_request(account=account, amount=D(amount), acting_user=user, **kwargs)


def _settle_and_release(proposal):
    services.settlement_run(as_of=add_business_days(proposal.as_of, 1), acting_user=system_user())
    return services.withdrawals_release(acting_user=system_user())


def test_a_withdrawal_of_exactly_the_cash_needs_no_sale(on_target, alice):
    transfer, proposal = _withdraw(on_target, alice.user, "10.00")
    assert proposal is None and transfer.proposal_id is None
    assert transfer.status == "requested"
    assert _cash(on_target) == D("0.00")
    assert not RebalanceProposal.objects.exists()


def test_one_cent_more_raises_the_cash_and_debits_nothing_yet(on_target, alice):
    transfer, proposal = _withdraw(on_target, alice.user, "10.01", approve=True)
    assert transfer.status == "awaiting_cash" and transfer.proposal_id == proposal.pk
    assert transfer.entry_id is None
    assert _cash(on_target) == D("10.00")
    # one whole share of the most overweight holding raises the cent (and its buffer)
    assert [(t.side, t.quantity) for t in proposal.trades.all()] == [("sell", D("1"))]
    assert proposal.status == "approved"
    assert Order.objects.get(proposal=proposal).status == "approved"
    # The $10.01 is spoken for: no buy and no other withdrawal can take the $10 meanwhile.
    assert buying_power(on_target) == D("-0.01")
    with pytest.raises(TradingError, match="Not enough cash"):
        services.transfer_create(account=on_target, direction="withdrawal", amount=D("0.01"), acting_user=alice.user)


def test_more_than_the_account_is_worth_is_refused_on_the_amount_and_writes_nothing(on_target, alice):
    with pytest.raises(TradingError) as refused:
        _withdraw(on_target, alice.user, "10000.01", approve=True, idempotency_key="w-too-much")
    assert refused.value.field == "amount"
    assert "more than the account is worth (10,000.00 USD)" in refused.value.message
    assert not CashTransfer.objects.exists()
    assert not RebalanceProposal.objects.exists()
    assert not Order.objects.exists()
    assert _cash(on_target) == D("10.00")


def test_the_whole_account_can_be_withdrawn(on_target, alice, sandbox):
    transfer, proposal = _withdraw(on_target, alice.user, "10000.00", approve=True)
    assert sorted((t.symbol, t.quantity) for t in proposal.trades.all()) == [("BND", D("57")), ("VTI", D("30"))]
    sandbox.relay()
    sandbox.deliver()
    assert _settle_and_release(proposal) == {"withdrawals_sent": 1, "withdrawals_failed": 0}
    transfer.refresh_from_db()
    assert transfer.status == "requested" and transfer.entry_id
    assert _cash(on_target) == D("0.00")


def test_the_transfer_goes_out_only_once_the_sales_have_settled(on_target, alice, sandbox):
    transfer, proposal = _withdraw(on_target, alice.user, "2000.00", approve=True)
    sandbox.relay()
    sandbox.deliver()
    assert set(Order.objects.filter(proposal=proposal).values_list("status", flat=True)) == {"filled"}
    assert _cash(on_target) == D("2180.00")  # 10 + 11 BND x 70 + 7 VTI x 200, not settled yet
    assert services.withdrawals_release(acting_user=system_user()) == {"withdrawals_sent": 0, "withdrawals_failed": 0}
    transfer.refresh_from_db()
    assert transfer.status == "awaiting_cash"
    assert withdrawable_cash(on_target) == D("-1990.00")  # the proceeds settle T+1; the $2,000 is held

    assert _settle_and_release(proposal)["withdrawals_sent"] == 1
    transfer.refresh_from_db()
    assert transfer.status == "requested"
    entry = JournalEntry.objects.get(pk=transfer.entry_id)
    assert entry.kind == "withdrawal"
    assert _cash(on_target) == D("180.00")
    assert OutboxMessage.objects.filter(transfer=transfer, kind="bank_transfer").count() == 1
    # Released once: running the path again sends nothing twice.
    assert _settle_and_release(proposal)["withdrawals_sent"] == 0
    assert JournalEntry.objects.filter(kind="withdrawal").count() == 1


def test_sales_that_do_not_raise_enough_fail_the_withdrawal_and_debit_nothing(on_target, alice):
    transfer, proposal = _withdraw(on_target, alice.user, "2000.00", approve=True)
    for order in Order.objects.filter(proposal=proposal):
        services.order_cancel(order=order, acting_user=alice.user)
    counts = services.withdrawals_release(acting_user=system_user())
    assert counts == {"withdrawals_sent": 0, "withdrawals_failed": 1}
    transfer.refresh_from_db()
    assert transfer.status == "failed"
    assert transfer.failure_reason.startswith("The sales left 10.00 USD to pay out, short of 2,000.00 USD")
    assert transfer.entry_id is None
    assert _cash(on_target) == D("10.00")
    assert buying_power(on_target) == D("10.00")  # the hold ended with it


def test_an_investors_withdrawal_waits_for_the_advisor_and_fails_when_the_sale_is_discarded(on_target, alice, charlie):
    transfer, proposal = _withdraw(on_target, charlie, "2000.00")
    assert proposal.status == "proposed"
    assert not Order.objects.exists()
    assert services.withdrawals_release(acting_user=system_user())["withdrawals_failed"] == 0
    services.proposal_discard(proposal=proposal, acting_user=alice.user)
    services.withdrawals_release(acting_user=system_user())
    transfer.refresh_from_db()
    assert transfer.status == "failed"
    assert "was discarded: nothing was paid out" in transfer.failure_reason


def test_retrying_the_same_key_places_no_second_proposal(on_target, alice):
    first, proposal = _withdraw(on_target, alice.user, "2000.00", approve=True, idempotency_key="w-1")
    again, same = _withdraw(on_target, alice.user, "2000.00", approve=True, idempotency_key="w-1")
    assert (again.pk, same.pk) == (first.pk, proposal.pk)
    assert RebalanceProposal.objects.count() == 1
    assert Order.objects.count() == 2
    assert CashTransfer.objects.count() == 1


def test_an_account_without_a_model_cannot_raise_cash(alice_household, securities, alice):
    account = account_with(alice_household, cash="10.00", positions=[("VTI", "30", "150")])
    with pytest.raises(TradingError, match="no model portfolio") as refused:
        _withdraw(account, alice.user, "100.00", approve=True)
    assert refused.value.field == "amount"
    assert not CashTransfer.objects.exists()


def test_the_nightly_settlement_step_sends_it_dated_the_next_business_day(on_target, alice, sandbox):
    from operations.stages import settlement_step

    transfer, proposal = _withdraw(on_target, alice.user, "2000.00", approve=True)
    sandbox.relay()
    sandbox.deliver()
    night = add_business_days(proposal.as_of, 1)
    outcome = settlement_step(business_date=night, acting_user=system_user())
    assert outcome.counts["withdrawals_sent"] == 1
    transfer.refresh_from_db()
    assert transfer.status == "requested"
    # tonight's reconciliation compares the custodian's statement of `night`: the money leaves the day after
    assert JournalEntry.objects.get(pk=transfer.entry_id).effective_date == add_business_days(night, 1)
    assert _cash(on_target) == D("180.00")
