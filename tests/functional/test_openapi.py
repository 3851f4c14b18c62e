"""The OpenAPI document covers every route and is true to the responses actually sent."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock, Keys
from tests.factories import add_subscription, ban
from tests.support.responses import json_object

PATH = "/v1/accounts/{account_id}"


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # Carry the components beside the $ref so '#/components/...' resolves in the root.
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _check(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} sent undocumented {status}"
    content = operation["responses"][status].get("content", {})
    assert response.mimetype in content, f"{status} sent {response.mimetype}, documented {content}"
    schema = content[response.mimetype]["schema"]
    _validator(document, schema).validate(response.json)


def test_every_route_is_documented(app: Flask, client: FlaskClient) -> None:
    document = json_object(client.get("/openapi.json"))
    assert document["openapi"].startswith("3.1")
    documented = set(document["paths"])
    for rule in app.url_map.iter_rules():
        # HTML pages for readers and the admin console are not part of the JSON API.
        if rule.endpoint in {"static", "openapi.openapi_json"}:
            continue
        if rule.endpoint.startswith(("web.", "console.")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in documented, f"{rule.rule} is not in the OpenAPI document"


def test_documented_schemas_match_real_responses(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    document = json_object(client.get("/openapi.json"))
    add_subscription(app, "reader", now=clock.now)
    ban(app, "reader", now=clock.now, ends_at=clock.now + timedelta(days=1))
    read, issue = keys.header("entitlements:read"), keys.header("tokens:issue")
    cases = [
        ("/healthz", "get", client.get("/healthz")),
        ("/readyz", "get", client.get("/readyz")),
        ("/.well-known/jwks.json", "get", client.get("/.well-known/jwks.json")),
        (
            f"{PATH}/entitlements",
            "get",
            client.get("/v1/accounts/reader/entitlements", headers=read),
        ),
        (f"{PATH}/entitlements", "get", client.get("/v1/accounts/new/entitlements", headers=read)),
        (f"{PATH}/entitlements", "get", client.get("/v1/accounts/a b/entitlements", headers=read)),
        (f"{PATH}/entitlements", "get", client.get("/v1/accounts/x/entitlements")),
        (f"{PATH}/entitlements", "get", client.get("/v1/accounts/x/entitlements", headers=issue)),
        (f"{PATH}/tokens", "post", client.post("/v1/accounts/reader/tokens", headers=issue)),
        (
            f"{PATH}/tokens",
            "post",
            client.post("/v1/accounts/reader/tokens", headers=issue, json={"audience": "nope"}),
        ),
        (f"{PATH}/tokens", "post", client.post("/v1/accounts/reader/tokens")),
        (f"{PATH}/tokens", "post", client.post("/v1/accounts/reader/tokens", headers=read)),
    ]
    statuses = set()
    for path, method, response in cases:
        _check(document, path, method, response)
        statuses.add(response.status_code)
    assert statuses == {200, 201, 400, 401, 403}


def test_database_down_answer_is_documented(make_app: Any, keys: Keys) -> None:
    header = keys.header("entitlements:read")
    down = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none").test_client()
    document = down.get("/openapi.json").json
    _check(
        document,
        f"{PATH}/entitlements",
        "get",
        down.get("/v1/accounts/x/entitlements", headers=header),
    )
    _check(document, "/readyz", "get", down.get("/readyz"))
