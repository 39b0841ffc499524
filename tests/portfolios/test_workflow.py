"""The rebalancing workflow (Kailash SDK) end to end on in-memory snapshots: no database."""

import logging
import time
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from portfolios.engine import AccountSnapshot, Holding, calculate_drift, decide, generate_trades, workflow
from portfolios.engine.workflow import (
    CalculateDrift,
    FetchPortfolio,
    GenerateTrades,
    RebalanceDecision,
    RebalancingWorkflowError,
    build_rebalancing_workflow,
    run_rebalancing_workflow,
)

AS_OF = date(2025, 6, 2)


def account(account_id, a_shares, b_shares, cash="0", **settings) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=account_id,
        as_of=AS_OF,
        currency="USD",
        cash=D(cash),
        holdings=(
            Holding("A", D(a_shares), D(100), D("0.6")),
            Holding("B", D(b_shares), D(100), D("0.4"), last_loss_sale_on=settings.pop("b_loss_sale", None)),
        ),
        **settings,
    )


def chunk(size: int) -> list[AccountSnapshot]:
    """Accounts cycling through drifted, balanced, deposit, withdrawal and wash-sale cases."""
    shapes = [
        {"a_shares": 70, "b_shares": 30},
        {"a_shares": 62, "b_shares": 38},
        {"a_shares": 65, "b_shares": 35, "external_flow": D(1000)},
        {"a_shares": 66, "b_shares": 34, "external_flow": D(-500)},
        {"a_shares": 75, "b_shares": 25, "b_loss_sale": AS_OF - timedelta(days=3)},
        {"a_shares": 40, "b_shares": 40, "cash": "2000", "cash_reserve": D("0.02")},
    ]
    return [account(i, **shapes[i % len(shapes)]) for i in range(size)]


def test_it_builds_the_four_nodes_in_a_line():
    workflow = build_rebalancing_workflow()
    types = {node_id: type(workflow.get_node(node_id)) for node_id in workflow.graph.nodes}
    assert types == {
        "fetch_portfolio": FetchPortfolio,
        "calculate_drift": CalculateDrift,
        "decide": RebalanceDecision,
        "generate_trades": GenerateTrades,
    }


def test_it_returns_the_same_plans_as_the_engine_called_directly():
    snapshots = chunk(60)
    plans = run_rebalancing_workflow(snapshots=snapshots)
    assert set(plans) == {s.account_id for s in snapshots}
    for s in snapshots:
        drift = calculate_drift(s)
        assert plans[s.account_id] == generate_trades(s, drift, decision=decide(s, drift))
        assert plans[s.account_id] == generate_trades(s)


def test_accounts_inside_their_bands_get_a_plan_that_is_not_needed():
    plans = run_rebalancing_workflow(snapshots={7: account(7, 62, 38), 8: account(8, 70, 30)})
    assert plans[7].needed is False and plans[7].trades == ()
    assert plans[8].needed is True
    assert [(t.side, t.symbol, t.quantity) for t in plans[8].trades] == [("sell", "A", D(10)), ("buy", "B", D(10))]


def test_the_chain_plans_exactly_the_snapshots_it_is_handed():
    given = {s.account_id: s for s in chunk(12)}
    plans = run_rebalancing_workflow(snapshots=given, as_of=AS_OF)
    assert set(plans) == set(range(12))


def test_a_failing_step_is_reported_not_swallowed(monkeypatch):
    def broken(snapshot):
        raise ArithmeticError("drift is away")

    monkeypatch.setattr(workflow, "calculate_drift", broken)
    with pytest.raises(RebalancingWorkflowError, match="drift is away"):
        run_rebalancing_workflow(snapshots=chunk(1))


def test_it_needs_the_snapshots():
    with pytest.raises(TypeError):
        run_rebalancing_workflow()  # type: ignore[call-arg]


def test_an_empty_chunk_gives_no_plans():
    assert run_rebalancing_workflow(snapshots=[]) == {}


def test_a_run_costs_milliseconds_on_top_of_the_engine():
    run_rebalancing_workflow(snapshots=chunk(1))  # first run imports and builds
    best = min(_timed(lambda: run_rebalancing_workflow(snapshots=chunk(1))) for _ in range(20))
    assert best < 0.02, f"a one-account run took {best * 1000:.1f} ms"


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def test_the_runtime_never_formats_the_chunk_it_carries(monkeypatch):
    # The runtime's audit trail keeps str(inputs)[:1000] of values that are not JSON; a plain
    # list of 1,000 snapshots would be formatted whole first (half the time of a run).
    def refuse(self):
        raise AssertionError("a snapshot was formatted by the workflow runtime")

    monkeypatch.setattr(AccountSnapshot, "__repr__", refuse)
    for given in (chunk(10), {s.account_id: s for s in chunk(10)}):
        assert len(run_rebalancing_workflow(snapshots=given)) == 10


def test_a_run_leaves_the_sdk_logging_where_settings_put_it(caplog):
    runtime_logger = logging.getLogger("kailash.runtime.base")
    level = runtime_logger.level
    with caplog.at_level(logging.INFO):
        run_rebalancing_workflow(snapshots=chunk(3))
        assert runtime_logger.level == level
    assert not [r for r in caplog.records if r.name.startswith("kailash.runtime") and r.levelno < logging.WARNING]


def test_every_workflow_runs_through_the_quiet_runtime():
    """A LocalRuntime built anywhere else sets the SDK's logger to INFO for the rest of the process
    (the onboarding checks once did, and a later rebalancing run in the same test worker logged
    every node)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    apps = ["accounts", "portfolios", "trading", "compliance", "operations", "onboarding", "kronos"]
    builders = sorted(
        str(path.relative_to(root))
        for app in apps
        for path in (root / app).rglob("*.py")
        if "LocalRuntime(" in path.read_text()
    )
    assert builders == ["kronos/workflow_runtime.py"]
