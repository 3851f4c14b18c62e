"""The admin API: grants and bans, strict input, admin-only access, audit, OpenAPI truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from entitlements import db
from entitlements.models import Account, AuditEvent, Ban, Grant
from tests.conftest import T0, FakeClock, Keys
from tests.factories import add_subscription, grant
from tests.functional.test_openapi import _check
from tests.support.responses import json_object

READ = "entitlements:read"
UNTIL = "2026-06-30T00:00:00Z"


def iso(delta: timedelta = timedelta(0)) -> str:
    return (T0 + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class Admin:
    """An admin API client with a key named `ops` (audit actor `key:ops`)."""

    def __init__(self, app: Flask, name: str = "ops") -> None:
        self.app = app
        self.client = app.test_client()
        keys = Keys(app)
        self.headers = {"Authorization": f"Bearer {keys.make('admin', name=name)}"}
        self.read = keys.header(READ)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/v1/admin{path}", headers=self.headers, query_string=params)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(f"/v1/admin{path}", json=body, headers=headers, **kwargs)

    def check(self, account_id: str) -> Any:
        return self.client.get(f"/v1/accounts/{account_id}/entitlements", headers=self.read).json

    def audit(self, action: str) -> list[AuditEvent]:
        with self.app.app_context():
            query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            return list(db.session().scalars(query))

    def count(self, model: Any) -> int:
        with self.app.app_context():
            return int(db.session().scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app whose grandfather period is still running at T0."""
    return make_app(GRANDFATHER_UNTIL=UNTIL)


@pytest.fixture
def admin(app: Flask) -> Admin:
    return Admin(app)


ENDPOINTS = [
    ("post", "/grants"),
    ("post", "/grants/1/extend"),
    ("post", "/grants/1/revoke"),
    ("get", "/grants?account_id=r"),
    ("post", "/bans"),
    ("post", "/bans/1/extend"),
    ("post", "/bans/1/lift"),
    ("get", "/bans?account_id=r"),
    ("post", "/grandfather/import"),
    ("get", "/accounts?q=r"),
    ("get", "/accounts/r"),
    ("get", "/audit"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_admin_endpoint_needs_a_key_with_the_admin_scope(
    client: FlaskClient, keys: Keys, method: str, path: str
) -> None:
    call = getattr(client, method)
    anonymous = call(f"/v1/admin{path}")
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/problem+json"
    unknown = call(f"/v1/admin{path}", headers={"Authorization": "Bearer ent_sk_nope"})
    assert unknown.status_code == 401
    reader = call(f"/v1/admin{path}", headers=keys.header(READ, "tokens:issue"))
    assert reader.status_code == 403
    assert reader.json["scope"] == "admin"


# ---- grants ------------------------------------------------------------------------------


def test_create_grant_answers_201_grants_the_feature_and_audits_the_admin_key(
    admin: Admin,
) -> None:
    response = admin.post(
        "/grants",
        {"account_id": "reader", "feature": "archive", "ends_at": iso(timedelta(days=30)),
         "reason": "press pass"},
        headers={"X-Request-Id": "req-42"},
    )
    assert response.status_code == 201
    body = response.json
    assert {k: body[k] for k in ("account_id", "feature", "kind", "ends_by_policy", "active")} == {
        "account_id": "reader", "feature": "archive", "kind": "comp", "ends_by_policy": False,
        "active": True,
    }
    assert body["starts_at"] == iso()
    assert body["ends_at"] == body["effective_ends_at"] == iso(timedelta(days=30))
    assert body["actor"] == "key:ops"
    assert admin.check("reader")["features"] == ["archive"]
    [event] = admin.audit("grant.add")
    assert (event.actor, event.request_id, event.reason) == ("key:ops", "req-42", "press pass")
    assert (event.subject_id, event.account_id) == (str(body["id"]), "reader")


def test_grandfather_grant_without_an_end_follows_the_policy_end(admin: Admin) -> None:
    body = admin.post(
        "/grants",
        {"account_id": "old-timer", "feature": "comment", "kind": "grandfather",
         "reason": "missed by the import"},
    ).json
    assert body["ends_by_policy"] is True
    assert body["ends_at"] is None
    assert body["effective_ends_at"] == UNTIL
    assert admin.check("old-timer")["sources"] == [
        {"feature": "comment", "source": "grandfather", "ends_at": UNTIL}
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"account_id": "r", "feature": "comment", "reason": "x", "actor": "me"}, "unknown field"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "id": 7}, "unknown field"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "revoked_at": None},
         "unknown field"),
        ({"feature": "comment", "reason": "x"}, "account_id is required"),
        ({"account_id": "bad id", "feature": "comment", "reason": "x"}, "account id must be"),
        ({"account_id": "r", "feature": "chess", "reason": "x"}, "feature must be one of"),
        ({"account_id": "r", "feature": "comment", "kind": "gift", "reason": "x"}, "kind must"),
        ({"account_id": "r", "feature": "comment", "kind": "", "reason": "x"}, "kind must"),
        ({"account_id": "r", "feature": "archive", "kind": "grandfather", "reason": "x"},
         "grandfather grant can only be of comment"),
        ({"account_id": "r", "feature": "comment"}, "reason is required"),
        ({"account_id": "r", "feature": "comment", "reason": "  "}, "a reason is required"),
        ({"account_id": "r", "feature": "comment", "reason": "x" * 2001}, "at most 2000"),
        # Counted before stripping, as the document's maxLength counts.
        ({"account_id": "r", "feature": "comment", "reason": "x" + " " * 2000}, "at most 2000"),
        ({"account_id": "r", "feature": "comment", "reason": 5}, "reason must be a string"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "ends_at": "soon"},
         "RFC 3339"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "ends_at": 1700000000},
         "RFC 3339"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_grant_bodies_are_400_and_write_nothing(
    admin: Admin, body: Any, message: str
) -> None:
    response = admin.post("/grants", body)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert message in response.json["detail"]
    assert admin.count(Grant) == admin.count(Account) == 0


