"""The simulation's own corporate actions: drawn from the seed, served unadjusted, processed by
Kronos (the nightly's stage, from the market-data feed) and by the sandbox custodian (from its own
books), and the two books still agree.

The short run is forced to have a split, a reverse split and a dividend paid within the run; it
must break no invariant, and afterwards every account's shares, cash and tax lots at Kronos must be
the custodian's.
"""

import random
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from sandboxes.simulation.market import FORCIBLE, Market, corporate_actions

D = Decimal


@pytest.fixture(scope="module")
def market():
    return Market.load()


def _window(market, days, seed, start=None):
    window = market.window(days, start=start, rng=random.Random(seed))
    return window, market.symbols_covering(window)


def test_a_long_run_has_quarterly_dividends_splits_and_a_reverse_split(market):
    days, symbols = _window(market, 252, 1, start=date(2005, 1, 3))
    actions = corporate_actions(market, symbols, days, random.Random(7))
    dividends = [a for a in actions if a.is_dividend]
    splits = [a for a in actions if a.kind == "split" and not a.is_reverse]
    reverse = [a for a in actions if a.is_reverse]
    assert splits and reverse
    assert {(a.split_to, a.split_from) for a in splits} <= {(2, 1), (3, 1)}
    assert {(a.split_to, a.split_from) for a in reverse} == {(1, 4)}
    # Most symbols pay, about four times a year; none on the first day (no holders before it).
    payers = {a.symbol for a in dividends}
    assert "SPY" in payers and len(payers) >= len(symbols) // 2
    assert all(3 <= sum(1 for a in dividends if a.symbol == s) <= 4 for s in payers)
    assert all(days[0] < a.ex_date <= days[-1] for a in actions)
    market.actions = actions
    try:
        for a in dividends:
            # A share of the close before the ex-date as it traded (unadjusted for later events).
            before = market.close(a.symbol, days[days.index(a.ex_date) - 1])
            assert D("0.0029") <= a.amount / before <= D("0.0101"), (a, before)
            assert a.declared < a.ex_date < a.record_date < a.pay_date
            assert 14 <= (a.pay_date - a.ex_date).days <= 40
    finally:
        market.actions = []


def test_prices_are_unadjusted_around_the_events(market):
    days, symbols = _window(market, 10, 5)
    market.actions = corporate_actions(market, symbols, days, random.Random(1), force=FORCIBLE)
    try:
        for a in market.actions:
            before, on = days[days.index(a.ex_date) - 1], a.ex_date
            adjusted_move = market.closes[a.symbol][on] / market.closes[a.symbol][before]
            if a.is_dividend:
                # The close before the ex-date carries the dividend the adjusted history took out.
                traded = market.close(a.symbol, before)
                assert traded - a.amount == pytest.approx(market.close(a.symbol, on) / adjusted_move, abs=D("0.00001"))
            else:
                # A holding's value does not jump at the split: the price moves by 1/ratio besides the market.
                ratio = D(a.split_to) / D(a.split_from)
                moved = market.close(a.symbol, on) * ratio / market.close(a.symbol, before)
                assert moved == pytest.approx(adjusted_move, rel=D("0.000001"))
            if not any(b.symbol == a.symbol and b.ex_date > on for b in market.actions):
                assert market.close(a.symbol, on) == market.closes[a.symbol][on]  # from its last ex-date on
    finally:
        market.actions = []


def test_forced_actions_land_in_a_short_run_and_unknown_ones_are_refused(market):
    days, symbols = _window(market, 5, 2)
    actions = corporate_actions(market, symbols, days, random.Random(2), force=FORCIBLE, held=symbols[:6])
    kinds = {("dividend" if a.is_dividend else "reverse_split" if a.is_reverse else "split") for a in actions}
    assert kinds == set(FORCIBLE)
    forced_dividend = next(a for a in actions if a.is_dividend and a.symbol in symbols[:6])
    assert forced_dividend.pay_date <= days[-1]
    with pytest.raises(ValueError, match="bonus"):
        corporate_actions(market, symbols, days, random.Random(2), force=("bonus",))


