"""Proposal write path and order throughput paths: what is stored, what a rerun changes, and
that the query counts stay fixed as the number of accounts or orders grows."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.services import system_user
from tests.trading.factories import account_with, model_of
from trading.models import Order, OutboxMessage, ProposalTrade, RebalanceProposal
from trading.services import order_create, proposal_create_for_accounts
from trading.services.common import add_business_days

pytestmark = pytest.mark.django_db


def _buy(account, user, quantity="10", symbol="AAPL", key=None):
    return order_create(
        account=account,
        security=symbol,
        side="buy",
        quantity=Decimal(quantity),
        acting_user=user,
        source="job",
        idempotency_key=key,
    )


def test_it_does_not_propose_cash_that_open_buys_have_reserved(alice_household, alice, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    _buy(account, alice.user, quantity="20", symbol="AAPL")  # reserves 3,000.00 at 150
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    assert proposal.inputs["cash"] == "7000.00"
    assert proposal.inputs["reserved_for_open_buys"] == "3000.00"
    spent = sum(t.estimated_amount for t in proposal.trades.all() if t.side == "buy")
    assert 0 < spent <= Decimal("7000.00")


def test_it_stores_a_compact_inputs_snapshot_without_lots(alice_household, alice, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="1000.00", positions=[("AAPL", "100", "100")], model=model)
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    inputs = proposal.inputs
    assert inputs["holding_columns"] == ["symbol", "quantity", "price", "target_weight", "restricted"]
    rows = {row[0]: row for row in inputs["holdings"]}
    assert [Decimal(v) for v in rows["AAPL"][1:4]] == [Decimal(100), Decimal(150), Decimal("0.5")]
    assert "lots" not in str(inputs)
    assert inputs["settings"]["threshold"] and inputs["cash"] == "1000.00"
    assert proposal.drift_before_rows and {"symbol", "drift"} <= set(proposal.drift_before_rows[0])


def test_the_nightly_run_records_none_needed_slimly_and_a_rerun_writes_nothing(
    alice_household, alice, securities, django_assert_max_num_queries
):
    model = model_of(alice_household.firm, {"AAPL": "1"})
    inside = account_with(alice_household, positions=[("AAPL", "10", "100")], model=model)
    drifted = account_with(alice_household, cash="3000.00", model=model)
    system = system_user()
    stored = proposal_create_for_accounts(account_ids=[inside.pk, drifted.pk], acting_user=system, scheduled=True)
    by_account = {p.account_id: p for p in stored}
    slim = by_account[inside.pk]
    assert slim.needed is False and slim.drift_before == [] and slim.created_by == system
    assert slim.history.get().history_user == system  # attributable
    assert by_account[drifted.pk].needed is True and len(by_account[drifted.pk].trade_list) == 1
    assert not by_account[drifted.pk].trades.exists()  # the nightly scan's trades are packed, not rows
    with django_assert_max_num_queries(2):
        again = proposal_create_for_accounts(account_ids=[inside.pk, drifted.pk], acting_user=system, scheduled=True)
    assert {p.pk for p in again} == {p.pk for p in stored}


def test_a_night_that_plans_the_same_trades_leaves_the_open_proposal_standing(alice_household, securities):
    """Storage: a proposal is written only when it differs from the account's open one. The
    same orders planned again (prices moved, quantities did not) write nothing; different
    orders expire it and write the new one; the kept proposal still counts as tonight's."""
    from portfolios.models import Price

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    system = system_user()
    today = date.today()
    (first,) = proposal_create_for_accounts(
        account_ids=[account.pk], acting_user=system, as_of=today - timedelta(days=1), scheduled=True
    )
    rows = (RebalanceProposal.objects.count(), RebalanceProposal.history.count(), ProposalTrade.history.count())
    Price.objects.filter(security__symbol="AAPL").update(close=Decimal("150.01"))  # a cent: the same shares
    (second,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system, as_of=today, scheduled=True)
    assert second.pk == first.pk and second.status == "proposed"
    assert (RebalanceProposal.objects.count(), RebalanceProposal.history.count(), ProposalTrade.history.count()) == rows

    Price.objects.filter(security__symbol="AAPL").update(close=Decimal("120"))  # more shares for the money
    (third,) = proposal_create_for_accounts(
        account_ids=[account.pk], acting_user=system, as_of=today + timedelta(days=1), scheduled=True
    )
    first.refresh_from_db()
    assert third.pk != first.pk and first.status == "expired"
    assert {t.symbol: t.quantity for t in third.trade_list}["AAPL"] > {t.symbol: t.quantity for t in first.trade_list}[
        "AAPL"
    ]


