"""Property-based API tests with schemathesis against the project's own OpenAPI schema.

The schema is loaded from the Django WSGI app (/api/v1/schema/), every operation is called
with an advisor's bearer token (scopes read and trade) over a seeded world, and each response
must be no server error and conform to the documented schema. Half the generated cases point
their path id at a real object of the advisor (so the happy paths are exercised, not only 404s).

Bounded: MAX_EXAMPLES cases per operation, no deadline; marked slow (`make test-fast` skips it).
Every failing operation is reported at the end with its request, not only the first one.

A second pass (issue 12) sends schemathesis's *negative* cases — values the schema forbids:
wrong types, out-of-range numbers, missing fields, odd strings in query parameters — to every
operation, MAX_NEGATIVE_EXAMPLES each, and asks only that none is answered with a server error.
"""

from __future__ import annotations

import re
from decimal import Decimal

import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MAX_EXAMPLES = 20
MAX_NEGATIVE_EXAMPLES = 10

# The object a path id of an operation refers to, by path prefix (longest first).
ID_BY_PREFIX = (
    ("/api/v1/rebalance-proposals/", "proposal"),
    ("/api/v1/households/", "household"),
    ("/api/v1/investors/", "investor"),
    ("/api/v1/accounts/", "account"),
    ("/api/v1/orders/", "order"),
    ("/api/v1/models/", "model"),
)


@pytest.fixture
def seeded(db, alice, alice_household, charlie, make_token):
    """alice's funded account on a model, a proposal, an order, and her investor's KYC/profile."""
    from accounts.models import Investor
    from tests.compliance.factories import kyc, profile
    from tests.trading.factories import account_with, make_security, model_of
    from trading.services import order_create
    from trading.services.proposals import proposal_create_for_accounts

    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "200")):
        make_security(symbol, price)
    investor = Investor.objects.get(user=charlie)
    kyc(investor)
    profile(investor, level=7)
    model = model_of(alice.firm, {"AAPL": "0.4", "BND": "0.4", "VTI": "0.2"})
    account = account_with(
        alice_household, cash="50000.00", positions=[("AAPL", "100", "100"), ("VTI", "20", "180")], model=model
    )
    proposals = proposal_create_for_accounts(account_ids=[account.pk], acting_user=alice.user)
    order = order_create(
        account=account, security="BND", side="buy", quantity=Decimal("1"), acting_user=alice.user, source="api"
    )
    ids = {
        "household": alice_household.pk,
        "investor": investor.pk,
        "account": account.pk,
        "order": order.pk,
        "model": model.pk,
        "proposal": proposals[0].pk if proposals else None,
    }
    return {"token": make_token(alice.user, "read trade"), "ids": ids}


def _with_real_id(case, use_real: bool, ids: dict) -> None:
    if not use_real or not case.path_parameters:
        return
    path = case.operation.path
    for prefix, kind in ID_BY_PREFIX:
        if path.startswith(prefix) and ids.get(kind) is not None:
            name = re.search(r"\{(\w+)\}", path[len(prefix) - 1 :])
            if name and name.group(1) in case.path_parameters:
                case.path_parameters[name.group(1)] = ids[kind]
            return


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Django's WSGI handler closes the database connection after each request (as Django's own
    test client prevents): that would end the test's transaction, so not while this test runs."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_every_api_operation_answers_without_server_errors_and_as_documented(seeded):
    _run_every_operation(seeded, mode=schemathesis.GenerationMode.POSITIVE)


@pytest.mark.slow
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_no_operation_answers_invalid_input_with_a_server_error(seeded):
    _run_every_operation(seeded, mode=schemathesis.GenerationMode.NEGATIVE)


def _run_every_operation(seeded, *, mode) -> None:
    from kronos.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    failures: list[str] = []
    operations = 0
    documented = sum(
        1
        for item in schema.raw_schema["paths"].values()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        call = _property(operation, seeded["ids"], headers, mode=mode)
        try:
            call()
        except hypothesis.errors.Unsatisfiable:
            # Nothing in the request can be made invalid (e.g. GET /api/v1/me/, which takes no
            # parameter and only the bearer header): in the negative pass there is nothing to send.
            if mode != schemathesis.GenerationMode.NEGATIVE:
                failures.append(f"{operation.method.upper()} {operation.path}: no valid request could be made")
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 -- collect every failure, report all
            failures.append(f"{operation.method.upper()} {operation.path}:\n{_short(exc)}")
    assert operations > 10, "the schema lists too few operations"
    assert operations == documented, f"{documented - operations} documented operations were not exercised"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)


def _property(operation, ids: dict, headers: dict, *, mode):
    positive = mode == schemathesis.GenerationMode.POSITIVE
    checks = [not_a_server_error, response_schema_conformance] if positive else [not_a_server_error]

    @settings(
        max_examples=MAX_EXAMPLES if positive else MAX_NEGATIVE_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), use_real=st.booleans())
    def call(case, use_real):
        _with_real_id(case, use_real, ids)
        case.call_and_validate(headers=headers, checks=checks)

    return call


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return "\n".join("    " + line for line in text.splitlines()[:40])
