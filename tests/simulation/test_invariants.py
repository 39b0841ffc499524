"""Each invariant of the firm simulation catches a planted violation (and passes the clean case).

The database checks are given a real account built through the services, then one thing is
broken behind the services' back (a posting, a balance, an execution, a break); the arithmetic
checks are given the simulator's figures with one number off.
"""

import functools
from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.services import system_user
from operations.models import ReconciliationBreak
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.models import CashBalance, Position, Posting
from sandboxes.simulation import independent, invariants
from tests.trading.factories import account_with, securities  # noqa: F401 -- fixture
from trading.checks import PRETRADE_CHECKS
from trading.models import Execution, Order, RebalanceProposal

D = Decimal
DAY = date(2016, 4, 1)


@pytest.fixture
def account(alice_household, securities):  # noqa: F811
    return account_with(alice_household, cash="10000.00", positions=[("AAPL", "100", "100")])


# --- ledger -----------------------------------------------------------------------------------


@pytest.mark.unbalanced_ledger
def test_ledger_check_catches_a_planted_bad_posting(account):
    assert invariants.check_ledger(DAY) == []
    posting = Posting.objects.filter(book__account=account, security__isnull=True).first()
    with connection.cursor() as cursor:  # behind the ledger's back: the entry no longer balances
        cursor.execute(f"UPDATE {Posting._meta.db_table} SET quantity = quantity + 1 WHERE id = %s", [posting.pk])

    found = invariants.check_ledger(DAY)

    assert found and all(v.invariant == "ledger" for v in found)
    assert any("postings sum to 1.000000000, not 0" in v.detail for v in found)


# --- balances ---------------------------------------------------------------------------------


@pytest.mark.unbalanced_ledger
def test_balance_check_catches_negative_cash_and_shares(account):
    numbers = {account.pk: "SIM-1"}
    assert invariants.check_balances(DAY, numbers) == []
    CashBalance.objects.filter(account=account).update(amount=D("-0.01"))
    Position.objects.filter(account=account).update(quantity=D("-3"))

    found = invariants.check_balances(DAY, numbers)

    assert [(v.invariant, v.account) for v in found] == [("negative cash", "SIM-1"), ("negative shares", "SIM-1")]
    assert "-0.01" in found[0].line() and "AAPL quantity is -3" in found[1].line()
    assert found[0].line().startswith("VIOLATION 2016-04-01 [negative cash] account SIM-1")


# --- kept figures -----------------------------------------------------------------------------


@pytest.mark.unbalanced_ledger
def test_figures_check_catches_a_cash_balance_moved_around_the_services(account):
    numbers = {account.pk: "SIM-1"}
    assert invariants.check_figures(DAY, numbers) == []
    cash = CashBalance.objects.get(account=account)
    CashBalance.objects.filter(pk=cash.pk).update(amount=cash.amount + D("0.01"))  # no service, no refresh

    found = invariants.check_figures(DAY, numbers)

    assert [(v.invariant, v.account) for v in found] == [("figures", "SIM-1")]
    assert f"kept cash is {cash.amount}, the records give {cash.amount + D('0.01')}" in found[0].line()


# --- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_check_catches_an_open_break(account):
    assert invariants.check_reconciliation(DAY) == []
    ReconciliationBreak.objects.create(
        account=account, business_date=DAY, asset="AAPL", ours=D("100"), theirs=D("99"), difference=D("-1")
    )
    ReconciliationBreak.objects.create(
        account=account, business_date=DAY - timedelta(days=1), asset="AAPL", ours=D(1), theirs=D(2), difference=D(1)
    )

    found = invariants.check_reconciliation(DAY, {account.pk: "SIM-7"})

    assert len(found) == 1  # the day's break only
    assert found[0].account == "SIM-7" and "AAPL: ours 100, custodian 99, difference -1" in found[0].detail


# --- orders -----------------------------------------------------------------------------------


def _filled_order(account, quantity="10"):
    """A sell of AAPL filled through the real fill service."""
    from trading.services import Fill, execution_apply, order_create

    order = order_create(
        account=account, security="AAPL", side="sell", quantity=D(quantity), acting_user=system_user(), source="advisor"
    )
    Order.objects.filter(pk=order.pk).update(status="submitted")
    execution_apply(
        fill=Fill(client_order_id=order.client_order_id, execution_id=f"X-{order.pk}-1", quantity=D(quantity),
                  price=D("150"), trade_date=DAY),
        acting_user=system_user(),
    )  # fmt: skip
    return Order.objects.get(pk=order.pk)


