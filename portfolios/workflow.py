"""The rebalancing workflow: the engine's four steps composed with the Kailash SDK.

    FetchPortfolio -> CalculateDrift -> RebalanceDecision -> GenerateTrades

Each node calls the pure engine (`portfolios.rebalancing`) for every account of a CHUNK
(hundreds to thousands of accounts), so the runtime's overhead (a few milliseconds a run) is
paid once per chunk, never once per account. The workflow only reads: it returns a
`TradePlan` per account, and storing proposals is the proposal service's job.

Between nodes the chunk travels as an `AccountBatch`, an opaque in-process container: the
runtime neither walks it (template resolution recurses into dicts and lists) nor serialises
it (its execution tracker stores only the batch's short repr).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from typing import Any

from kailash.nodes.base import Node, NodeParameter, register_node
from kailash.workflow.builder import WorkflowBuilder

from kronos.workflow_runtime import quiet_runtime
from portfolios.rebalancing import (
    AccountSnapshot,
    TradePlan,
    calculate_drift,
    decide,
    generate_trades,
)

AccountId = int | str
Fetcher = Callable[..., Mapping[AccountId, AccountSnapshot]]


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


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The engine allocates only acyclic objects (dataclasses of Decimals, tuples), but a chunk
    keeps hundreds of thousands of them alive, and the cyclic collector walking them costs about
    a third of the run. Reference counting still frees everything; the collector resumes after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def _default_fetcher(*, account_ids: list[AccountId], as_of: date | None = None) -> dict[AccountId, AccountSnapshot]:
    from portfolios.selectors import engine_snapshots  # imported late: the workflow runs without a DB too

    found = engine_snapshots(account_ids=[int(i) for i in account_ids], as_of=as_of)
    return dict[AccountId, AccountSnapshot](found.items())


@register_node()
class FetchPortfolio(_EngineNode):
    """Step 1: the snapshots of a chunk of accounts — given, or read in bulk by `fetcher`
    (default `portfolios.selectors.engine_snapshots(account_ids=..., as_of=...)`)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {
            "account_ids": _param("account_ids", "ids of the accounts of this chunk"),
            "as_of": _param("as_of", "the date to value at (default: latest prices)"),
            "snapshots": _param("snapshots", "pre-built AccountSnapshots (mapping by id, or an iterable)"),
            "fetcher": _param("fetcher", "callable(account_ids=, as_of=) -> {id: AccountSnapshot}"),
        }

    def run(self, **kwargs: Any) -> dict[str, Any]:
        snapshots = kwargs.get("snapshots")
        if snapshots is None:
            fetcher: Fetcher = kwargs.get("fetcher") or _default_fetcher
            snapshots = fetcher(account_ids=list(kwargs.get("account_ids") or ()), as_of=kwargs.get("as_of"))
        return {"snapshots": _batch(snapshots)}


@register_node()
class CalculateDrift(_EngineNode):
    """Step 2: the drift report of every account of the chunk."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return {"snapshots": _param("snapshots", "AccountBatch of snapshots", required=True)}

    def run(self, **kwargs: Any) -> dict[str, Any]:
        snapshots: AccountBatch = kwargs["snapshots"]
        with _cyclic_gc_paused():
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
        with _cyclic_gc_paused():
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
    account_ids: Iterable[AccountId] | None = None,
    snapshots: Mapping[AccountId, AccountSnapshot] | Iterable[AccountSnapshot] | None = None,
    as_of: date | None = None,
    fetcher: Fetcher | None = None,
) -> dict[AccountId, TradePlan]:
    """Run the four steps for one chunk of accounts and return a plan per account.

    Give `snapshots` (no database needed) or `account_ids` (read in bulk by `fetcher`,
    default `portfolios.selectors.engine_snapshots`). Plans of accounts needing no trades
    have `needed=False`. Nothing is written.
    """
    if snapshots is None and account_ids is None:
        raise ValueError("Give account_ids or snapshots.")
    # Every value handed to the runtime is small or opaque: the runtime writes each node's inputs
    # and outputs into an audit trail, as JSON or else as str(value)[:1000] — and str() of a
    # list of 1,000 snapshots formats all of them (it was half the time of a run) before cutting.
    parameters: dict[str, Any] = {
        "fetch_portfolio": {
            "account_ids": None if account_ids is None else list(account_ids),
            "as_of": as_of,
            "snapshots": None if snapshots is None else _batch(snapshots),
            "fetcher": fetcher,
        }
    }
    # A runtime per run: it is cheap next to a chunk, and runs in different threads (a
    # page's button, a worker) then share nothing.
    # The collector is paused over the whole run, not only inside each node: resumed between
    # nodes, its first young-generation pass would walk everything the node just allocated.
    with _cyclic_gc_paused(), quiet_runtime() as runtime:
        try:
            results, _ = runtime.execute(_workflow(), parameters=parameters)
        except Exception as exc:  # the runtime wraps a node's error; keep the cause readable
            raise RebalancingWorkflowError(f"The rebalancing workflow failed: {exc}") from exc
    outputs = results.get("generate_trades") or {}
    if not isinstance(outputs.get("plans"), AccountBatch):
        raise RebalancingWorkflowError(f"The rebalancing workflow returned no plans: {results}")
    plans: dict[AccountId, TradePlan] = outputs["plans"].items
    return plans
