"""A harvest's substitute stands in for its security (`portfolios.engine.substitutes`)."""

from decimal import Decimal

from portfolios.engine.substitutes import stand_in_targets

D = Decimal
TARGETS = {"VTI": D("0.6"), "BND": D("0.4")}
PAIRS = {"VTI": "SCHB"}


def test_sold_out_the_substitute_takes_the_whole_target():
    assert stand_in_targets(TARGETS, {"SCHB": D("60000"), "BND": D("40000")}, PAIRS) == {
        "VTI": D("0"),
        "SCHB": D("0.6"),
        "BND": D("0.4"),
    }


def test_both_held_the_target_is_shared_by_value_and_still_sums_exactly():
    weights = stand_in_targets(TARGETS, {"VTI": D("10000"), "SCHB": D("20000")}, PAIRS)
    assert weights["SCHB"] == D("0.400000")  # 0.6 x 2/3, half-even to six places
    assert weights["VTI"] == D("0.200000")
    thirds = stand_in_targets({"VTI": D("0.5")}, {"VTI": D("1"), "SCHB": D("2")}, PAIRS)
    assert thirds == {"VTI": D("0.166667"), "SCHB": D("0.333333")}  # 0.333333 rounded, VTI keeps the rest
    assert sum(thirds.values()) == D("0.5")


def test_nothing_changes_without_a_held_substitute_or_when_the_model_targets_it():
    assert stand_in_targets(TARGETS, {"VTI": D("60000")}, PAIRS) == TARGETS
    assert stand_in_targets(TARGETS, {"SCHB": D("0")}, PAIRS) == TARGETS
    own = {"VTI": D("0.5"), "SCHB": D("0.1"), "BND": D("0.4")}
    assert stand_in_targets(own, {"SCHB": D("5000")}, PAIRS) == own
    assert stand_in_targets(TARGETS, {"SCHB": D("5000")}, {"AAPL": "MSFT"}) == TARGETS