def test_order_check_catches_a_double_fill(account, settings, override_checks):
    override_checks(PRETRADE_CHECKS)
    order = _filled_order(account)
    assert invariants.check_orders(DAY, open_before=None) == []
    # The same fill applied twice (a second execution id for it): 20 shares executed for a 10-share order.
    first = order.executions.get()
    Execution.objects.create(
        order=order, execution_id=f"X-{order.pk}-dup", quantity=D("10"), price=D("150"), amount=D("1500.00"),
        trade_date=DAY, settle_date=DAY, entry=first.entry,
    )  # fmt: skip

    found = invariants.check_orders(DAY, open_before=None, numbers={account.pk: "SIM-2"})

    kinds = {v.invariant for v in found}
    assert kinds == {"filled beyond quantity", "fill count"}
    assert "2 executions of 20 for an order of 10" in next(v for v in found if v.invariant != "fill count").detail


def test_order_check_catches_an_order_that_never_ends(account, settings, override_checks):
    override_checks(PRETRADE_CHECKS)
    from trading.services import order_create

    order = order_create(
        account=account, security="AAPL", side="sell", quantity=D("1"), acting_user=system_user(), source="advisor"
    )
    Order.objects.filter(pk=order.pk).update(status="submitted", created_at=timezone.now() - timedelta(days=10))
    today = timezone.localdate()

    assert invariants.check_orders(today, open_before=today - timedelta(days=20)) == []  # still within its days
    found = invariants.check_orders(today, open_before=today - timedelta(days=3))

    assert [v.invariant for v in found] == ["order not ended"]
    assert "is still submitted" in found[0].detail


# --- silent rejections and bands ----------------------------------------------------------------


def test_rejection_check_catches_a_buy_rejected_without_a_word_on_the_proposal(account, settings, override_checks):
    from trading.services import order_create

    override_checks(PRETRADE_CHECKS)
    proposal = RebalanceProposal.objects.create(
        account=account, needed=True, as_of=DAY, status="approved", notes=[], created_by=system_user()
    )
    order = order_create(
        account=account, security="VTI", side="buy", quantity=D("1"), acting_user=system_user(), source="proposal",
        proposal=proposal,
    )  # fmt: skip
    Order.objects.filter(pk=order.pk).update(status="rejected", status_reason="Not enough cash: the trade needs 1.")
    proposal = RebalanceProposal.objects.prefetch_related("orders__security").get(pk=proposal.pk)

    found = invariants.check_rejections(DAY, [proposal], {account.pk: "SIM-3"})
    assert [v.invariant for v in found] == ["silent rejection"]
    assert "buy 1 VTI rejected" in found[0].detail and "Not enough cash" in found[0].detail

    proposal.notes = ["VTI: not enough cash for 1 share after the sells."]
    assert invariants.check_rejections(DAY, [proposal]) == []
    # A refusal by the custodian is the custodian's (its reason is on the order).
    Order.objects.filter(pk=order.pk).update(status_reason="The custodian refused the order: halted")
    proposal.notes = []
    proposal = RebalanceProposal.objects.prefetch_related("orders__security").get(pk=proposal.pk)
    assert invariants.check_rejections(DAY, [proposal]) == []


def test_a_proposal_is_measured_with_the_model_it_was_made_on_after_a_switch(account, override_checks):
    from portfolios.services import model_assign
    from sandboxes.simulation.reporting import Reporting
    from tests.trading.factories import model_of

    override_checks(MODEL_ASSIGN_CHECKS)
    first = model_of(account.household.firm, {"AAPL": "0.98"})
    second = model_of(account.household.firm, {"VTI": "0.98"})
    model_assign(account=account, model=first, acting_user=system_user())
    proposal = RebalanceProposal.objects.create(
        account=account, needed=True, as_of=DAY, status="approved", notes=[], created_by=system_user()
    )
    model_assign(account=account, model=second, acting_user=system_user())  # switched before the fills
    proposal.refresh_from_db()

    assert proposal.account.model_id == second.pk
    assert Reporting.model_when_made(proposal) == first.pk  # its substitutes, not the new model's


INPUTS = {
    "cash": "1000",
    "cash_target": "0.02",
    "settings": {"threshold": "0.05", "band_mode": "absolute", "relative_band": "0.25"},
    "holding_columns": ["symbol", "quantity", "price", "target_weight", "restricted"],
    "holdings": [["AAA", "50", "100", "0.49", False], ["BBB", "40", "100", "0.49", False]],
}


