"""The nightly scan's proposals pack their trades into one column (`trading.packed_trades`): read,
shown, counted, approved and harvested against exactly as the rows another proposal holds."""

from decimal import Decimal

import pytest

from accounts.services import system_user
from tests.trading.factories import account_with, make_security, model_of
from trading.models import Order, ProposalTrade, RebalanceProposal
from trading.packed_trades import pack, unpack
from trading.selectors import proposal_list_for_account
from trading.services import proposal_approve, proposal_create_for_accounts

pytestmark = pytest.mark.django_db
D = Decimal

FIELDS = ("security_id", "symbol", "side", "quantity", "price", "estimated_amount", "realised_gain", "position")


def _twins(household, model):
    """Two accounts alike: 40 AAPL bought at 200 (a loss at 150: the sell realises it) and cash."""
    return [account_with(household, cash="5000.00", positions=[("AAPL", "40", "200")], model=model) for _ in range(2)]


def _values(trades):
    # str() too: the same number at the same places (what a row read back gives)
    return [tuple((getattr(t, f), str(getattr(t, f))) for f in FIELDS) for t in trades]


def test_a_nightly_proposals_packed_trades_read_as_the_rows_of_an_advisors_proposal(
    alice_household, alice, securities, api, verified_client
):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    nightly_account, advisor_account = _twins(alice_household, model)
    (nightly,) = proposal_create_for_accounts(
        account_ids=[nightly_account.pk], acting_user=system_user(), scheduled=True
    )
    (advisors,) = proposal_create_for_accounts(account_ids=[advisor_account.pk], acting_user=alice.user)
    nightly = RebalanceProposal.objects.get(pk=nightly.pk)
    assert nightly.packed_trades and not nightly.trades.exists()
    assert advisors.packed_trades == "" and advisors.trades.count() == 2
    rows = list(advisors.trades.all())
    assert rows[0].realised_gain < 0  # the sell's loss, packed and read back to the cent
    assert _values(nightly.trade_list) == _values(rows)
    # The API and the page show the same trades; the lists count them.
    shown = [api(alice.user).get(f"/api/v1/rebalance-proposals/{p.pk}/").json() for p in (nightly, advisors)]
    assert shown[0]["trades"] == shown[1]["trades"] and len(shown[0]["trades"]) == 2
    client = verified_client(alice.user)
    pages = [client.get(f"/proposals/{p.pk}/").content.decode() for p in (nightly, advisors)]
    table = [
        page[page.index('id="proposal-trades"') : page.index("</table>", page.index('id="proposal-trades"'))]
        for page in pages
    ]
    assert table[0] == table[1] and "AAPL" in table[0] and "No trades." not in table[0]
    assert [p.trade_count for p in proposal_list_for_account(account=nightly_account)] == [2]


def test_approving_a_packed_proposal_places_its_orders_once(alice_household, alice, securities, sandbox):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account, _ = _twins(alice_household, model)
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user(), scheduled=True)
    planned = [(t.side, t.symbol, t.quantity) for t in proposal.trade_list]

    orders = proposal_approve(proposal=proposal, acting_user=alice.user)

    assert [(o.side, o.security.symbol, o.quantity) for o in orders] == planned
    assert [o.idempotency_key for o in orders] == [f"proposal:{proposal.pk}:position:{n}" for n in range(len(planned))]
    assert proposal_approve(proposal=proposal, acting_user=alice.user) == orders  # a retry places nothing
    assert Order.objects.filter(proposal=proposal).count() == len(planned)


def test_the_harvest_scan_counts_a_packed_proposals_buys_as_purchases(alice_household, securities):
    """An open proposal's buy is a purchase in the wash-sale window the harvest scan keeps."""
    from datetime import date

    from trading.services.harvest import _proposed_buys

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user(), scheduled=True)
    buys = _proposed_buys([account.pk], date.today())
    assert [(b.lot_id, b.security_id, b.quantity) for b in buys] == [
        (f"proposal-trade:{proposal.pk}.{t.position}", t.symbol, t.quantity) for t in proposal.trade_list
    ]
    assert {b.security_id for b in buys} == {"AAPL", "BND"}  # by symbol, as the rows give them


def test_a_symbol_the_packing_cannot_hold_keeps_its_proposal_in_rows(alice_household, securities):
    make_security("BRK,B", "100")
    model = model_of(alice_household.firm, {"BRK,B": "1"})
    account = account_with(alice_household, cash="1000.00", model=model)
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user(), scheduled=True)
    assert proposal.packed_trades == ""
    assert [(t.symbol, t.quantity) for t in proposal.trades.all()] == [("BRK,B", D(10))]
    with pytest.raises(ValueError, match="cannot be packed"):
        pack([(1, "BRK,B", "buy", D(1), D(1), D(1), D(0))], ProposalTrade)


def test_the_packed_text_is_short_and_reads_back_at_each_columns_places():
    text = pack(
        [
            (7, "VTI", "sell", D("1E+2"), D("200.000000"), D("20000.00"), D("-12.5")),
            (9, "BND", "buy", D("3.25"), D("70.1"), D("227.83"), D("-0.00")),
        ],
        ProposalTrade,
    )
    assert text == "7,VTI,s,100,200,20000,-12.5;9,BND,b,3.25,70.1,227.83,0;"
    proposal = RebalanceProposal(pk=1, packed_trades=text)
    first, second = unpack(proposal, ProposalTrade)
    assert (str(first.quantity), str(first.price), str(first.estimated_amount), str(first.realised_gain)) == (
        "100.000000000",
        "200.000000",
        "20000.00",
        "-12.50",
    )
    assert (second.side, second.position, str(second.realised_gain), second.pk) == ("buy", 1, "0.00", None)