@pytest.mark.simulation
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_short_run_with_a_split_a_reverse_split_and_a_dividend_keeps_every_invariant():
    from operations.models import JobRun
    from operations.services import book_holdings_as_of
    from portfolios.models import CorporateAction, CorporateActionEntitlement, Position, TaxLot
    from sandboxes.simulation.runner import Config, Simulation

    lines: list[str] = []
    simulation = Simulation(
        Config(accounts=9, days=7, seed=4, force_actions=FORCIBLE, out=lines.append, kill_worker=False)
    )
    summary = simulation.run()
    errors = [e for run in JobRun.objects.filter(job="corporate_actions") for e in run.errors]
    assert not summary.violations, "\n".join([v.line() for v in summary.violations[:20]] + [str(e) for e in errors])
    assert not errors

    # Kronos applied both splits and paid the dividend, to accounts that held them.
    applied = CorporateAction.objects.filter(status=CorporateAction.Status.APPLIED)
    assert sorted(a.kind for a in applied) == ["reverse_split", "split"]
    assert CorporateAction.objects.filter(kind="cash_dividend", status=CorporateAction.Status.PAID).exists()
    told = {a["id"]: a for a in simulation.custodian.corporate_actions()}
    for action in applied:
        assert action.entitlements.exists(), f"nobody held {action}"
        if action.cash_in_lieu_price is not None:  # fractions were paid: at the custodian's price
            assert D(told[action.external_id]["cash_in_lieu_price"]) == action.cash_in_lieu_price
        # Every lot held before the ex-date: quantity x ratio (less a fraction paid in lieu), cost per
        # share / ratio; the history keeps both.
        ratio = D(action.ratio_numerator) / D(action.ratio_denominator)
        changed = list(TaxLot.history.filter(history_change_reason=f"{action.describe()} #{action.pk}"))
        assert changed, f"no lot of {action} was adjusted"
        for record in changed:
            before = record.prev_record
            assert record.cost_per_share == (before.cost_per_share / ratio).quantize(D("0.000001"), ROUND_HALF_EVEN)
            assert before.quantity * ratio - 1 < record.quantity <= before.quantity * ratio
    assert applied.get(kind="reverse_split").cash_in_lieu_price is not None
    assert CorporateActionEntitlement.objects.filter(cash_in_lieu__gt=0).exists()
    assert CorporateActionEntitlement.objects.filter(status="paid", amount__gt=0).exists()

    # Every account: shares and cash at Kronos as of the last day are the custodian's statement's,
    # and the open tax lots add up to the shares held (the splits carried the lots along).
    last = simulation.days[-1]
    ours = book_holdings_as_of(account_ids=list(simulation.numbers), as_of=last)
    for account_id, number in simulation.numbers.items():
        statement = simulation.custodian.statement(number, last)
        theirs = {s: D(q) for s, q in statement["positions"].items()}
        if D(statement["cash"]):
            theirs["CASH:USD"] = D(statement["cash"])
        assert ours[account_id] == theirs, number
        held = dict(
            Position.objects.filter(account_id=account_id, quantity__gt=0).values_list("security__symbol", "quantity")
        )
        lots: dict[str, Decimal] = {}
        for symbol, quantity in TaxLot.objects.filter(account_id=account_id, quantity__gt=0).values_list(
            "security__symbol", "quantity"
        ):
            lots[symbol] = lots.get(symbol, D(0)) + quantity
        assert lots == held, number
    assert any(line.startswith("also:") and "corporate actions: reverse splits 1" in line for line in summary.lines())


@pytest.mark.django_db
def test_shares_of_a_plan_made_on_the_ex_date_before_the_night_applied_the_split_are_counted_in_the_old_shares():
    """The year's run, day 195: a harvest planned at 16:30 on T's ex-date (a 2:1 split the night
    applies at 17:30) planned in the old shares; its orders waited for the split and filled in
    the new ones. The band check counted those fills in the old shares only for plans of an
    earlier day, so it saw T sold twice over (0.10% against 18%). A plan made after the night
    applied the split (the night's own scan) is in the new shares already."""
    from datetime import datetime
    from types import SimpleNamespace

    from django.utils import timezone

    from accounts.services import system_user
    from portfolios.models import CorporateAction as KronosAction
    from portfolios.services import corporate_action_create
    from sandboxes.simulation.market import CorporateAction
    from sandboxes.simulation.setup import FirmSetup
    from tests.portfolios.factories import SecurityFactory

    ex = date(1995, 2, 21)
    split = CorporateAction(symbol="T", kind="split", ex_date=ex, pay_date=ex, split_to=2, split_from=1)
    SecurityFactory(symbol="T")
    kronos = corporate_action_create(
        security="T",
        kind=KronosAction.Kind.SPLIT,
        ex_date=ex,
        ratio_numerator=2,
        ratio_denominator=1,
        cash_in_lieu_price=Decimal("6.82"),
        external_id=split.id,
        acting_user=system_user(),
    )
    zone = timezone.get_current_timezone()
    KronosAction.objects.filter(pk=kronos.pk).update(processed_at=datetime(1995, 2, 21, 17, 30, tzinfo=zone))
    sim = FirmSetup.__new__(FirmSetup)
    sim.market = SimpleNamespace(actions=[split])
    next_day = date(1995, 2, 22)

    def shares(planned: date, made: datetime | None) -> Decimal:
        return sim.in_plan_shares("T", Decimal(200), planned=planned, traded=next_day, made=made)

    assert shares(ex, datetime(1995, 2, 21, 16, 30, tzinfo=zone)) == Decimal(100)  # the harvest, before
    assert shares(ex, datetime(1995, 2, 21, 17, 45, tzinfo=zone)) == Decimal(200)  # the night's scan, after
    assert shares(date(1995, 2, 20), datetime(1995, 2, 20, 17, 45, tzinfo=zone)) == Decimal(100)
    assert sim.in_plan_shares("T", Decimal(200), planned=ex, traded=date(1995, 2, 20), made=None) == Decimal(200)
