"""GET /v1/accounts/{id}/entitlements: shape, statuses, and the database-down answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock, Keys
from tests.factories import add_subscription, ban, grant
from tests.support.responses import json_object

READ = "entitlements:read"
ISSUE = "tokens:issue"


def test_unknown_account_gets_the_empty_answer_in_the_same_shape(
    client: FlaskClient, keys: Keys
) -> None:
    response = client.get("/v1/accounts/nobody/entitlements", headers=keys.header(READ))
    assert response.status_code == 200
    assert response.json == {
        "account_id": "nobody",
        "features": [],
        "plan": None,
        "sources": [],
        "restrictions": [],
        "valid_until": None,
    }


def test_subscriber_gets_every_feature_with_sources_and_valid_until(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    add_subscription(app, "reader-1", now=clock.now, cancel_at_period_end=True)
    response = client.get("/v1/accounts/reader-1/entitlements", headers=keys.header(READ))
    body = json_object(response)
    assert response.status_code == 200
    assert body["features"] == ["ad_free", "archive", "comment", "digital_edition"]
    assert body["plan"] == "plus"
    end = "2026-02-13T12:00:00Z"  # period started a day before T0 and lasts 30 days
    assert body["sources"] == [
        {"feature": f, "source": "subscription", "ends_at": end}
        for f in ["ad_free", "archive", "comment", "digital_edition"]
    ]
    assert body["valid_until"] == end


def test_ban_shows_as_a_restriction_and_removes_only_comment(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    add_subscription(app, "reader-2", now=clock.now)
    ban(app, "reader-2", now=clock.now, ends_at=clock.now + timedelta(days=3), reason="spam")
    body = json_object(client.get("/v1/accounts/reader-2/entitlements", headers=keys.header(READ)))
    assert body["features"] == ["ad_free", "archive", "digital_edition"]
    assert body["restrictions"] == [
        {
            "feature": "comment",
            "message": "Commenting is suspended until 2026-01-18 12:00 UTC.",
            "ends_at": "2026-01-18T12:00:00Z",
        }
    ]
    assert body["valid_until"] == "2026-01-18T12:00:00Z"


def test_the_check_api_returns_a_bans_public_message_never_its_note(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    note = "INTERNAL: same person as reader-7, see ticket 4411"
    ban(app, "reader-2", now=clock.now, reason=note,
        public_message="  Commenting is paused while we review a report.  ")
    ban(app, "reader-3", now=clock.now, reason=note)
    ban(app, "reader-4", now=clock.now, reason=note, ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    answers = {
        account: client.get(f"/v1/accounts/{account}/entitlements", headers=keys.header(READ))
        for account in ("reader-2", "reader-3", "reader-4")
    }
    assert [json_object(a)["restrictions"][0]["message"] for a in answers.values()] == [
        "Commenting is paused while we review a report.",
        "Commenting is suspended.",
        "Commenting is suspended until 2026-03-01.",
    ]
    token = client.post("/v1/accounts/reader-2/tokens", headers=keys.header(ISSUE))
    assert token.status_code == 201
    claims = jwt.decode(json_object(token)["token"], options={"verify_signature": False})
    for text in [a.get_data(as_text=True) for a in answers.values()] + [str(claims)]:
        assert "INTERNAL" not in text


def test_answer_follows_the_clock_without_any_sweep(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    grant(
        app,
        "reader-3",
        "comment",
        now=clock.now,
        kind="grandfather",
        ends_at=clock.now + timedelta(days=1),
    )
    header = keys.header(READ)
    url = "/v1/accounts/reader-3/entitlements"
    assert json_object(client.get(url, headers=header))["features"] == ["comment"]
    clock.advance(days=1)
    assert json_object(client.get(url, headers=header))["features"] == []


@pytest.mark.parametrize("account_id", ["has space", "x" * 65, "semi;colon", "sl%2Fash", "ünïcode"])
def test_malformed_account_id_is_400_problem(
    client: FlaskClient, keys: Keys, account_id: str
) -> None:
    response = client.get(f"/v1/accounts/{account_id}/entitlements", headers=keys.header(READ))
    assert response.status_code in (400, 404)
    assert response.mimetype == "application/problem+json"
    if response.status_code == 400:
        assert "account id" in json_object(response)["detail"]


def test_malformed_account_id_is_exactly_400(client: FlaskClient, keys: Keys) -> None:
    response = client.get("/v1/accounts/bad id!/entitlements", headers=keys.header(READ))
    assert response.status_code == 400
    assert json_object(response)["status"] == 400


def test_sixty_four_characters_of_the_allowed_alphabet_are_accepted(
    client: FlaskClient, keys: Keys
) -> None:
    account_id = ("Az09_.:@-" * 8)[:64]
    response = client.get(f"/v1/accounts/{account_id}/entitlements", headers=keys.header(READ))
    assert response.status_code == 200
    assert json_object(response)["account_id"] == account_id


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic abc", "Bearer ent_sk_unknown", "Bearer not-a-key"],
)
def test_missing_or_unknown_key_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/v1/accounts/reader/entitlements", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_key_without_the_scope_is_403(client: FlaskClient, keys: Keys) -> None:
    response = client.get("/v1/accounts/reader/entitlements", headers=keys.header("tokens:issue"))
    assert response.status_code == 403
    assert json_object(response)["scope"] == READ


def test_revoked_key_fails_at_once(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    from entitlements import db
    from entitlements.services.audit import Actor
    from entitlements.services.service_keys import revoke_service_key

    key = keys.make(READ, name="comments")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/accounts/r/entitlements", headers=headers).status_code == 200
    with app.app_context():
        revoke_service_key(db.session(), "comments", actor=Actor("test"), now=clock.now)
        db.session().commit()
    assert client.get("/v1/accounts/r/entitlements", headers=headers).status_code == 401


def test_database_down_is_503_with_retry_after_never_a_false_no(
    make_app: Callable[..., Flask], app: Flask, keys: Keys
) -> None:
    header = keys.header(READ)
    # Port 1 on loopback refuses connections: the database "is down".
    down = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none").test_client()
    response = down.get("/v1/accounts/reader/entitlements", headers=header)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "application/problem+json"
    assert "features" not in json_object(response)
    assert down.get("/readyz").status_code == 503
    assert down.get("/healthz").status_code == 200


def test_readyz_is_200_when_the_database_answers(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}


def test_responses_carry_a_request_id(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id <x>"})
    assert generated.headers["X-Request-Id"] != "bad id <x>"
    assert len(generated.headers["X-Request-Id"]) == 16


def test_unknown_path_and_method_are_problem_json(client: FlaskClient) -> None:
    assert client.get("/nope").mimetype == "application/problem+json"
    response = client.delete("/v1/accounts/x/entitlements")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"


def test_moving_the_grandfather_end_moves_policy_grants_but_not_individual_ones(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(GRANDFATHER_UNTIL="2026-06-30T00:00:00Z")
    grant(app, "follows", "comment", now=clock.now, kind="grandfather", ends_by_policy=True)
    grant(app, "individual", "comment", now=clock.now, kind="grandfather",
          ends_at=clock.now + timedelta(days=10))
    header = Keys(app).header(READ)
    body = json_object(app.test_client().get("/v1/accounts/follows/entitlements", headers=header))
    assert body["valid_until"] == "2026-06-30T00:00:00Z"
    later = make_app(GRANDFATHER_UNTIL="2026-09-30T00:00:00Z").test_client()
    moved = json_object(later.get("/v1/accounts/follows/entitlements", headers=header))
    assert moved["sources"] == [
        {"feature": "comment", "source": "grandfather", "ends_at": "2026-09-30T00:00:00Z"}
    ]
    kept = json_object(later.get("/v1/accounts/individual/entitlements", headers=header))
    assert kept["valid_until"] == "2026-01-25T12:00:00Z"
