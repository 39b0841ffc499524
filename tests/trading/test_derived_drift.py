"""A proposal whose drift rows follow from its inputs and trades keeps only those and derives the
rows again when read: the rows derived are the rows the plan had, to the last digit; plans whose
rows do not follow (a cash flow, a calendar rebalance, another currency's places, a plan without
its after-report) keep theirs."""

import json
import random
from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from bench.bench_engine import accounts
from portfolios.engine import BandMode, generate_trades
from tests.trading.factories import account_with, model_of
from trading.drift_documents import derived_drift, drift_rows
from trading.models import RebalanceProposal
from trading.services import proposal_create_for_accounts, proposal_documents, proposal_store
from trading.services.common import cents
from trading.services.proposal_documents import JsonText, drift_derivable

MONDAY = date(2025, 6, 2)


def _variety(count: int = 400) -> list:
    """The engine benchmark's drifted accounts, with their settings varied: commissions, a cash
    target, relative bands, fractional shares, a higher threshold."""
    rng = random.Random(11)
    out = []
    for snapshot in accounts(count, seed=5):
        out.append(
            replace(
                snapshot,
                commission_per_trade=rng.choice([Decimal(0), Decimal("4.95")]),
                cash_target=rng.choice([Decimal(0), Decimal("0.02")]),
                band_mode=rng.choice([BandMode.ABSOLUTE, BandMode.RELATIVE]),
                fractional_shares=rng.random() < 0.3,
                threshold=rng.choice([Decimal("0.02"), Decimal("0.05")]),
            )
        )
    return out


def _stored_trades(plan) -> list[SimpleNamespace]:
    """The plan's trades as ProposalTrade keeps them (amounts in cents)."""
    return [
        SimpleNamespace(symbol=t.symbol, side=t.side, quantity=t.quantity, estimated_amount=cents(t.estimated_amount))
        for t in plan.trades
    ]


def test_the_rows_derived_from_inputs_and_trades_are_the_plans_rows_to_the_last_digit():
    text = JsonText()
    derived = 0
    for snapshot in _variety():
        plan = generate_trades(snapshot)
        if not plan.needed:
            continue
        assert drift_derivable(snapshot, plan)
        inputs = json.loads(text.inputs(snapshot, Decimal(0), derived=True))
        assert inputs["drift"] == "derived"
        before, after = derived_drift(inputs, _stored_trades(plan))
        assert before == drift_rows(plan.drift_before) == json.loads(text.drift(plan.drift_before))
        assert after == drift_rows(plan.drift_after) == json.loads(text.drift(plan.drift_after))
        derived += 1
    assert derived > 200  # most of the drifted book trades


def test_a_plan_whose_rows_do_not_follow_from_its_inputs_keeps_them():
    snapshot = next(s for s in _variety(50) if generate_trades(s).needed)
    plan = generate_trades(snapshot)
    assert drift_derivable(snapshot, plan)
    withdrawal = replace(snapshot, external_flow=Decimal("-1000"))
    assert not drift_derivable(withdrawal, generate_trades(withdrawal))
    calendar = replace(snapshot, schedule="monthly", as_of=MONDAY)  # the first business day of June
    assert not drift_derivable(calendar, generate_trades(calendar))
    assert drift_derivable(replace(calendar, as_of=date(2025, 6, 3)), plan)
    assert not drift_derivable(replace(snapshot, money_places=0), plan)
    assert not drift_derivable(snapshot, replace(plan, drift_after=None))
    substitute = replace(plan, trades=(*plan.trades, replace(plan.trades[0], symbol="NOT-HELD")))
    assert not drift_derivable(snapshot, substitute)


@pytest.mark.django_db
def test_a_stored_proposal_keeps_no_rows_and_shows_the_same_rows_as_one_that_keeps_them(
    alice_household, alice, securities, monkeypatch, api, verified_client
):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    positions = [("AAPL", "100", "100"), ("BND", "20", "70")]
    compact = account_with(alice_household, cash="1000.00", positions=positions, model=model)
    kept = account_with(alice_household, cash="1000.00", positions=positions, model=model)
    (derived,) = proposal_create_for_accounts(account_ids=[compact.pk], acting_user=alice.user)
    monkeypatch.setattr(proposal_store, "drift_derivable", lambda snapshot, plan: False)
    (stored,) = proposal_create_for_accounts(account_ids=[kept.pk], acting_user=alice.user)
    monkeypatch.undo()

    row = RebalanceProposal.objects.values("inputs_ref__document", "drift_before", "drift_after").get(pk=derived.pk)
    assert row["drift_before"] == [] and row["drift_after"] == [] and row["inputs_ref__document"]["drift"] == "derived"
    assert RebalanceProposal.objects.get(pk=stored.pk).drift_before  # the other keeps its rows

    client = api(alice.user, "read")
    shown = {p.pk: client.get(f"/api/v1/rebalance-proposals/{p.pk}/").json() for p in (derived, stored)}
    assert shown[derived.pk]["drift_before"] == shown[stored.pk]["drift_before"]
    assert shown[derived.pk]["drift_after"] == shown[stored.pk]["drift_after"]
    before = {r["symbol"]: r for r in shown[derived.pk]["drift_before"]}
    assert list(before) == ["AAPL", "BND", "CASH"]
    assert before["AAPL"]["breached"] is True  # 15,000 of 17,400: 86.2% against 50%
    assert all(not r["breached"] for r in shown[derived.pk]["drift_after"])
    browser = verified_client(alice.user)
    tables = [_drift_table(browser.get(f"/proposals/{p.pk}/").content.decode()) for p in (derived, stored)]
    assert tables[0] == tables[1] and tables[0].count('class="breach"') == 3  # AAPL over; BND and CASH (5.75%) out
    assert "AAPL" in tables[0] and "CASH" in tables[0]


def _drift_table(page: str) -> str:
    start = page.index("<h2>Drift</h2>")
    return page[start : page.index("</table>", start)]


def test_documents_module_names_what_it_exports():
    assert {"DRIFT_DERIVED", "drift_derivable", "drift_rows"} <= set(proposal_documents.__all__)