def test_a_new_proposal_expires_the_open_one_with_history(alice_household, alice, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    (first,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    (second,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    first.refresh_from_db()
    assert first.status == "expired" and second.status == "proposed"
    # The expiry's record is the new proposal's '+' history row, which names what it superseded
    # (the same user, time and transaction): the expired one has no '~' row of its own.
    (created,) = second.history.all()
    assert (created.history_type, created.supersedes_id, created.history_user) == ("+", first.pk, alice.user)
    assert [h.history_type for h in first.history.all()] == ["+"]
    assert not hasattr(created, "inputs") and not hasattr(created, "as_of")  # history rows carry what moves
    # Two open at once (the second made open again by hand): the newest is named, the other
    # gets its '~' row.
    type(first).objects.filter(pk=first.pk).update(status="proposed")
    (third,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    assert third.supersedes_id == second.pk
    assert set(type(first).objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"expired"}
    latest = first.history.order_by("-history_id").first()
    assert (latest.history_type, latest.status, latest.history_change_reason) == ("~", "expired", "superseded")
    assert [h.history_type for h in second.history.all()] == ["+"]


def test_proposal_writes_take_fixed_queries_for_any_chunk(
    alice_household, alice, securities, django_assert_max_num_queries
):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    few = [account_with(alice_household, cash="5000.00", model=model).pk for _ in range(2)]
    many = [account_with(alice_household, cash="5000.00", model=model).pk for _ in range(12)]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        proposal_create_for_accounts(account_ids=few, acting_user=alice.user)
    with CaptureQueriesContext(connection) as large:
        proposal_create_for_accounts(account_ids=many, acting_user=alice.user)
    assert len(large.captured_queries) == len(small.captured_queries)
    assert RebalanceProposal.objects.filter(account_id__in=many).count() == 12
    assert ProposalTrade.objects.filter(proposal__account_id__in=many).count() == 24


def test_an_order_is_created_in_few_queries_with_one_history_row(advisor_account, alice, django_assert_max_num_queries):
    _buy(advisor_account, alice.user, key="warm")
    with django_assert_max_num_queries(10):  # 9, and one for its order.updated event
        order = _buy(advisor_account, alice.user, key="k1")
    assert order.status == "approved" and order.reserved_amount == Decimal("1500.00")
    (row,) = order.history.all()
    assert row.status == "approved" and row.history_user == alice.user
    assert OutboxMessage.objects.filter(order=order, status="pending").count() == 1


def test_the_relay_sends_a_batch_in_fixed_queries(advisor_account, alice, sandbox, django_assert_max_num_queries):
    orders = [_buy(advisor_account, alice.user, quantity="1", key=f"b{i}") for i in range(15)]
    custodian = sandbox.custodian()
    from trading.services import relay_outbox

    # 15 for 15 orders (one their order.updated events, one the securities held for a split); the same for 100
    with django_assert_max_num_queries(15):
        result = relay_outbox(custodian=custodian, acting_user=alice.user)
    assert result.sent == 15
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {"submitted"}
    assert sandbox.sandbox.order_count() == 15
    sandbox.deliver()
    assert Order.objects.filter(pk__in=[o.pk for o in orders], status="filled").count() == 15


def _no_fridays(day: date) -> bool:
    return day.weekday() < 4


def test_settlement_uses_the_configured_business_calendar(settings):
    assert add_business_days(date(2026, 1, 1), 1) == date(2026, 1, 2)  # Thursday -> Friday
    settings.TRADING_BUSINESS_CALENDAR = "tests.trading.test_services_proposals._no_fridays"
    assert add_business_days(date(2026, 1, 1), 1) == date(2026, 1, 5)  # Friday is a holiday


def _stored(account_ids):
    """What the proposal writes left for `account_ids`, without ids and times (account ids as positions)."""
    from trading.models import ProposalTrade as Trade

    order = {a: n for n, a in enumerate(account_ids)}
    skip = {"id", "account", "created_at", "run_key", "history_id", "history_date", "proposal", "supersedes"}

    def row(obj, account_id):
        values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name not in skip}
        return (order[account_id], sorted(values.items(), key=lambda kv: kv[0]).__repr__())

    proposals = RebalanceProposal.objects.filter(account_id__in=account_ids)
    return (
        sorted(row(p, p.account_id) + (p.run_key is not None,) for p in proposals),
        sorted(row(t, t.proposal.account_id) for t in Trade.objects.filter(proposal__in=proposals)),
        sorted(row(h, h.account_id) for h in RebalanceProposal.history.filter(account_id__in=account_ids)),
        sorted(
            row(h, RebalanceProposal.objects.get(pk=h.proposal_id).account_id)
            for h in Trade.history.filter(proposal_id__in=proposals.values("id"))
        ),
    )


def test_the_copy_path_stores_what_the_orm_path_stores(alice_household, alice, securities, monkeypatch):
    """On PostgreSQL the proposals, trades and history rows go in by COPY and INSERT ... SELECT;
    twin accounts written through the ORM (bulk_create_with_history) end up with the same rows."""
    from trading.services import proposal_store

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    system = system_user()

    def twins():
        return [
            account_with(alice_household, cash="10000.00", model=model),  # needs trades
            account_with(
                alice_household, cash="100.00", positions=[("AAPL", "10", "100"), ("BND", "21", "80")], model=model
            ),
            account_with(
                alice_household, cash="5000.00", positions=[("AAPL", "40", "200")], model=model
            ),  # sells at a loss
        ]

    orm, copy = [a.pk for a in twins()], [a.pk for a in twins()]
    today = date.today()
    for ids, use_copy in ((orm, False), (copy, True)):
        monkeypatch.setattr(proposal_store.bulk, "enabled", lambda use_copy=use_copy: use_copy)
        # The second night plans the same trades (its two open proposals stand; the slim record
        # of the account inside its bands is written again); the advisor's run expires both.
        for day in (today - timedelta(days=1), today):
            proposal_create_for_accounts(account_ids=ids, acting_user=system, as_of=day, scheduled=True)
        proposal_create_for_accounts(account_ids=ids, acting_user=alice.user, as_of=today)
    stored_orm, stored_copy = _stored(orm), _stored(copy)
    assert stored_orm == stored_copy
    superseding = [
        sorted(
            (ids.index(p.account_id), p.supersedes is not None and p.supersedes.account_id == p.account_id)
            for p in RebalanceProposal.objects.filter(account_id__in=ids)
        )
        for ids in (orm, copy)
    ]
    assert superseding[0] == superseding[1] and sum(named for _, named in superseding[1]) == 2
    # 7 proposals (3 + 1 + 3), 4 needing trades of 2 + 4 trades: the 2 nightly ones' packed in
    # their rows (compared above), the advisor's 2 as 4 rows; 2 expired, each named by the
    # proposal that superseded it: 7 history rows ('+'); no trade history: a trade's history
    # starts at its first change (proposal_store's docstring)
    assert [len(part) for part in stored_copy] == [7, 4, 7, 0]
    assert sum(len(p.trade_list) for p in RebalanceProposal.objects.filter(account_id__in=copy, needed=True)) == 8


def test_the_json_text_writer_writes_the_documents_the_dict_builders_make():
    """The COPY path writes inputs and drift rows as text; they parse to what `inputs_document` and
    `drift_rows` build, decimals included (exponents, negative zero, 28 digits)."""
    import json

    from portfolios import engine as rebalancing
    from trading.services.proposal_documents import JsonText, drift_rows, inputs_document

    odd = [
        Decimal("0E-27"),
        Decimal("-0.00"),
        Decimal("1E+2"),
        Decimal("1") / Decimal("7"),
        Decimal("1E-7"),
        Decimal(5),
    ]
    holdings = tuple(
        rebalancing.Holding(symbol=s, quantity=q, price=p, target_weight=w, restricted=r)
        for s, q, p, w, r in [
            ("AAPL", odd[0], odd[2], odd[3], False),
            ('O"DD\\', odd[4], odd[1], odd[5], True),
            ("BRK.B", Decimal("12.500000000"), Decimal("412.130000"), Decimal("0.065333"), False),
        ]
    )
    snapshot = rebalancing.AccountSnapshot(
        account_id=1,
        as_of=date(2026, 11, 16),
        currency="USD",
        cash=odd[3],
        holdings=holdings,
        cash_target=odd[4],
        threshold=odd[0],
        band_mode=rebalancing.BandMode.RELATIVE,
        fractional_shares=True,
        external_flow=odd[1],
    )
    report = rebalancing.calculate_drift(snapshot)
    text = JsonText()
    assert json.loads(text.inputs(snapshot, odd[2])) == inputs_document(snapshot, odd[2])
    assert json.loads(text.drift(report)) == drift_rows(report)
    assert json.loads(text.drift(None)) == drift_rows(None) == []
    # The two parts a proposal references join back into the same document (a shared sleeve's
    # band_share column and the derived-drift mark included).
    from dataclasses import replace

    from trading.drift_documents import join_inputs

    sleeve = replace(snapshot, holdings=(replace(holdings[0], band_share=Decimal("0.4")), *holdings[1:]))
    for case, derived in ((snapshot, False), (sleeve, True)):
        part = json.loads(text.account_part(case, odd[2], derived=derived))
        assert "as_of" not in part and all(row[2] is None for row in part["holdings"])
        joined = join_inputs(part, json.loads(text.prices(case.as_of, case.holdings)))
        assert joined == inputs_document(case, odd[2], derived=derived)
    assert json.loads(text.slim_inputs(snapshot)) == {
        "v": 1,
        "threshold": "0.000000000000000000000000000",
        "band_mode": "relative",
    }


def test_nights_that_plan_from_the_same_account_store_its_inputs_once(alice_household, alice, securities):
    """The scan's proposals reference their inputs: a second night with new prices and the same
    holdings writes a new proposal (its trades changed) that references the first night's
    account part and a new prices document, and reads back the whole document it planned from."""
    from portfolios.models import Price, Security
    from portfolios.selectors import engine_snapshots
    from trading.models import ProposalDocument
    from trading.services.proposal_documents import inputs_document

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", positions=[("AAPL", "10", "100")], model=model)
    system = system_user()
    day1 = date.today() - timedelta(days=1)
    day2 = date.today()
    (first,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system, as_of=day1, scheduled=True)
    aapl = Security.objects.get(symbol="AAPL")
    Price.objects.update_or_create(security=aapl, date=day2, defaults={"close": Decimal("121.5000")})
    documents = ProposalDocument.objects.count()
    (second,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system, as_of=day2, scheduled=True)

    assert first.pk != second.pk and first.needed and second.needed
    first.refresh_from_db()
    assert first.status == RebalanceProposal.Status.EXPIRED
    assert second.inputs_ref_id == first.inputs_ref_id  # the account's part, stored once
    assert second.prices_ref_id != first.prices_ref_id
    assert ProposalDocument.objects.count() == documents + 1  # only the night's prices are new
    assert first.inline_inputs == {} and RebalanceProposal.objects.get(pk=second.pk).inline_inputs == {}
    (snapshot,) = engine_snapshots(account_ids=[account.pk], as_of=day2).values()
    stored = RebalanceProposal.objects.select_related("inputs_ref", "prices_ref").get(pk=second.pk)
    assert stored.inputs == inputs_document(snapshot, Decimal(0), derived=True)
    holdings = {row[0]: row for row in stored.inputs["holdings"]}
    assert holdings["AAPL"][2] == "121.500000" and stored.inputs["as_of"] == day2.isoformat()
    assert RebalanceProposal.objects.get(pk=first.pk).inputs["as_of"] == day1.isoformat()


def test_a_chunks_proposals_share_one_prices_document_unless_a_snapshot_priced_a_symbol_otherwise():
    import json
    from types import SimpleNamespace

    from portfolios import engine as rebalancing
    from trading.drift_documents import join_inputs
    from trading.services.proposal_documents import JsonText, inputs_document
    from trading.services.proposal_store import _input_parts

    def snapshot(account_id, prices):
        holdings = tuple(
            rebalancing.Holding(symbol, Decimal(10), Decimal(price), Decimal("0.3")) for symbol, price in prices
        )
        return rebalancing.AccountSnapshot(account_id, date(2026, 12, 4), "USD", Decimal(100), holdings)

    snapshots = [
        snapshot(1, [("AAPL", "100"), ("BND", "70")]),
        snapshot(2, [("AAPL", "100"), ("MSFT", "300")]),
        snapshot(3, [("AAPL", "100.01")]),  # priced otherwise: a document of its own
        snapshot(4, [("BND", "70")]),  # needs nothing on a scheduled run: inline, no parts
    ]
    stored = [(s.account_id, SimpleNamespace(), s, s.account_id != 4) for s in snapshots]
    parts, documents = _input_parts(stored, text=JsonText(), reserved={}, derived=set(), scheduled=True)

    assert set(parts) == {1, 2, 3}
    assert parts[1][1] == parts[2][1] != parts[3][1]
    assert json.loads(documents[parts[1][1]])["prices"] == {"AAPL": "100", "BND": "70", "MSFT": "300"}
    for s in snapshots[:3]:
        account_part, prices = (json.loads(documents[key]) for key in parts[s.account_id])
        assert join_inputs(account_part, prices) == inputs_document(s, Decimal(0))


def test_a_proposed_trades_as_proposed_history_row_is_written_once(alice_household, securities):
    """Before a trade's first change its '+' row goes in as proposed; a second change finds it."""
    from trading.models import ProposalTrade
    from trading.services.proposal_store import trades_history_as_proposed

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user())
    trades = list(proposal.trades.select_related("proposal"))
    assert len(trades) == 2 and not ProposalTrade.history.exists()

    assert trades_history_as_proposed(trades) == 2
    assert trades_history_as_proposed(trades) == 0
    rows = ProposalTrade.history.order_by("id")
    assert [(h.id, h.history_type, h.quantity, h.history_date) for h in rows] == [
        (t.pk, "+", t.quantity, proposal.created_at) for t in sorted(trades, key=lambda t: t.pk)
    ]