def test_band_check_passes_a_plan_that_lands_inside_its_bands():
    # 50 AAA + 40 BBB + 1,000 cash (10,000): buying 9 BBB for 900 lands at 50/49/1.
    lines = invariants.drift_after_plan(INPUTS, {"BBB": (D(9), D(-900))})
    assert invariants.check_bands(DAY, account="SIM-4", proposal_id=1, lines=lines, notes=[]) == []


def test_band_check_catches_an_account_left_out_of_band_with_no_reason():
    # The buy of BBB never happened (or was dropped): BBB sits 9 points under target, cash 8 over.
    lines = invariants.drift_after_plan(INPUTS, {})

    found = invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=[])

    assert [v.invariant for v in found] == ["out of band", "out of band"]
    assert "BBB is 40.00% against a target of 49.00% (band 5.00 points)" in found[0].detail
    assert "CASH is 10.00%" in found[1].detail
    # A reason on the proposal (a wash-sale block of BBB) makes it explained.
    notes = ["BBB was sold at a loss in the last 30 days: buying it now makes that loss a wash sale."]
    assert invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=notes) == []


def test_an_out_of_band_violation_says_where_its_plan_came_from():
    from datetime import datetime
    from types import SimpleNamespace

    made = datetime(2016, 3, 31, 22, 0, tzinfo=UTC)
    proposal = SimpleNamespace(
        inputs={**INPUTS, "cash": "1000"},
        run_key="drift:4:2016-03-31",
        as_of=DAY,
        created_at=made,
        decided_at=made.replace(day=1, month=4, hour=9),
    )
    executed = {"BBB": (D(2), D(-200))}  # too few: BBB stays 7 points under
    lines = invariants.drift_after_plan(INPUTS, executed)
    found = invariants.check_bands(
        DAY,
        account="SIM-4",
        proposal_id=9,
        lines=lines,
        notes=[],
        context=lambda symbol: invariants.plan_context(proposal, executed, symbol),
    )
    assert found and found[0].detail.endswith(
        "[plan drift:4:2016-03-31, as of 2016-04-01, created 2016-03-31 22:00, decided 2016-04-01 09:00; "
        "flow 0; BBB: 40 held, 2 traded for -200; cash 1000]"
    )


# --- harvests and household groups ------------------------------------------------------------------

PAIRS = {"AAA": "CCC"}  # harvesting AAA buys CCC, which no model targets


def test_a_harvest_is_measured_with_its_substitute_standing_in_for_the_security():
    # Sell all 50 AAA (5,000) and buy 49 CCC (4,900): the AAA slot still holds 49%.
    harvest = {"AAA": (D(-50), D(5000)), "CCC": (D(49), D(-4900))}
    before = invariants.drift_after_plan(INPUTS, {}, PAIRS)
    after = invariants.drift_after_plan(INPUTS, harvest, PAIRS)
    assert {line.symbol: line.actual for line in after}["AAA"] == D("0.49")  # CCC priced from its fill
    # BBB (40% of 49%) and cash were outside before: a harvest does not rebalance, so that stands.
    assert (
        invariants.check_harvest_bands(DAY, account="SIM-6", proposal_id=3, before=before, after=after, notes=[]) == []
    )


def test_harvest_check_tolerates_the_fills_nudging_a_line_at_its_bands_edge():
    # Cash at 6.90% against 2% (4.90 points, inside); the fills leave it at 7.20%: 0.30 past.
    edge = {
        **INPUTS,
        "cash": "690",
        "holdings": [["AAA", "50", "100", "0.49", False], ["BBB", "43.1", "100", "0.49", False]],
    }
    before = invariants.drift_after_plan(edge, {}, PAIRS)
    executed = {"AAA": (D(-50), D(5030)), "CCC": (D(50), D(-5000))}
    nudged = invariants.drift_after_plan(edge, executed, PAIRS)
    assert next(line for line in nudged if line.symbol == "CASH").outside
    # The plan sold AAA for 5,000 and bought CCC for 5,000: the sale filled 30 higher.
    fills = invariants.harvest_fill_prices(edge, executed, {"AAA": D(5000), "CCC": D(-5000)})
    assert fills == D(30) / D(9970)  # of the value before (10,000), less what the fills moved
    check = functools.partial(invariants.check_harvest_bands, DAY, account="SIM-6", proposal_id=3, notes=[])
    assert check(before=before, after=nudged, fills=fills) == []
    assert [v.invariant for v in check(before=before, after=nudged)] == ["harvest allocation"]
    # Filled as planned, the same cash past its band is the harvest's doing: caught.
    planned = {"AAA": D(5030), "CCC": D(-5000)}
    assert check(before=before, after=nudged, fills=invariants.harvest_fill_prices(edge, executed, planned)) != []


