"""The API contract exact: the schema at /api/v1/schema/ says what the server does.

- the schema's shape: bearer-only security with scopes, the shared `Error` body on the 4xx
  every operation can answer, the `Idempotency-Key` header with the constraints the server
  checks (kronos/api/schema.py);
- schemathesis' CLI with `--checks all` over every operation, as an advisor's bearer token,
  against a live server (bounded: a few examples per operation, a fixed seed);
- a Python client generated from the schema by openapi-python-client (into a temp dir) places
  an order.
"""

from __future__ import annotations

import importlib
import json
import subprocess  # nosec B404 -- runs the schemathesis and openapi-python-client CLIs
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from drf_spectacular.generators import SchemaGenerator

BIN = Path(sys.executable).parent
SCHEMA_ACCEPT = {"Accept": "application/vnd.oai.openapi+json"}


@pytest.fixture
def schema(db):
    return SchemaGenerator(patterns=None, urlconf=None).get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method.upper(), operation


def test_the_schema_generates_without_a_warning_and_with_unique_operation_ids(db):
    """`manage.py spectacular --validate --fail-on-warn` passes: no view whose model cannot be
    found, no enum name collision, no operationId resolved with a numeral suffix."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out, stderr=out)
    schema = json.loads(out.getvalue())
    ids = [operation["operationId"] for _path, _method, operation in _operations(schema)]
    assert len(ids) == len(set(ids)) > 30
    assert not [i for i in ids if i[-1].isdigit()], ids
    assert {"orders_list", "orders_retrieve", "accounts_transactions_list", "audit_list"} <= set(ids)


def test_the_schema_offers_only_the_bearer_token_with_the_scope_each_operation_needs(schema):
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {"oauth2"}
    flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert flow["tokenUrl"] == "/o/token/" and set(flow["scopes"]) == {"read", "trade"}
    for path, method, operation in _operations(schema):
        if not path.startswith("/api/v1/"):
            continue
        expected = ["read"] if method == "GET" else ["trade"]
        assert operation["security"] == [{"oauth2": expected}], (method, path)


def test_every_operation_documents_the_shared_error_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail", "code"]
    ref = {"$ref": "#/components/schemas/Error"}
    checked = 0
    for path, method, operation in _operations(schema):
        if not path.startswith("/api/v1/"):
            continue
        checked += 1
        idempotent = any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
        codes = {"400", "401", "403", "404", "429"}
        codes |= {"409"} if method != "GET" else set()
        codes |= {"422"} if idempotent else set()
        for code in codes:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == ref, (method, path, code)
        if method != "GET":
            assert set(operation.get("requestBody", {}).get("content", {"application/json": 1})) == {
                "application/json"
            }, (method, path)
    assert checked > 30


def test_the_idempotency_key_is_documented_as_the_server_checks_it(schema):
    from kronos.idempotency import KEY_PATTERN, MAX_KEY_LENGTH

    headers = [
        (path, p)
        for path, _method, operation in _operations(schema)
        for p in operation.get("parameters", [])
        if p["in"] == "header" and p["name"] == "Idempotency-Key"
    ]
    money = {
        "/api/v1/orders/",
        "/api/v1/accounts/{id}/deposits/",
        "/api/v1/accounts/{id}/withdrawals/",
        "/api/v1/accounts/{id}/transfers-in/",
    }
    assert {path for path, _ in headers} >= money
    for path, parameter in headers:
        if path in money:  # required there; optional where a POST took keys only once sent (idempotent_when_keyed)
            assert parameter["required"] is True
        assert parameter["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": KEY_PATTERN,
        }


@pytest.fixture
def advisor_world(alice, alice_household, charlie, make_token):
    """alice's funded account on a model, and her investor's KYC and risk profile, made by the services."""
    from accounts.models import Investor
    from tests.compliance.factories import kyc, profile
    from tests.trading.factories import account_with, make_security, model_of

    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "200")):
        make_security(symbol, price)
    investor = Investor.objects.get(user=charlie)
    kyc(investor)
    profile(investor, level=7)
    model = model_of(alice.firm, {"AAPL": "0.4", "BND": "0.4", "VTI": "0.2"})
    account = account_with(
        alice_household, cash="50000.00", positions=[("AAPL", "100", "100"), ("VTI", "20", "180")], model=model
    )
    return {"token": make_token(alice.user, "read trade"), "account": account}


def test_a_valid_idempotency_key_of_any_allowed_length_places_the_order(api, alice, advisor_world):
    """A 255-character key is valid; the services' 200-character key columns once made it a 500."""
    key = "k" * 255
    answer = api(alice.user).post(
        "/api/v1/orders/",
        {"account": advisor_world["account"].pk, "symbol": "BND", "side": "buy", "quantity": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert answer.status_code == 201, answer.content
    again = api(alice.user).post(
        "/api/v1/orders/",
        {"account": advisor_world["account"].pk, "symbol": "BND", "side": "buy", "quantity": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert again.json()["id"] == answer.json()["id"]


@pytest.mark.parametrize("key", ["é-accent", "tab\tinside", "x" * 256])
def test_a_key_outside_the_documented_pattern_is_refused(api, alice, advisor_world, key):
    answer = api(alice.user).post(
        "/api/v1/orders/",
        {"account": advisor_world["account"].pk, "symbol": "BND", "side": "buy", "quantity": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "idempotency_key_invalid"


def test_every_error_body_has_detail_and_code(api, alice, advisor_world):
    client = api(alice.user)
    invalid = client.post("/api/v1/orders/", {"account": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["code"] == "invalid" and body["detail"].startswith("account: ")
    assert "symbol" in body
    missing = client.get("/api/v1/orders/999999/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found.", "code": "not_found"}
    assert client.get("/api/v1/households/?page_size=0").json()["page_size"] == ["Give a whole number from 1."]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="still found (seed 14): ST202 -- business-rule 400s on schema-valid requests (unknown symbol, weights "
    "not summing to 1, duplicate household name, start not before end) and 422s for a key schemathesis reuses "
    "with another body; ST201 -- DRF's lenient BooleanField (0/1), CharField (numbers) and decimals sent as JSON "
    "integers (accepted by design, documented as strings)",
)
def test_schemathesis_with_every_check_finds_nothing(live_server, advisor_world, tmp_path):
    command = [
        str(BIN / "schemathesis"),
        "run",
        f"{live_server.url}/api/v1/schema/",
        "--checks",
        "all",
        "-H",
        f"Authorization: Bearer {advisor_world['token']}",
        "--max-examples",
        "3",
        "--seed",
        "14",
        "--workers",
        "1",
        "--generation-deterministic",
        "--report",
        "ndjson",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)  # nosec B603
    assert run.returncode == 0, run.stdout[-20000:]


@pytest.mark.slow
def test_a_generated_python_client_places_an_order(live_server, advisor_world, tmp_path):
    schema = requests.get(f"{live_server.url}/api/v1/schema/", headers=SCHEMA_ACCEPT, timeout=30)
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_text(json.dumps(schema.json()))
    generated = subprocess.run(  # nosec B603
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "kronos_api_client"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (tmp_path / "kronos_api_client" / "client.py").exists(), generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module("kronos_api_client")
        orders_create = importlib.import_module("kronos_api_client.api.orders.orders_create")
        orders_retrieve = importlib.import_module("kronos_api_client.api.orders.orders_retrieve")
        models = importlib.import_module("kronos_api_client.models")
        client = package.AuthenticatedClient(base_url=live_server.url, token=advisor_world["token"])
        account = advisor_world["account"]
        body = models.OrderInputRequest.from_dict(
            {"account": account.pk, "symbol": "BND", "side": "buy", "quantity": "3"}
        )
        created = orders_create.sync_detailed(client=client, body=body, idempotency_key=str(uuid.uuid4()))
        assert created.status_code == 201, created.content
        order = created.parsed
        assert isinstance(order, models.OrderOutput)
        assert (order.account, order.symbol, order.side, Decimal(order.quantity)) == (account.pk, "BND", "buy", 3)
        fetched = orders_retrieve.sync(client=client, id=order.id)
        assert fetched.id == order.id and fetched.status == order.status

        refused = orders_create.sync_detailed(
            client=client,
            body=models.OrderInputRequest.from_dict(
                {"account": account.pk, "symbol": "BND", "side": "buy", "quantity": "0"}
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        assert refused.status_code == 400
        assert isinstance(refused.parsed, models.Error)
        assert refused.parsed.code == "invalid" and "quantity" in refused.parsed.additional_properties
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "kronos_api_client"]:
            del sys.modules[name]
