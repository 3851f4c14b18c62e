"""GET /v1/policy: what the comment service needs to apply the comment policy on its side."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.functional.test_openapi import _check
from tests.support.responses import json_object


def test_policy_answers_the_defaults_publicly_with_a_cache_header(
    make_app: Callable[..., Flask],
) -> None:
    # None drops the test suite's own grandfather end: the built-in default applies.
    response = make_app(GRANDFATHER_UNTIL=None).test_client().get("/v1/policy")
    assert response.status_code == 200
    assert response.json == {
        "comment_edit_window_seconds": 300,
        "grandfather_cutoff": "2024-02-29T00:00:00Z",
        "grandfather_until": "2025-02-28T00:00:00Z",
    }
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_policy_follows_the_configured_grandfather_period(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        GRANDFATHER_CUTOFF="2024-03-31T22:00:00+00:00", GRANDFATHER_UNTIL="2026-06-30T12:30:00Z"
    )
    body = json_object(app.test_client().get("/v1/policy"))
    assert body["grandfather_cutoff"] == "2024-03-31T22:00:00Z"
    assert body["grandfather_until"] == "2026-06-30T12:30:00Z"


def test_policy_needs_no_key_and_ignores_one(client: FlaskClient) -> None:
    response = client.get("/v1/policy", headers={"Authorization": "Bearer ent_sk_unknown"})
    assert response.status_code == 200


def test_policy_is_in_the_openapi_document_and_matches_it(client: FlaskClient) -> None:
    document = json_object(client.get("/openapi.json"))
    operation = document["paths"]["/v1/policy"]["get"]
    assert "security" not in operation
    _check(document, "/v1/policy", "get", client.get("/v1/policy"))