def test_harvest_check_allows_one_share_of_each_substitute_left_in_cash():
    # Cash at 6.90% (inside); the substitute costs 400 a share, so 200 of the proceeds stay: 8.90%.
    edge = {
        **INPUTS,
        "cash": "690",
        "holdings": [["AAA", "50", "100", "0.49", False], ["BBB", "43.1", "100", "0.49", False]],
    }
    harvest = {"AAA": (D(-50), D(5000)), "CCC": (D(12), D(-4800))}
    before = invariants.drift_after_plan(edge, {}, PAIRS)
    after = invariants.drift_after_plan(edge, harvest, PAIRS)
    share = invariants.harvest_whole_shares(edge, harvest)
    assert share == D("0.04")  # one CCC share: 400 of 10,000
    assert (
        invariants.check_harvest_bands(DAY, account="SIM-6", proposal_id=3, before=before, after=after, notes=[]) != []
    )
    assert invariants.check_harvest_bands(
        DAY, account="SIM-6", proposal_id=3, before=before, after=after, notes=[], whole_shares=share
    ) == []  # fmt: skip


def test_harvest_check_catches_a_harvest_that_moves_a_slot_out_of_its_band():
    before = invariants.drift_after_plan(INPUTS, {}, PAIRS)
    # The substitute's buy never happened: the AAA slot falls from 50% to 0%.
    sold_only = invariants.drift_after_plan(INPUTS, {"AAA": (D(-50), D(5000))}, PAIRS)
    found = invariants.check_harvest_bands(
        DAY, account="SIM-6", proposal_id=3, before=before, after=sold_only, notes=[]
    )
    assert [v.invariant for v in found] == ["harvest allocation"]
    assert "moved AAA out of its band: 0.00% against 49.00%" in found[0].detail
    # Measured without the pair, the substitute itself is off the model: caught too.
    harvest = {"AAA": (D(-50), D(5000)), "CCC": (D(49), D(-4900))}
    unpaired = invariants.drift_after_plan(INPUTS, harvest, {})
    assert {v.detail.split(" moved ")[1][:3] for v in invariants.check_harvest_bands(
        DAY, account="SIM-6", proposal_id=3, before=before, after=unpaired, notes=[]
    )} == {"AAA", "CCC"}  # fmt: skip


def _group_plan() -> invariants.GroupPlan:
    """Taxable (1): 60 AAA. IRA (2): 20 BBB and 2,000 cash. A 50/50 model, no cash target."""
    return invariants.GroupPlan(
        group="group 1 (SIM-T, SIM-I)",
        day=DAY,
        proposal_ids=[11, 12],
        holdings={1: {"AAA": D(60)}, 2: {"BBB": D(20)}},
        cash={1: D(0), 2: D(2000)},
        prices={"AAA": D(100), "BBB": D(100)},
        targets={"AAA": D("0.5"), "BBB": D("0.5")},
        cash_target=D(0),
        threshold=D("0.05"),
        pairs={},
        notes=[],
    )


def test_group_check_measures_the_household_not_each_account():
    plan = _group_plan()
    # Taxable sells 10 AAA and buys 10 BBB with it; the IRA buys 20 BBB: 50/50/0 for the household
    # (the taxable account alone is 50 AAA / 10 BBB, far off the model, and that is right).
    executed = {1: {"AAA": (D(-10), D(1000)), "BBB": (D(10), D(-1000))}, 2: {"BBB": (D(20), D(-2000))}}
    assert invariants.check_group_bands(plan, invariants.group_drift_after(plan, executed), DAY) == []