def test_a_grant_ending_before_it_starts_fits_the_document_but_is_422(admin: Admin) -> None:
    body = {"account_id": "r", "feature": "comment", "reason": "x", "ends_at": iso()}
    response = admin.post("/grants", body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "after the start" in response.json["detail"]
    assert admin.count(Grant) == admin.count(Account) == 0


def test_a_grant_cannot_follow_a_grandfather_period_that_has_ended(
    make_app: Callable[..., Flask],
) -> None:
    late = Admin(make_app(GRANDFATHER_UNTIL="2025-02-28T00:00:00Z"))
    body = {"account_id": "r", "feature": "comment", "kind": "grandfather", "reason": "x"}
    response = late.post("/grants", body)
    assert response.status_code == 422
    assert "ended at 2025-02-28T00:00:00Z" in response.json["detail"]
    own_end = late.post("/grants", {**body, "ends_at": iso(timedelta(days=7))})
    assert own_end.status_code == 201
    assert own_end.json["ends_by_policy"] is False


def test_a_body_that_is_not_json_is_400(admin: Admin) -> None:
    response = admin.client.post(
        "/v1/admin/grants", data="account_id=r", headers=admin.headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400


def test_extending_a_policy_grant_gives_it_its_own_end_that_the_policy_no_longer_moves(
    make_app: Callable[..., Flask], admin: Admin
) -> None:
    grant_id = admin.post("/grants", {"account_id": "r", "feature": "comment",
                                      "kind": "grandfather", "reason": "past commenter"}).json["id"]
    other_id = admin.post("/grants", {"account_id": "s", "feature": "comment",
                                      "kind": "grandfather", "reason": "past commenter"}).json["id"]
    later = iso(timedelta(days=400))
    response = admin.post(f"/grants/{grant_id}/extend", {"ends_at": later, "reason": "moderator"})
    assert response.status_code == 200
    assert response.json["ends_by_policy"] is False
    assert response.json["effective_ends_at"] == later
    [event] = admin.audit("grant.extend")
    assert event.before is not None
    assert event.after is not None
    assert (event.before["ends_by_policy"], event.after["ends_by_policy"]) == (True, False)
    assert event.reason == "moderator"

    moved = Admin(make_app(GRANDFATHER_UNTIL="2026-09-30T00:00:00Z"), name="ops-2")
    assert moved.check("r")["sources"][0]["ends_at"] == later
    assert moved.check("s")["sources"][0]["ends_at"] == "2026-09-30T00:00:00Z"
    assert other_id != grant_id


def test_ending_one_grandfather_grant_early_removes_comment_then_and_only_for_that_account(
    admin: Admin, clock: FakeClock
) -> None:
    for account in ("early", "kept"):
        admin.post("/grants", {"account_id": account, "feature": "comment",
                               "kind": "grandfather", "reason": "past commenter"})
    [early] = admin.get("/grants", account_id="early").json["grants"]
    response = admin.post(f"/grants/{early['id']}/extend",
                          {"ends_at": iso(timedelta(hours=1)), "reason": "asked to leave"})
    assert response.status_code == 200
    assert admin.check("early")["valid_until"] == iso(timedelta(hours=1))
    clock.advance(hours=1)
    assert admin.check("early")["features"] == []
    assert admin.check("kept")["features"] == ["comment"]


def test_an_end_in_the_past_is_refused_and_an_end_of_now_ends_at_once(
    admin: Admin,
) -> None:
    grant_id = grant(admin.app, "r", "comment", now=T0 - timedelta(days=1))
    past = admin.post(f"/grants/{grant_id}/extend",
                      {"ends_at": iso(-timedelta(seconds=1)), "reason": "x"})
    assert past.status_code == 422  # fits the document; breaks a rule of time
    assert "revoke" in past.json["detail"]
    now = admin.post(f"/grants/{grant_id}/extend", {"ends_at": iso(), "reason": "x"})
    assert now.status_code == 200
    assert now.json["active"] is False
    assert admin.check("r")["features"] == []


def test_extend_needs_ends_at_and_null_means_no_end(admin: Admin) -> None:
    grant_id = grant(admin.app, "r", "archive", now=T0, ends_at=T0 + timedelta(days=1))
    missing = admin.post(f"/grants/{grant_id}/extend", {"reason": "x"})
    assert missing.status_code == 400
    assert "ends_at is required" in missing.json["detail"]
    forever = admin.post(f"/grants/{grant_id}/extend", {"ends_at": None, "reason": "x"})
    assert forever.json["effective_ends_at"] is None
    assert admin.check("r")["valid_until"] is None


def test_revoke_ends_a_grant_now_and_twice_is_409(admin: Admin) -> None:
    grant_id = grant(admin.app, "r", "archive", now=T0)
    response = admin.post(f"/grants/{grant_id}/revoke", {"reason": "left the press"})
    assert response.status_code == 200
    assert (response.json["revoked_at"], response.json["revoked_by"]) == (iso(), "key:ops")
    assert response.json["revoke_reason"] == "left the press"
    assert admin.check("r")["features"] == []
    again = admin.post(f"/grants/{grant_id}/revoke", {"reason": "again"})
    assert again.status_code == 409
    extend = admin.post(f"/grants/{grant_id}/extend", {"ends_at": None, "reason": "x"})
    assert extend.status_code == 409


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/grants/999/revoke", 404),
        ("/grants/abc/revoke", 400),
        ("/grants/0/revoke", 400),
        ("/grants/-1/revoke", 400),
        ("/grants/99999999999999999999/revoke", 400),
        ("/bans/999/lift", 404),
        ("/bans/1.5/lift", 400),
        ("/bans/9223372036854775808/lift", 400),
    ],
)
def test_unknown_ids_are_404_and_malformed_ids_400_never_500(
    admin: Admin, path: str, status: int
) -> None:
    response = admin.post(path, {"reason": "x"})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_list_grants_shows_every_grant_of_the_account_oldest_first(admin: Admin) -> None:
    first = grant(admin.app, "r", "archive", now=T0 - timedelta(days=9), ends_at=T0)
    second = grant(admin.app, "r", "comment", now=T0)
    grant(admin.app, "someone-else", "comment", now=T0)
    body = admin.get("/grants", account_id="r").json
    assert [(g["id"], g["active"]) for g in body["grants"]] == [(first, False), (second, True)]
    assert admin.get("/grants", account_id="nobody").json == {"grants": []}


