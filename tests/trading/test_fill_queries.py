"""The statements one custodian fill webhook costs (signature checked, event recorded, order
locked, execution, journal entry and postings, balances, lots, wash sales, figures, the order's
status, events, and a history row for each change). Counted through the test client, so the
test's own transaction makes the webhook's outer `atomic()` a savepoint: two statements
(SAVEPOINT, RELEASE) that are BEGIN and COMMIT, not counted, in production."""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import system_user
from portfolios.figures import figures_stale
from portfolios.models import CashBalance, Position, TaxLot
from tests.trading.factories import account_with, fill, model_of, post
from trading import services
from trading.models import Order

pytestmark = pytest.mark.django_db

#: Statements per webhook, by case.
EXPECTED = {
    "partial buy": 27,
    "full buy": 28,
    "duplicate event": 4,
    "duplicate execution": 7,
    "buy before acknowledgement": 30,
    "partial sell": 31,
    "buy, modelled account": 28,  # the figures' records in one statement (portfolios.selectors.figures)
}


def _event(order, **fields):
    """A fill event for `order`, naming its order quantity as the custodian does."""
    return fill(order, order_quantity=str(order.quantity), **fields)


def _order(account, user, side="buy", quantity="10", security="AAPL", submitted=True):
    order = services.order_create(
        account=account, security=security, side=side, quantity=Decimal(quantity), acting_user=user, source="advisor"
    )
    return services.order_transition(order, "submitted", acting_user=user) if submitted else order


def _warm(client, account, user):
    """A first fill on the account: its firm's system books made, the read cache's lookups of
    the account and its books remembered (the state every later fill of the firm finds)."""
    order = _order(account, user, security="VTI", quantity="1")
    response = post(client, _event(order, event_id=f"warm-{account.pk}", execution_id=f"W{account.pk}", quantity="1"))
    assert response.json() == {"result": "applied"}


def _count(client, event):
    with CaptureQueriesContext(connection) as ctx:
        response = post(client, event)
    # What the fill wrote of the account's kept figures is what the records give.
    assert figures_stale() == []
    if os.environ.get("FILL_QUERIES_DUMP"):  # a directory: each webhook's statements, to read
        name = f"{event['id']}-{event['data']['execution_id']}-{len(ctx.captured_queries)}.sql"
        Path(os.environ["FILL_QUERIES_DUMP"], name).write_text("\n".join(q["sql"] for q in ctx.captured_queries))
    return response, len(ctx.captured_queries)


def test_a_fill_partial_full_and_duplicates_cost_a_fixed_number_of_statements(client, advisor_account, alice):
    _warm(client, advisor_account, alice.user)
    order = _order(advisor_account, alice.user)
    response, partial = _count(client, _event(order, event_id="e1", execution_id="X1", quantity="4"))
    assert response.json() == {"result": "applied"}
    response, full = _count(client, _event(order, event_id="e2", execution_id="X2", quantity="6"))
    assert response.json() == {"result": "applied"}
    response, duplicate = _count(client, _event(order, event_id="e2", execution_id="X2", quantity="6"))
    assert response.json() == {"result": "duplicate"}
    response, again = _count(client, _event(order, event_id="e3", execution_id="X2", quantity="6"))
    assert response.json() == {"result": "duplicate fill"}
    order.refresh_from_db()
    assert order.status == "filled" and order.filled_quantity == 10 and order.executions.count() == 2
    position = Position.objects.get(account=advisor_account, security__symbol="AAPL")
    cash = CashBalance.objects.get(account=advisor_account, currency="USD")
    assert position.quantity == 110
    # Each balance moved leaves its history row as before: the row's values, the system user
    # acting for the custodian, the ledger's reason.
    for row in (position, cash):
        kept = row.history.order_by("-history_id").first()
        assert (kept.history_type, kept.history_change_reason, kept.history_user) == (
            "~",
            "ledger: trade",
            system_user(),
        )
        assert {f: getattr(kept, f) for f in ("quantity", "amount", "updated_at") if hasattr(row, f)} == {
            f: getattr(row, f) for f in ("quantity", "amount", "updated_at") if hasattr(row, f)
        }
    counts = {"partial buy": partial, "full buy": full, "duplicate event": duplicate, "duplicate execution": again}
    assert counts == {k: EXPECTED[k] for k in counts}


def test_a_fill_before_the_acknowledgement_costs_its_two_steps(client, advisor_account, alice):
    _warm(client, advisor_account, alice.user)
    order = _order(advisor_account, alice.user, submitted=False)
    assert order.status == "approved"
    response, n = _count(client, _event(order, event_id="e1", execution_id="X1", quantity="10"))
    assert response.json() == {"result": "applied"}
    assert Order.objects.get(pk=order.pk).status == "filled"
    assert n == EXPECTED["buy before acknowledgement"]


def test_a_sell_fill_relieves_lots_in_a_fixed_number_of_statements(client, advisor_account, alice):
    _warm(client, advisor_account, alice.user)
    order = _order(advisor_account, alice.user, side="sell", quantity="30")
    response, n = _count(client, _event(order, event_id="e1", execution_id="X1", quantity="10", price="90"))
    assert response.json() == {"result": "applied"}
    assert TaxLot.objects.get(account=advisor_account, security__symbol="AAPL").quantity == 90
    assert n == EXPECTED["partial sell"]


def test_a_fill_of_a_modelled_account_costs_its_model_reads(client, alice_household, securities, alice):
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    account = account_with(alice_household, cash="10000.00", positions=[("VTI", "30", "150")], model=model)
    _warm(client, account, alice.user)
    order = _order(account, alice.user, security="BND", quantity="20")
    response, n = _count(client, _event(order, event_id="e1", execution_id="X1", quantity="20", price="70"))
    assert response.json() == {"result": "applied"}
    assert n == EXPECTED["buy, modelled account"]
