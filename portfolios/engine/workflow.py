"""The rebalancing workflow: the engine's four steps composed with the Kailash SDK.

    FetchPortfolio -> CalculateDrift -> RebalanceDecision -> GenerateTrades

Each node calls the pure engine (`portfolios.engine`) for every account of a CHUNK
(hundreds to thousands of accounts), so the runtime's overhead (a few milliseconds a run) is
paid once per chunk, never once per account. The workflow only reads: it returns a
`TradePlan` per account, and storing proposals is the proposal service's job.

Between nodes the chunk travels as an `AccountBatch`, an opaque in-process container: the
runtime neither walks it (template resolution recurses into dicts and lists) nor serialises
it (its execution tracker stores only the batch's short repr).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import Any

from kailash.nodes.base import Node, NodeParameter, register_node
from kailash.workflow.builder import WorkflowBuilder

from kronos.workflow_runtime import quiet_runtime
from portfolios.engine.memory import cyclic_gc_paused
from portfolios.engine.rebalancing import (
    AccountSnapshot,
    TradePlan,
    calculate_drift,
    decide,
)
from portfolios.engine.trades import generate_trades

AccountId = int | str


class AccountBatch:
    """One chunk's values keyed by account id, handed from node to node without copying."""

    __slots__ = ("items",)

    def __init__(self, items: dict[AccountId, Any]):
        self.items = items

    def __repr__(self) -> str:
        return f"<AccountBatch of {len(self.items)} accounts>"

    def __len__(self) -> int:
        return len(self.items)


class _CheckpointNoise(logging.Filter):
    """The runtime's execution tracker warns that node outputs are not JSON; ours are
    in-process batches on purpose, so that one warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Non-serializable output for checkpoint")


logging.getLogger("kailash.runtime.execution_tracker").addFilter(_CheckpointNoise())


def _batch(snapshots: AccountBatch | Mapping[AccountId, AccountSnapshot] | Iterable[AccountSnapshot]) -> AccountBatch:
    if isinstance(snapshots, AccountBatch):
        return snapshots
    if isinstance(snapshots, Mapping):
        return AccountBatch(dict(snapshots))
    return AccountBatch({s.account_id: s for s in snapshots})


def _param(name: str, description: str, *, required: bool = False) -> NodeParameter:
    return NodeParameter(name=name, type=Any, required=required, default=None, description=description)


class _EngineNode(Node):
    """A node whose outputs are in-process engine objects (dataclasses of Decimals)."""

    def validate_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        # The base class insists on JSON-serialisable outputs, which would mean converting
        # every Decimal of a chunk twice per node. These outputs never leave the process.
        return outputs


@register_node()
class FetchPortfolio(_EngineNode):
    """Step 1: the snapshots of a chunk of accounts, as the caller fetched them (the selector
    `portfolios.selectors.engine_snapshots` reads them in bulk before the run). The workflow
    itself touches no database."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {"snapshots": _param("snapshots", "AccountBatch of the chunk's AccountSnapshots", required=True)}

    def run(self, **kwargs: Any) -> dict[str, Any]:
        return {"snapshots": _batch(kwargs["snapshots"])}


@register_node()
class CalculateDrift(_EngineNode):
    """Step 2: the drift report of every account of the chunk."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {"snapshots": _param("snapshots", "AccountBatch of snapshots", required=True)}

    def run(self, **kwargs: Any) -> dict[str, Any]:
        snapshots: AccountBatch = kwargs["snapshots"]
        with cyclic_gc_paused():
            drift = {account_id: calculate_drift(s) for account_id, s in snapshots.items.items()}
        return {"snapshots": snapshots, "drift": AccountBatch(drift)}


@register_node()
class RebalanceDecision(_EngineNode):
    """Step 3: the threshold decision for every account of the chunk."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            "snapshots": _param("snapshots", "AccountBatch of snapshots", required=True),
            "drift": _param("drift", "AccountBatch of drift reports", required=True),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:
        snapshots: AccountBatch = kwargs["snapshots"]
        drift: AccountBatch = kwargs["drift"]
        decisions = {account_id: decide(s, drift.items[account_id]) for account_id, s in snapshots.items.items()}
        return {"snapshots": snapshots, "drift": drift, "decisions": AccountBatch(decisions)}


