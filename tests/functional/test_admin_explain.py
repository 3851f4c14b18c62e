"""Admin reads: explain one account, search accounts, and query the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from entitlements import db
from entitlements.models import Account
from tests.conftest import T0, FakeClock
from tests.factories import add_subscription, ban, grant
from tests.functional.test_admin_api import UNTIL, Admin, iso

FEATURES = ["comment", "ad_free", "digital_edition", "archive"]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app whose grandfather period is still running at T0."""
    return make_app(GRANDFATHER_UNTIL=UNTIL)


@pytest.fixture
def admin(app: Flask) -> Admin:
    return Admin(app)


def _feature(body: dict[str, Any], name: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [f for f in body["features"] if f["feature"] == name]
    [entry] = entries
    return entry


# ---- explain -----------------------------------------------------------------------------


def test_explain_lists_every_feature_with_its_sources_bans_windows_and_the_answer(
    admin: Admin,
) -> None:
    app = admin.app
    sub_id = add_subscription(app, "r", now=T0, cancel_at_period_end=True)
    admin.post("/grants", {"account_id": "r", "feature": "comment", "kind": "grandfather",
                           "reason": "past commenter"})
    old = grant(app, "r", "archive", now=T0 - timedelta(days=10), ends_at=T0 - timedelta(days=1))
    ban_id = ban(app, "r", now=T0, ends_at=T0 + timedelta(days=3), reason="spam")

    body = admin.get("/accounts/r").json
    assert body["account_id"] == "r"
    assert body["now"] == iso()
    assert body["answer"] == admin.check("r")
    assert [f["feature"] for f in body["features"]] == FEATURES
    assert {f["feature"]: f["held"] for f in body["features"]} == {
        "comment": False, "ad_free": True, "digital_edition": True, "archive": True,
    }
    period_end = iso(timedelta(days=29))
    comment = _feature(body, "comment")
    assert comment["sources"] == [
        {"kind": "subscription", "ref": sub_id, "starts_at": None, "ends_at": period_end,
         "active": True, "state": "active", "detail": "Stripe status active, cancels at "
         "period end", "ends_by_policy": False},
        {"kind": "grandfather", "ref": comment["sources"][1]["ref"], "starts_at": iso(),
         "ends_at": UNTIL, "active": True, "state": "active", "detail": "past commenter",
         "ends_by_policy": True},
    ]
    assert comment["restrictions"] == [
        {"ref": f"ban:{ban_id}", "reason": "spam",
         "public_message": "Commenting is suspended until 2026-01-18 12:00 UTC.",
         "starts_at": iso(),
         "ends_at": iso(timedelta(days=3)), "active": True, "state": "active"}
    ]
    archive = _feature(body, "archive")
    assert [(s["ref"], s["state"]) for s in archive["sources"]] == [
        (sub_id, "active"), (f"grant:{old}", "ended"),
    ]
    assert _feature(body, "ad_free")["restrictions"] == []
    assert body["subscriptions"] == [{
        "id": sub_id, "status": "active", "plan": "plus",
        "current_period_start": iso(-timedelta(days=1)), "current_period_end": period_end,
        "cancel_at_period_end": True, "entitles_until": period_end, "entitles": True,
    }]


def test_explain_timeline_is_time_ordered_with_facts_audit_records_and_future_ends(
    admin: Admin,
) -> None:
    grant(admin.app, "r", "archive", now=T0 - timedelta(days=2), ends_at=T0 + timedelta(days=5))
    admin.post("/bans", {"account_id": "r", "feature": "comment",
                         "ends_at": iso(timedelta(days=3)), "reason": "spam"})
    timeline = admin.get("/accounts/r").json["timeline"]
    assert [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
    events = [(t["event"], t["future"]) for t in timeline]
    assert events == [
        ("grant.starts", False),
        ("grant.add", False),
        ("ban.starts", False),
        ("ban.add", False),
        ("ban.ends", True),
        ("grant.ends", True),
    ]
    [ban_add] = [t for t in timeline if t["event"] == "ban.add"]
    assert (ban_add["kind"], ban_add["actor"], ban_add["reason"]) == ("audit", "key:ops", "spam")


def test_explain_shows_revoked_and_lifted_as_such(admin: Admin, clock: FakeClock) -> None:
    grant_id = grant(admin.app, "r", "comment", now=T0)
    ban_id = ban(admin.app, "r", now=T0)
    clock.advance(hours=1)
    admin.post(f"/grants/{grant_id}/revoke", {"reason": "mistake"})
    admin.post(f"/bans/{ban_id}/lift", {"reason": "appeal"})
    comment = _feature(admin.get("/accounts/r").json, "comment")
    assert [(s["state"], s["ends_at"]) for s in comment["sources"]] == [
        ("revoked", iso(timedelta(hours=1)))
    ]
    assert [(r["state"], r["active"]) for r in comment["restrictions"]] == [("lifted", False)]


def test_a_grandfathered_reader_who_subscribes_keeps_comment_after_the_subscription_ends(
    admin: Admin, clock: FakeClock
) -> None:
    admin.post("/grants", {"account_id": "r", "feature": "comment", "kind": "grandfather",
                           "reason": "past commenter"})
    add_subscription(admin.app, "r", now=T0, cancel_at_period_end=True)
    during = _feature(admin.get("/accounts/r").json, "comment")
    assert [(s["kind"], s["active"]) for s in during["sources"]] == [
        ("subscription", True), ("grandfather", True),
    ]
    clock.now = T0 + timedelta(days=30)  # the paid period ended a day ago
    after = admin.check("r")
    assert after["features"] == ["comment"]
    assert after["sources"] == [{"feature": "comment", "source": "grandfather", "ends_at": UNTIL}]
    explained = _feature(admin.get("/accounts/r").json, "comment")
    assert [(s["kind"], s["state"]) for s in explained["sources"]] == [
        ("subscription", "ended"), ("grandfather", "active"),
    ]
    clock.now = T0.replace(year=2026, month=6, day=30, hour=0)
    assert admin.check("r")["features"] == []


def test_explain_of_an_unknown_account_is_404_and_of_a_malformed_id_400(admin: Admin) -> None:
    assert admin.get("/accounts/nobody").status_code == 404
    assert admin.get("/accounts/bad id").status_code == 400
    assert admin.get("/accounts/r", verbose="1").status_code == 400


# ---- account search ----------------------------------------------------------------------


def _accounts(admin: Admin, **params: Any) -> list[str]:
    response = admin.get("/accounts", **params)
    assert response.status_code == 200, response.json
    return [a["id"] for a in response.json["accounts"]]


def test_search_finds_accounts_by_id_substring_and_by_stripe_customer_id(admin: Admin) -> None:
    for account in ("alice-1", "bob-2", "malice_3", "carol"):
        grant(admin.app, account, "archive", now=T0)
    add_subscription(admin.app, "payer", now=T0)  # customer id cus_payer
    with admin.app.app_context():
        carol = db.session().get(Account, "carol")
        assert carol is not None
        carol.stripe_customer_id = "cus_CAROL1"
        db.session().commit()
    assert _accounts(admin, q="lice") == ["alice-1", "malice_3"]
    assert _accounts(admin, q="cus_CAR") == ["carol"]
    assert _accounts(admin, q="cus_payer") == ["payer"]
    # LIKE wildcards in the query are literal characters.
    assert _accounts(admin, q="_") == ["malice_3"]
    assert _accounts(admin, q="%") == []
    assert _accounts(admin) == ["alice-1", "bob-2", "carol", "malice_3", "payer"]


def test_search_pages_through_results_with_the_cursor(admin: Admin) -> None:
    for i in range(5):
        grant(admin.app, f"reader-{i}", "archive", now=T0)
    first = admin.get("/accounts", q="reader", limit="2").json
    assert [a["id"] for a in first["accounts"]] == ["reader-0", "reader-1"]
    second = admin.get("/accounts", q="reader", limit="2", cursor=first["next_cursor"]).json
    assert [a["id"] for a in second["accounts"]] == ["reader-2", "reader-3"]
    last = admin.get("/accounts", q="reader", limit="2", cursor=second["next_cursor"]).json
    assert ([a["id"] for a in last["accounts"]], last["next_cursor"]) == (["reader-4"], None)


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"cursor": "bad id"},
     {"q": "x" * 256}, {"page": "2"}],
)
def test_bad_search_parameters_are_400(admin: Admin, params: dict[str, str]) -> None:
    response = admin.get("/accounts", **params)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