@pytest.mark.parametrize(
    "params",
    [{}, {"account_id": "bad id"}, {"account_id": "r", "kind": "comp"}],
)
def test_list_filters_are_checked(admin: Admin, params: dict[str, str]) -> None:
    assert admin.get("/grants", **params).status_code == 400
    assert admin.get("/bans", **params).status_code == 400


# ---- bans --------------------------------------------------------------------------------


def test_a_ban_removes_only_comment_whatever_the_source(admin: Admin) -> None:
    add_subscription(admin.app, "r", now=T0)
    grant(admin.app, "r", "comment", now=T0, kind="grandfather", ends_by_policy=True)
    response = admin.post(
        "/bans", {"account_id": "r", "feature": "comment", "ends_at": iso(timedelta(days=3)),
                  "reason": "spam"},
    )
    assert response.status_code == 201
    assert (response.json["active"], response.json["actor"]) == (True, "key:ops")
    body = admin.check("r")
    assert body["features"] == ["ad_free", "archive", "digital_edition"]
    assert body["restrictions"] == [
        {
            "feature": "comment",
            "message": "Commenting is suspended until 2026-01-18 12:00 UTC.",
            "ends_at": iso(timedelta(days=3)),
        }
    ]
    assert admin.audit("ban.add")[0].actor == "key:ops"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"account_id": "r", "feature": "archive", "reason": "x"}, "only comment"),
        ({"account_id": "r", "feature": "comment", "reason": "x" * 2001}, "at most 2000"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "ends_at": iso()}, "future"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "lifted_at": None},
         "unknown field"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "public_message": "m" * 501},
         "public_message must be at most 500"),
        ({"account_id": "r", "feature": "comment", "reason": "x", "public_message": 7},
         "public_message must be a string"),
    ],
)
def test_bad_ban_bodies_are_400(admin: Admin, body: dict[str, Any], message: str) -> None:
    response = admin.post("/bans", body)
    # An end in the past fits the document but breaks a rule of time: 422, not 400.
    assert response.status_code == (422 if message == "future" else 400)
    assert message in response.json["detail"]
    assert admin.count(Ban) == 0