def test_group_check_catches_a_household_left_out_of_band_with_no_reason():
    plan = _group_plan()
    # The taxable account's BBB buy was dropped: BBB 40%, cash 10% for the household.
    executed = {1: {"AAA": (D(-10), D(1000))}, 2: {"BBB": (D(20), D(-2000))}}
    found = invariants.check_group_bands(plan, invariants.group_drift_after(plan, executed), DAY)
    assert [v.invariant for v in found] == ["group out of band", "group out of band"]
    assert found[0].account == "group 1 (SIM-T, SIM-I)"
    assert "BBB is 40.00% of the household against 50.00%" in found[0].detail
    plan.notes = ["BBB: not bought, the minimum trade is 1,500.00; the cash waits (minimum trade)."]
    assert invariants.check_group_bands(plan, invariants.group_drift_after(plan, executed), DAY) == []


def test_harvest_wash_check_catches_a_harvested_loss_bought_back_within_30_days(
    alice,
    alice_household,
    securities,  # noqa: F811 -- the fixture imported above
    settings,
    override_checks,
):
    from portfolios.models import Security, SubstitutionPair
    from trading.checks import FUNDING_CHECKS

    override_checks(PRETRADE_CHECKS)
    override_checks(FUNDING_CHECKS)
    settings.TRADING_RELAY_ON_COMMIT = False
    from tests.trading.factories import filled_trade, make_security, model_of
    from trading import services

    make_security("SCHB", "48.70")
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    SubstitutionPair.objects.create(
        model=model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    taxable = account_with(alice_household, cash="30.00", positions=[("VTI", "300", "250")], model=model)
    [proposal] = services.harvest_proposals_create(household=alice_household, acting_user=alice.user).proposals
    for order in services.proposal_approve(proposal=proposal, acting_user=alice.user):
        order.refresh_from_db()
        if order.side == "sell":
            services.execution_apply(
                fill=services.Fill(
                    order.client_order_id, f"H-{order.pk}", order.quantity, D("200"), timezone.localdate()
                ),
                acting_user=system_user(),
            )
    seen: set[int] = set()
    assert invariants.check_harvest_washes(DAY, seen) == []

    # The spouse's account buys VTI back the same week: the harvested loss is washed.
    other = account_with(alice_household, cash="5000.00")
    filled_trade(other, "VTI", "buy", "10", "200", timezone.localdate(), alice.user)
    found = invariants.check_harvest_washes(DAY, seen, {taxable.pk: "SIM-H"})
    assert [(v.invariant, v.account) for v in found] == [("harvest washed", "SIM-H")]
    assert "the harvested loss on VTI was disallowed (500.00)" in found[0].detail
    assert invariants.check_harvest_washes(DAY, seen) == []  # reported once


# --- time-weighted return -------------------------------------------------------------------------


POINTS = [
    (date(2016, 3, 1), D("100000.00"), D("100000.00")),
    (date(2016, 3, 2), D("101000.00"), D("0")),
    (date(2016, 3, 3), D("111000.00"), D("10000.00")),  # a deposit of 10,000: no return from it
    (date(2016, 3, 4), D("109890.00"), D("0")),
]


def test_independent_twr_links_daily_returns_around_flows():
    # 1% on day 2, 0% on day 3 (the deposit), -1% on day 4.
    assert independent.twr(POINTS) == D("1.01") * D("0.99") - 1


def test_twr_check_catches_a_return_off_by_a_hair():
    right = independent.twr(POINTS)
    assert invariants.check_twr(DAY, account="SIM-5", kronos=right, points=POINTS) == []

    found = invariants.check_twr(DAY, account="SIM-5", kronos=right + D("1e-9"), points=POINTS)
    assert [v.invariant for v in found] == ["twr"]
    # Treating the deposit as a gain is caught too.
    wrong = D("109890.00") / D("100000.00") - 1
    assert invariants.check_twr(DAY, account="SIM-5", kronos=wrong, points=POINTS)


# --- fees ---------------------------------------------------------------------------------------------


TIERS = [independent.Tier(D("1000000"), D("100")), independent.Tier(None, D("50"))]


def test_independent_fee_follows_the_stated_conventions():
    values = {date(2016, 1, 4): D("2000000"), date(2016, 2, 1): D("2000000")}
    fee, basis, days = independent.quarter_fee(
        values=values, quarter_start=date(2016, 1, 1), quarter_end=date(2016, 3, 31),
        opened_on=date(2016, 1, 4), closed_on=None, tiers=TIERS,
    )  # fmt: skip
    # Open from Jan 4: 88 days at 2,000,000; 100 bps on 1M + 50 on the next 1M = 15,000 a year; 2016 has 366 days.
    assert (days, basis) == (88, D("2000000"))
    assert fee == (D(15000) * 88 / 366).quantize(D("0.01"))


def test_fee_check_catches_a_fee_off_by_a_cent():
    values = {date(2016, 1, 4): D("250000.00"), date(2016, 2, 15): D("260000.00")}
    args = {
        "values": values, "quarter_start": date(2016, 1, 1), "quarter_end": date(2016, 3, 31),
        "opened_on": date(2016, 1, 1), "closed_on": None, "tiers": TIERS,
    }  # fmt: skip
    right, _, _ = independent.quarter_fee(**args)
    assert invariants.check_fee(DAY, account="SIM-6", charged=right, **args) == []

    found = invariants.check_fee(DAY, account="SIM-6", charged=right + D("0.01"), **args)
    assert [v.invariant for v in found] == ["fee"]
    assert f"charged {right + D('0.01'):,.2f}" in found[0].detail and f"recomputed {right:,.2f}" in found[0].detail


def test_independent_fee_agrees_with_kronos_billing_on_the_same_values():
    """The two are written apart; on the same figures they agree (so a disagreement in a run is a bug)."""
    from operations.engine import fees
    from operations.services import fee_for_account

    values = {date(2016, 1, 4) + timedelta(days=i): D("300000.00") + D(i * 137) for i in range(0, 80, 3)}

    class Schedule:
        basis = "average_daily_balance"

    ours, _, _ = independent.quarter_fee(
        values=values, quarter_start=date(2016, 1, 1), quarter_end=date(2016, 3, 31), opened_on=date(2016, 1, 4),
        closed_on=None, tiers=TIERS,
    )  # fmt: skip
    calc, _, _ = fee_for_account(
        schedule=Schedule(),  # type: ignore[arg-type]
        tiers=[fees.Tier(up_to=t.up_to, bps=t.bps) for t in TIERS],
        period_start=date(2016, 1, 1), period_end=date(2016, 3, 31), opened_on=date(2016, 1, 4), closed_on=None,
        values=values, opening=D(0),
    )  # fmt: skip
    assert calc.amount == ours


def test_the_band_check_reads_the_inputs_columns_the_proposal_writer_writes():
    from trading.services.proposal_documents import HOLDING_COLUMNS

    assert INPUTS["holding_columns"] == HOLDING_COLUMNS


def test_a_line_counted_with_its_substitute_is_explained_by_a_note_naming_the_substitute():
    """The engine moves a blocked security's target to its harvest substitute and names the
    substitute in its notes; the check merges the pair under the security's name. A withdrawal's
    plan that leaves the pair under its band with the note naming the substitute is explained;
    a note naming neither is not."""
    inputs = {
        **INPUTS,
        "holdings": [
            ["AAA", "0", "100", "0", False],
            ["SUB", "40", "100", "0.49", False],
            ["BBB", "50", "100", "0.49", False],
        ],
    }
    lines = invariants.drift_after_plan(inputs, {}, {"AAA": "SUB"})
    assert [(line.symbol, line.outside) for line in lines if line.outside] == [("AAA", True), ("CASH", True)]
    note = "Outside the band after the withdrawal: SUB, CASH (a cash flow is invested or raised, not rebalanced)."

    found = invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=[note], pairs={"AAA": "SUB"})
    assert found == []
    unexplained = invariants.check_bands(
        DAY, account="SIM-4", proposal_id=9, lines=lines, notes=["BBB sold."], pairs={"AAA": "SUB"}
    )
    assert [v.detail.split(" is ")[0] for v in unexplained] == [
        "proposal 9 filled but AAA",
        "proposal 9 filled but CASH",
    ]


def test_a_note_names_a_symbol_only_as_a_word():
    # "T" is in "the" and "GE" in "change" -- neither names the security.
    lines = invariants.drift_after_plan(
        {**INPUTS, "holdings": [["T", "50", "100", "0.49", False], ["GE", "40", "100", "0.49", False]]}, {}
    )
    notes = ["The model change left the plan with nothing to do."]
    found = invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=notes)
    assert [v.detail.split(" is ")[0] for v in found] == ["proposal 9 filled but GE", "proposal 9 filled but CASH"]
    assert (
        invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=["GE: not enough cash."]) == []
    )
    waited = invariants.check_bands(DAY, account="SIM-4", proposal_id=9, lines=lines, notes=["GE's buy waited."])
    assert [v.detail.split(" is ")[0] for v in waited] == ["proposal 9 filled but CASH"]