# ---- audit -------------------------------------------------------------------------------


def _seed_audit(admin: Admin, clock: FakeClock) -> None:
    """Five records over three days by two actors about two accounts."""
    grant(admin.app, "a", "archive", now=T0)  # actor test, T0
    clock.advance(days=1)
    admin.post("/grants", {"account_id": "a", "feature": "comment", "reason": "x"})
    admin.post("/bans", {"account_id": "b", "feature": "comment", "reason": "x"})
    clock.advance(days=1)
    admin.post("/grants", {"account_id": "b", "feature": "archive", "reason": "x"})
    admin.post("/bans", {"account_id": "a", "feature": "comment", "reason": "x"})


def _audit(admin: Admin, **params: Any) -> list[tuple[str, str | None]]:
    response = admin.get("/audit", **params)
    assert response.status_code == 200, response.json
    return [(e["action"], e["account_id"]) for e in response.json["events"]]


def test_audit_filters_combine_and_results_are_newest_first(
    admin: Admin, clock: FakeClock
) -> None:
    _seed_audit(admin, clock)
    assert _audit(admin, account_id="a") == [
        ("ban.add", "a"), ("grant.add", "a"), ("grant.add", "a"),
    ]
    assert _audit(admin, actor="key:ops", action="grant.add") == [
        ("grant.add", "b"), ("grant.add", "a"),
    ]
    assert _audit(admin, account_id="a", since=iso(timedelta(days=1)),
                  until=iso(timedelta(days=2))) == [("grant.add", "a")]
    assert _audit(admin, until=iso(timedelta(seconds=1)), action="grant.add") == [
        ("grant.add", "a"),
    ]
    assert _audit(admin, actor="key:nobody") == []
    event = admin.get("/audit", account_id="b", action="ban.add").json["events"][0]
    assert event["actor"] == "key:ops"
    assert event["after"]["reason"] == "x"
    assert event["subject_type"] == "ban"