def test_a_ban_keeps_its_note_for_admins_and_its_public_message_for_readers(
    admin: Admin,
) -> None:
    body = {"account_id": "r", "feature": "comment", "reason": "ticket 4411: sock puppet",
            "public_message": "m" * 500}
    response = admin.post("/bans", body)
    assert response.status_code == 201
    assert (response.json["reason"], response.json["public_message"]) == (
        "ticket 4411: sock puppet", "m" * 500
    )
    [restriction] = admin.check("r")["restrictions"]
    assert restriction["message"] == "m" * 500
    assert "sock puppet" not in str(admin.check("r"))
    default = admin.post("/bans", {**body, "account_id": "s", "public_message": None})
    assert default.json["public_message"] == "Commenting is suspended."
    listed = admin.get("/bans", account_id="r").json["bans"]
    assert [b["reason"] for b in listed] == ["ticket 4411: sock puppet"]


def _ban(admin: Admin, days: int | None = 3) -> int:
    end = None if days is None else iso(timedelta(days=days))
    body = {"account_id": "r", "feature": "comment", "ends_at": end, "reason": "spam"}
    ban_id: int = admin.post("/bans", body).json["id"]
    return ban_id


def _token_version(app: Flask, account_id: str) -> int:
    with app.app_context():
        account = db.session().get(Account, account_id)
        assert account is not None
        return account.token_version