@register_node()
class GenerateTrades(_EngineNode):
    """Step 4: a trade plan for every account (needed=False where nothing is to be done)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            "snapshots": _param("snapshots", "AccountBatch of snapshots", required=True),
            "drift": _param("drift", "AccountBatch of drift reports", required=True),
            "decisions": _param("decisions", "AccountBatch of decisions", required=True),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:
        snapshots: AccountBatch = kwargs["snapshots"]
        drift: AccountBatch = kwargs["drift"]
        decisions: AccountBatch = kwargs["decisions"]
        with cyclic_gc_paused():
            plans = {
                account_id: generate_trades(s, drift.items[account_id], decision=decisions.items[account_id])
                for account_id, s in snapshots.items.items()
            }
        return {"plans": AccountBatch(plans)}


STEPS = (
    ("FetchPortfolio", "fetch_portfolio"),
    ("CalculateDrift", "calculate_drift"),
    ("RebalanceDecision", "decide"),
    ("GenerateTrades", "generate_trades"),
)


def build_rebalancing_workflow() -> Any:
    """The four nodes wired in a line; the batches flow along named ports."""
    builder = WorkflowBuilder()
    for node_type, node_id in STEPS:
        builder.add_node(node_type, node_id, {})
    builder.add_connection("fetch_portfolio", "snapshots", "calculate_drift", "snapshots")
    for port in ("snapshots", "drift"):
        builder.add_connection("calculate_drift", port, "decide", port)
    for port in ("snapshots", "drift", "decisions"):
        builder.add_connection("decide", port, "generate_trades", port)
    return builder.build(workflow_id="rebalancing", name="Rebalancing")


@cache
def _workflow() -> Any:
    return build_rebalancing_workflow()


class RebalancingWorkflowError(RuntimeError):
    """The workflow run failed (a node raised); the cause is chained."""


def run_rebalancing_workflow(
    *,
    snapshots: Mapping[AccountId, AccountSnapshot] | Iterable[AccountSnapshot],
    as_of: date | None = None,
) -> dict[AccountId, TradePlan]:
    """Run the four steps for one chunk of accounts and return a plan per account.

    The caller hands the snapshots (read by `portfolios.selectors.engine_snapshots`, or built
    in memory); no database is needed. `as_of` is accepted for the callers' symmetry: each
    snapshot carries its own date. Plans of accounts needing no trades have `needed=False`.
    Nothing is written.
    """
    # Every value handed to the runtime is small or opaque: the runtime writes each node's inputs
    # and outputs into an audit trail, as JSON or else as str(value)[:1000] — and str() of a
    # list of 1,000 snapshots formats all of them (it was half the time of a run) before cutting.
    parameters: dict[str, Any] = {"fetch_portfolio": {"snapshots": _batch(snapshots)}}
    # A runtime per run: it is cheap next to a chunk, and runs in different threads (a
    # page's button, a worker) then share nothing.
    # The collector is paused over the whole run, not only inside each node: resumed between
    # nodes, its first young-generation pass would walk everything the node just allocated.
    with cyclic_gc_paused(), quiet_runtime() as runtime:
        try:
            results, _ = runtime.execute(_workflow(), parameters=parameters)
        except Exception as exc:  # the runtime wraps a node's error; keep the cause readable
            raise RebalancingWorkflowError(f"The rebalancing workflow failed: {exc}") from exc
    outputs = results.get("generate_trades") or {}
    if not isinstance(outputs.get("plans"), AccountBatch):
        raise RebalancingWorkflowError(f"The rebalancing workflow returned no plans: {results}")
    plans: dict[AccountId, TradePlan] = outputs["plans"].items
    return plans