def test_audit_pages_with_a_cursor_without_gaps_or_repeats(
    admin: Admin, clock: FakeClock
) -> None:
    _seed_audit(admin, clock)
    everything = admin.get("/audit", limit="500").json
    ids = [e["id"] for e in everything["events"]]
    assert ids == sorted(ids, reverse=True)
    assert everything["next_cursor"] is None
    seen: list[int] = []
    cursor = None
    for _ in range(len(ids)):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = admin.get("/audit", **params).json
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_an_audit_window_ending_before_it_starts_is_422(admin: Admin) -> None:
    response = admin.get("/audit", since="2026-01-02T00:00:00Z", until="2026-01-01T00:00:00Z")
    assert response.status_code == 422  # both fit the document; their order does not
    assert response.mimetype == "application/problem+json"
    assert "until must be after since" in response.json["detail"]


@pytest.mark.parametrize(
    "params",
    [{"since": "2026-01-01"}, {"until": "2026-01-01T00:00:00"}, {"since": "2026-W01"}],
)
def test_audit_times_must_be_rfc3339_as_the_document_says(
    admin: Admin, params: dict[str, str]
) -> None:
    response = admin.get("/audit", **params)
    assert response.status_code == 400
    assert "RFC 3339" in response.json["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "9" * 30},
        {"cursor": "abc"},
        {"cursor": "0"},
        {"action": "DROP TABLE"},
        {"account_id": "bad id"},
        {"actor": "x" * 256},
        {"subject": "grant"},
    ],
)
def test_bad_audit_filters_are_400(admin: Admin, params: dict[str, str]) -> None:
    response = admin.get("/audit", **params)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