def test_extending_a_ban_moves_its_end_and_marks_earlier_answers_stale(admin: Admin) -> None:
    grant(admin.app, "r", "comment", now=T0)
    ban_id = _ban(admin)
    version = _token_version(admin.app, "r")
    longer = iso(timedelta(days=10))
    response = admin.post(f"/bans/{ban_id}/extend", {"ends_at": longer, "reason": "again"})
    assert response.status_code == 200
    assert response.json["ends_at"] == longer
    assert admin.check("r")["valid_until"] == longer
    assert _token_version(admin.app, "r") == version + 1
    [event] = admin.audit("ban.extend")
    assert event.before is not None
    assert event.after is not None
    assert (event.before["ends_at"], event.after["ends_at"]) == (iso(timedelta(days=3)), longer)
    permanent = admin.post(f"/bans/{ban_id}/extend", {"ends_at": None, "reason": "for good"})
    assert permanent.json["ends_at"] is None
    assert admin.check("r")["restrictions"][0]["ends_at"] is None


def test_a_ban_cannot_be_extended_into_the_past_or_after_it_was_lifted_or_ended(
    admin: Admin, clock: FakeClock
) -> None:
    ban_id = _ban(admin)
    past = admin.post(f"/bans/{ban_id}/extend", {"ends_at": iso(), "reason": "x"})
    assert past.status_code == 422  # fits the document; breaks a rule of time
    assert "lift" in past.json["detail"]
    assert admin.post(f"/bans/{ban_id}/extend", {"reason": "x"}).status_code == 400
    ended = _ban(admin, days=1)
    clock.advance(days=2)
    assert admin.post(f"/bans/{ended}/extend", {"ends_at": None, "reason": "x"}).status_code == 409
    lifted = admin.post(f"/bans/{ban_id}/lift", {"reason": "apologised"})
    assert lifted.status_code == 200
    assert (lifted.json["lifted_by"], lifted.json["lift_reason"]) == ("key:ops", "apologised")
    assert admin.post(f"/bans/{ban_id}/lift", {"reason": "x"}).status_code == 409
    assert admin.post(f"/bans/{ban_id}/extend", {"ends_at": None, "reason": "x"}).status_code == 409


def test_lifting_a_ban_restores_comment_and_list_shows_it_inactive(admin: Admin) -> None:
    grant(admin.app, "r", "comment", now=T0)
    ban_id = _ban(admin, days=None)
    assert admin.check("r")["features"] == []
    admin.post(f"/bans/{ban_id}/lift", {"reason": "appeal granted"})
    assert admin.check("r")["features"] == ["comment"]
    [row] = admin.get("/bans", account_id="r").json["bans"]
    assert (row["id"], row["active"], row["lifted_at"]) == (ban_id, False, iso())


# ---- the API as a whole ------------------------------------------------------------------


def test_no_admin_route_updates_or_deletes_audit_records(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/admin/audit"):
            assert rule.methods is not None
            assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}
        if rule.rule.startswith("/v1/admin"):
            assert not (rule.methods or set()) & {"PUT", "PATCH", "DELETE"}


