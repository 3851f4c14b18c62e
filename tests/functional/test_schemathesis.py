"""Schemathesis against `/openapi.json` of a production gunicorn server on PostgreSQL.

Every operation, with a valid key of the scope it needs, positive and negative data: no 5xx,
every answer documented and conforming, and the document exactly as strict as the server
(valid data accepted, invalid data rejected).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from devstripe import EmulatorServer
from entitlements.billing.signature import sign
from entitlements.migrate import upgrade
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.examples import examples
from tests.support.serve import cli, create_key, production_env, serve

SCOPES = ("admin", "entitlements:read", "tokens:issue")
# Hypothesis examples per operation and phase: 150 in the `ci` profile keeps the whole run
# near a minute on 2 cores; `full` draws 1 500.
MAX_EXAMPLES = examples(1.5)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
CASES: Counter[str] = Counter()

pytestmark = pytest.mark.slow


@dataclass
class Server:
    """A running production server, a service key for each scope and the webhook secret."""

    url: str
    webhook_secret: str
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`entitlements serve` in production mode with two workers on a fresh PostgreSQL database."""
    database_url = _create_postgres_database()
    emulator = EmulatorServer(port=0)
    emulator.start()
    try:
        upgrade(database_url)
        folder = tmp_path_factory.mktemp("schemathesis")
        # Signed events of a handled type make the handlers ask "Stripe": the emulator.
        env = production_env(
            database_url, folder / "instance", ENTITLEMENTS_STRIPE_API_BASE=emulator.url
        )
        cli(env, "signing-keys", "rotate")
        keys = {scope: create_key(env, f"fuzz-{n}", scope) for n, scope in enumerate(SCOPES)}
        with serve(env, folder, workers=2) as served:
            yield Server(served.url, env["ENTITLEMENTS_STRIPE_WEBHOOK_SECRET"], keys)
    finally:
        emulator.stop()
        _drop_postgres_database(database_url)


@pytest.fixture(scope="module")
def api_schema(server: Server) -> Any:
    """The server's own OpenAPI document, fuzzed with positive and negative data."""
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # Valid keys are always sent, so neither 401 nor 403 is an excuse; 404 and 409
                # depend on what exists; 422 is the documented "fits the document but breaks a
                # rule it cannot state" (an end in the past, CSV content).
                "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]},
                "negative_data_rejection": {
                    "expected-statuses": ["400", "401", "404", "413", "414", "415", "422"]
                },
            },
        }
    )
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32 reads `_nodeid`, which pytest 9 items no longer have."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def scope_of(case: Any) -> str | None:
    """Return the scope the case's operation names in its `security`, if any."""
    for requirement in case.operation.definition.raw.get("security", []):
        for scopes in requirement.values():
            return str(scopes[0])
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)
def test_every_operation_is_exactly_as_strict_as_its_document(case: Any, server: Server) -> None:
    CASES[case.operation.label] += 1
    # Credentials schemathesis generated are swapped for valid ones; a case that leaves them
    # out on purpose (negative: "missing Authorization") is sent without.
    sent = {name.lower() for name in case.headers or {}}
    if case.operation.path == "/v1/webhooks/stripe":
        # Signed as Stripe signs: the body alone decides between 2xx and a recorded 422.
        if case.body is NOT_SET:
            body = b""
        elif isinstance(case.body, bytes):  # a negative case: a body that is not JSON at all
            body = case.body
        else:
            body = json.dumps(case.body).encode()
        headers = {"Content-Type": "application/json"}
        if "stripe-signature" in sent:
            headers["Stripe-Signature"] = sign(body, server.webhook_secret, int(time.time()))
        response = requests.post(
            server.url + case.operation.path, data=body, headers=headers, timeout=30
        )
        case.validate_response(response, checks=CHECKS, headers=headers)
        return
    scope = scope_of(case)
    headers = {}
    if scope and "authorization" in sent:
        headers["Authorization"] = f"Bearer {server.keys[scope]}"
    case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)


def test_every_operation_of_the_document_was_exercised(server: Server) -> None:
    if not CASES:
        pytest.skip("counts the cases of the test above; run the module as a whole")
    document = requests.get(f"{server.url}/openapi.json", timeout=30).json()
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    assert set(CASES) == operations
    assert min(CASES.values()) >= 10, CASES
    # Seen with `pytest -s`: how much the run covered.
    sys.stderr.write(f"\nschemathesis: {len(CASES)} operations, {CASES.total()} cases\n")
