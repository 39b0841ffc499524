"""The engine's fast builders of its frozen results (`rebalancing.new_trade` and the others)
give the very objects the dataclasses' own constructors give: the public class, every field,
equal, the same hash and repr, pickled and copied alike, and still frozen."""

import copy
import dataclasses
import inspect
import pickle
from decimal import Decimal as D

import pytest

from portfolios.engine import rebalancing as r

BUILDERS = [
    (r.Decision, r._BuildDecision, (7, True, "why")),
    (
        r.DriftReport,
        r._BuildDriftReport,
        ("a-1", D("10.00"), (r.DriftRow("X", D("0.5"), D("0.4"), D("-0.1"), D("0.05"), True),), D("0.1"), True),
    ),
    (r.LotSale, r._BuildLotSale, (3, D("2"), D("-1.50"), D("0.25"))),
    (
        r.Trade,
        r._BuildTrade,
        ("X", r.SELL, D("2"), D("10.5"), D("21.00"), (r.LotSale(3, D("2"), D("1.00")),), D("1.00"), D(0)),
    ),
]
PLAN_ARGS = (
    1,
    True,
    (r.Trade("X", r.BUY, D(1), D(2), D("2.00")),),
    r.DriftReport(1, D(1), (), D(0), False),
    None,
    D("4.95"),
    D(0),
    ("a note",),
    r.Decision(1, True, "why"),
)
BUILDERS.append((r.TradePlan, r._BuildTradePlan, PLAN_ARGS))


@pytest.mark.parametrize(("cls", "builder", "args"), BUILDERS, ids=lambda x: getattr(x, "__name__", ""))
def test_a_builder_gives_the_dataclass_instance(cls, builder, args):
    names = [f.name for f in dataclasses.fields(cls)]
    assert builder.__slots__ == cls.__slots__
    assert list(inspect.signature(builder.__init__).parameters)[1:] == names
    built = builder(*args)
    expected = cls(*args)
    assert type(built) is cls
    assert built == expected
    assert hash(built) == hash(expected)
    assert repr(built) == repr(expected)
    assert [getattr(built, n) for n in names] == list(args)
    assert pickle.loads(pickle.dumps(built)) == expected
    assert copy.deepcopy(built) == expected
    assert dataclasses.replace(built) == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, names[0], None)


def test_the_typed_aliases_are_the_builders():
    assert r.new_decision is r._BuildDecision
    assert r.new_drift_report is r._BuildDriftReport
    assert r.new_lot_sale is r._BuildLotSale
    assert r.new_trade is r._BuildTrade
    assert r.new_trade_plan is r._BuildTradePlan