def test_openapi_lists_every_admin_endpoint_with_schemas_and_the_admin_scope(
    client: FlaskClient,
) -> None:
    document = json_object(client.get("/openapi.json"))
    for method, path in ENDPOINTS:
        template = path.split("?")[0].replace("/1/", "/{grant_id}/", 1)
        if template.startswith("/bans/"):
            template = template.replace("{grant_id}", "{ban_id}")
        if template == "/accounts/r":
            template = "/accounts/{account_id}"
        operation = document["paths"][f"/v1/admin{template}"][method]
        assert operation["security"] == [{"serviceKey": ["admin"]}]
        assert operation["tags"] == ["admin"]
        if method == "post":
            assert operation["requestBody"]["required"] is True
    import_op = document["paths"]["/v1/admin/grandfather/import"]["post"]
    assert "text/csv" in import_op["requestBody"]["content"]
    assert {p["name"] for p in import_op["parameters"]} == {"commit", "dry_run", "skip_invalid"}
    audit = document["paths"]["/v1/admin/audit"]["get"]
    assert {p["name"] for p in audit["parameters"]} >= {"account_id", "actor", "since", "cursor"}


def test_real_admin_responses_validate_against_the_documented_schemas(admin: Admin) -> None:
    document = json_object(admin.client.get("/openapi.json"))
    add_subscription(admin.app, "r", now=T0)
    created = admin.post("/grants", {"account_id": "r", "feature": "comment",
                                     "kind": "grandfather", "reason": "x"})
    grant_id = created.json["id"]
    ban = admin.post("/bans", {"account_id": "r", "feature": "comment", "reason": "x"})
    csv = b"account_id,last_commented_at\nold,2023-01-01\nbad id,x\n"
    cases = [
        ("/grants", "post", created),
        ("/grants", "post", admin.post("/grants", {"account_id": "r"})),
        ("/grants", "post", admin.client.post("/v1/admin/grants")),
        ("/grants/{grant_id}/extend", "post",
         admin.post(f"/grants/{grant_id}/extend", {"ends_at": None, "reason": "x"})),
        ("/grants/{grant_id}/revoke", "post",
         admin.post(f"/grants/{grant_id}/revoke", {"reason": "x"})),
        ("/grants/{grant_id}/revoke", "post",
         admin.post(f"/grants/{grant_id}/revoke", {"reason": "x"})),
        ("/grants/{grant_id}/revoke", "post", admin.post("/grants/77/revoke", {"reason": "x"})),
        ("/grants", "get", admin.get("/grants", account_id="r")),
        ("/bans", "post", ban),
        ("/bans/{ban_id}/extend", "post",
         admin.post(f"/bans/{ban.json['id']}/extend", {"ends_at": None, "reason": "x"})),
        ("/bans/{ban_id}/lift", "post",
         admin.post(f"/bans/{ban.json['id']}/lift", {"reason": "x"})),
        ("/bans", "get", admin.get("/bans", account_id="r")),
        ("/accounts", "get", admin.get("/accounts", q="r")),
        ("/accounts/{account_id}", "get", admin.get("/accounts/r")),
        ("/accounts/{account_id}", "get", admin.get("/accounts/nobody")),
        ("/audit", "get", admin.get("/audit", limit="2")),
        ("/audit", "get", admin.get("/audit", since="yesterday")),
        ("/grandfather/import", "post",
         admin.post("/grandfather/import", data=csv, content_type="text/csv")),
        ("/grandfather/import", "post",
         admin.post("/grandfather/import?commit=true", data=csv, content_type="text/csv")),
        ("/grandfather/import", "post",
         admin.post("/grandfather/import?commit=true&skip_invalid=true", data=csv,
                    content_type="text/csv")),
        ("/grandfather/import", "post",
         admin.post("/grandfather/import?commit=true&skip_invalid=true", data=csv,
                    content_type="text/csv")),
        ("/grandfather/import", "post",
         admin.post("/grandfather/import", data=csv, content_type="application/json")),
    ]
    statuses = set()
    for path, method, response in cases:
        _check(document, f"/v1/admin{path}", method, response)
        statuses.add(response.status_code)
    assert statuses == {200, 201, 400, 401, 404, 409, 415, 422}
