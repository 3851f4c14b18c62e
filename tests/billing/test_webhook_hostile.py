"""Hostile webhook deliveries: odd signature headers, and signed events Stripe would never send."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from entitlements import db
from entitlements.billing.handlers import HANDLERS
from entitlements.billing.signature import sign
from entitlements.json_rules import MAX_DEPTH
from entitlements.models import StripeEvent, Subscription
from tests.billing.conftest import WEBHOOK_SECRET, StripeWorld
from tests.billing.test_reconcile import run
from tests.billing.test_webhooks import an_event, body_of, count

PATH = "/v1/webhooks/stripe"


def raw_post(world: StripeWorld, body: bytes, signature: bytes | None) -> tuple[int, str, Any]:
    """POST with the Stripe-Signature header as raw bytes (urllib would refuse non-Latin-1)."""
    url = urlsplit(world.app_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.putrequest("POST", PATH)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        if signature is not None:
            connection.putheader("Stripe-Signature", signature)
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
        return response.status, response.getheader("Content-Type") or "", json.loads(payload)
    finally:
        connection.close()


def signature_for(body: bytes) -> bytes:
    return sign(body, WEBHOOK_SECRET, int(time.time())).encode()


def an_event_dict(**changes: Any) -> dict[str, Any]:
    """A well-formed event about a subscription nobody knows, changed as a test needs."""
    event: dict[str, Any] = {
        "id": "evt_hostile",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "sub_hostile", "object": "subscription"}},
    }
    event.update(changes)
    return event


def stored(world: StripeWorld) -> list[StripeEvent]:
    with world.app.app_context():
        rows = list(db.session().scalars(select(StripeEvent)))
        db.session().expunge_all()
        return rows


# ---- 1. the Stripe-Signature header -------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "t={now},v1=\u00e9\u00e9",  # Latin-1 after the timestamp: reaches the comparison
        "t={now},v1=caf\u00e9" + "0" * 60,
        "t={now},v1={good}\u00e9",
        "t={now}\u00a0,v1={good}",
        "t=\u00b9\u00b2\u00b3,v1={good}",
        ",,,,",
        "=,=,=",
        "t=,v1=",
        "t={now},v1=",
        "t={now},t={now},v0={good}",
        "v1={good}",
        "t={now};v1={good}",
        "t=-{now},v1={good}",
        "t={now},v1=" + "a" * 7000,
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_non_ascii_or_malformed_signature_headers_are_400_never_500(
    stripe_world: StripeWorld, header: str, encoding: str
) -> None:
    body = json.dumps(an_event_dict()).encode()
    good = signature_for(body).decode().split("v1=")[1]
    value = header.format(now=int(time.time()), good=good).encode(encoding)
    status, content_type, problem = raw_post(stripe_world, body, value)
    assert status == 400, problem
    assert content_type == "application/problem+json"
    assert problem["status"] == 400
    assert "signature" in problem["detail"].lower()
    assert count(stripe_world, StripeEvent) == 0


# ---- 2. signed but malformed events -------------------------------------------------------

NOW = int(time.time())
MALFORMED: dict[str, tuple[bytes, str]] = {
    # case: (signed body, what last_error names)
    "data-string": (json.dumps(an_event_dict(data="x")).encode(), "data is not an object"),
    "data-null": (json.dumps(an_event_dict(data=None)).encode(), "data is not an object"),
    "data-list": (json.dumps(an_event_dict(data=[1])).encode(), "data is not an object"),
    "object-string": (
        json.dumps(an_event_dict(data={"object": "sub_1"})).encode(),
        "data.object is not an object",
    ),
    "object-without-id": (
        json.dumps(an_event_dict(data={"object": {"object": "subscription"}})).encode(),
        "data.object.id",
    ),
    "object-id-too-long": (
        json.dumps(an_event_dict(data={"object": {"id": "sub_" + "x" * 300}})).encode(),
        "data.object.id",
    ),
    "created-string": (json.dumps(an_event_dict(created="yesterday")).encode(), "created"),
    "created-numeric-string": (json.dumps(an_event_dict(created=str(NOW))).encode(), "created"),
    "created-negative": (json.dumps(an_event_dict(created=-5)).encode(), "created"),
    "created-zero": (json.dumps(an_event_dict(created=0)).encode(), "created"),
    "created-huge": (json.dumps(an_event_dict(created=10**30)).encode(), "created"),
    "created-beyond-json": (
        json.dumps(an_event_dict(created=1)).replace('"created": 1', '"created": 1e400').encode(),
        "created",
    ),
    "amount-beyond-json": (
        json.dumps(an_event_dict(data={"object": {"id": "sub_1", "amount": "BIG"}}))
        .replace('"BIG"', "1e400")
        .encode(),
        "event holds a number too large for JSON",
    ),
    "created-float": (json.dumps(an_event_dict(created=NOW + 0.5)).encode(), "created"),
    "created-bool": (json.dumps(an_event_dict(created=True)).encode(), "created"),
    "created-missing": (
        json.dumps({k: v for k, v in an_event_dict().items() if k != "created"}).encode(),
        "created",
    ),
    "type-missing": (
        json.dumps({k: v for k, v in an_event_dict().items() if k != "type"}).encode(),
        "type",
    ),
    "type-number": (json.dumps(an_event_dict(type=5)).encode(), "type"),
    "type-too-long": (json.dumps(an_event_dict(type="x" * 200)).encode(), "type"),
    "livemode-string": (json.dumps(an_event_dict(livemode="false")).encode(), "livemode"),
    "not-an-event": (json.dumps(an_event_dict(object="charge")).encode(), "object"),
    "nul-in-type": (json.dumps(an_event_dict(type="invoice.paid\x00")).encode(), "NUL"),
    "nul-deep": (
        json.dumps(
            an_event_dict(data={"object": {"id": "sub_1", "customer": "cus_\x00"}})
        ).encode(),
        "data.object.customer contains a NUL",
    ),
    "nul-in-key": (
        json.dumps(an_event_dict(data={"object": {"id": "sub_1", "k\x00": 1}})).encode(),
        "a field name in data.object contains a NUL",
    ),
    "lone-surrogate": (
        json.dumps(an_event_dict(data={"object": {"id": "sub_1", "name": "\ud800"}})).encode(),
        "lone surrogate",
    ),
    "too-deep": (
        json.dumps(an_event_dict(data={"object": {"id": "sub_1", "x": "DEEP"}}))
        .replace('"DEEP"', "[" * 30 + "]" * 30)
        .encode(),
        f"nested deeper than {MAX_DEPTH}",
    ),
}
# Malformed events whose id cannot be a row's id: recorded under a stand-in id.
STAND_IN: dict[str, tuple[bytes, str]] = {
    "id-missing": (
        json.dumps({k: v for k, v in an_event_dict().items() if k != "id"}).encode(),
        "id is not a string",
    ),
    "id-number": (json.dumps(an_event_dict(id=12)).encode(), "id is not a string"),
    "id-too-long": (json.dumps(an_event_dict(id="evt_" + "x" * 300)).encode(), "id is not"),
    "id-nul": (json.dumps(an_event_dict(id="evt_\x00")).encode(), "NUL"),
    "top-level-list": (b"[1, 2, 3]", "not a JSON object"),
    "top-level-string": (b'"evt_1"', "not a JSON object"),
    "top-level-null": (b"null", "not a JSON object"),
    "not-utf-8": (b"\xff\xfe{ not json \x00", "not valid UTF-8"),
    "not-json": (b"{ not json", "not valid JSON"),
    "nan": (b'{"id": "evt_nan", "object": "event", "amount": NaN}', "NaN is not a JSON number"),
    "nesting-beyond-python": (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    # Stripe never repeats a key and the signature covers the body: a broken sender.
    "duplicate-key": (
        json.dumps(an_event_dict()).replace('"type"', '"id": "evt_2", "type"').encode(),
        "duplicate field: id",
    ),
}


def _deliver(world: StripeWorld, body: bytes) -> tuple[int, str, Any]:
    return raw_post(world, body, signature_for(body))


def _assert_recorded_as_failed(
    world: StripeWorld, body: bytes, error: str, *, stand_in: bool
) -> StripeEvent:
    status, content_type, problem = _deliver(world, body)
    # Not 2xx, so Stripe retries; not 500, which would mean an unhandled crash.
    assert status == 422, problem
    assert content_type == "application/problem+json"
    assert error in problem["detail"]
    rows = stored(world)
    assert len(rows) == 1
    row = rows[0]
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert error in row.last_error
    assert row.id in problem["detail"]
    assert row.id.startswith("invalid_") is stand_in
    # Stripe's retry lands on the same row.
    assert _deliver(world, body)[0] == 422
    again = stored(world)
    assert [(r.id, r.status, r.attempts) for r in again] == [(row.id, "failed", 2)]
    assert count(world, Subscription) == 0
    return row


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_signed_malformed_event_is_recorded_failed_and_answered_422(
    stripe_world: StripeWorld, case: str
) -> None:
    body, error = MALFORMED[case]
    row = _assert_recorded_as_failed(stripe_world, body, error, stand_in=False)
    assert row.id == "evt_hostile"
    if case.endswith("beyond-json"):  # inf cannot be stored as JSON: the text is kept instead
        assert row.payload["unparsed_body"].startswith("{")
    else:
        assert row.payload == json.loads(body)


@pytest.mark.parametrize("case", sorted(STAND_IN))
def test_signed_event_without_a_storable_id_is_recorded_under_a_stand_in(
    stripe_world: StripeWorld, case: str
) -> None:
    body, error = STAND_IN[case]
    row = _assert_recorded_as_failed(stripe_world, body, error, stand_in=True)
    assert len(row.id) == len("invalid_") + 64
    assert row.type
    # The stand-in can be replayed: it fails again, clearly, on the same row.
    replay = run(stripe_world, "events", "replay", row.id)
    assert replay.exit_code == 1, replay.output
    assert "failed again: malformed event" in replay.stderr
    assert [(r.id, r.attempts) for r in stored(stripe_world)] == [(row.id, 3)]


# What each handled type's data.object could wrongly be, and what the failure names.
WRONG_OBJECTS: list[tuple[Any, str]] = [
    ("sub_1", "data.object is not an object"),
    (["sub_1"], "data.object is not an object"),
    (None, "data.object is not an object"),
    ({}, "data.object.id is not a string"),
    ({"id": 42}, "data.object.id is not a string"),
    ({"id": ""}, "data.object.id is not a string"),
    ({"id": {"id": "sub_1"}}, "data.object.id is not a string"),
]


@pytest.mark.parametrize("event_type", sorted(HANDLERS))
def test_every_handled_type_with_a_data_object_of_the_wrong_shape_is_422_and_failed(
    stripe_world: StripeWorld, event_type: str
) -> None:
    for number, (obj, error) in enumerate(WRONG_OBJECTS):
        event = an_event_dict(id=f"evt_shape_{number}", type=event_type, data={"object": obj})
        status, _, problem = _deliver(stripe_world, json.dumps(event).encode())
        assert status == 422, (obj, problem)
        assert error in problem["detail"]
    rows = stored(stripe_world)
    assert len(rows) == len(WRONG_OBJECTS)
    assert {(r.type, r.status, r.attempts) for r in rows} == {(event_type, "failed", 1)}
    assert all((r.last_error or "").startswith("malformed event: data.object") for r in rows)
    assert count(stripe_world, Subscription) == 0


def test_malformed_event_replays_from_its_stored_copy_once_the_code_accepts_it(
    stripe_world: StripeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from entitlements.billing import webhooks

    world = stripe_world
    event = an_event(world)
    event["created"] = str(event["created"])  # a numeric string: today's code refuses it
    body = body_of(event)
    status, _, problem = _deliver(world, body)
    assert status == 422, problem
    listing = run(world, "events", "list", "--failed")
    assert event["id"] in listing.stdout
    assert "malformed event: created" in listing.stdout

    still = run(world, "events", "replay", event["id"])
    assert still.exit_code == 1
    assert "created is not" in still.stderr

    # The "code fix": numeric strings are accepted. The replay applies the stored payload.
    real = webhooks.event_created
    monkeypatch.setattr(
        webhooks,
        "event_created",
        lambda value: real(int(value) if isinstance(value, str) else value),
    )
    fixed = run(world, "events", "replay", event["id"])
    assert fixed.exit_code == 0, fixed.stderr
    assert "processed" in fixed.stdout
    [row] = stored(world)
    assert (row.status, row.attempts, row.last_error) == ("processed", 3, None)
    assert count(world, Subscription) == 1


def test_replay_refuses_an_event_id_no_row_could_have(stripe_world: StripeWorld) -> None:
    for bad in ("evt_\ud800", "evt_\x00", "e" * 256):
        result = run(stripe_world, "events", "replay", bad)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1  # one line naming the fault, no traceback
    assert "EVENT_ID must be 1 to 255" in run(stripe_world, "events", "replay", "e" * 256).stderr


def test_a_chunked_body_over_the_limit_is_413_and_records_nothing(
    stripe_world: StripeWorld,
) -> None:
    from entitlements.billing.webhooks import MAX_BODY_BYTES

    # No Content-Length to refuse up front: the limit is applied to the body as read.
    body = json.dumps(an_event_dict(padding="x" * MAX_BODY_BYTES)).encode()
    url = urlsplit(stripe_world.app_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.request(
            "POST",
            PATH,
            body=iter([body[: len(body) // 2], body[len(body) // 2 :]]),
            headers={"Content-Type": "application/json", "Stripe-Signature": signature_for(body)},
            encode_chunked=True,
        )
        response = connection.getresponse()
        status, problem = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 413, problem
    assert f"body larger than {MAX_BODY_BYTES} bytes" in problem["detail"]
    assert stored(stripe_world) == []


# ---- 3. one set of JSON rules, and the caller commits ------------------------------------


def _levels(value: Any) -> int:
    """How deep `value` nests, counted as json_rules counts it (an object or array is 1)."""
    if isinstance(value, dict):
        return 1 + max(map(_levels, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_levels, value), default=0)
    return 0


def test_the_emulators_events_nest_well_within_the_shared_depth_limit(
    stripe_world: StripeWorld,
) -> None:
    an_event(stripe_world)  # a subscription, its invoice, payment and customer events
    events = stripe_world.state.events()
    assert len({e["type"] for e in events}) >= 3
    # At most nine levels (invoice.*: event.data.object.lines.data[]...), far below the limit.
    assert max(map(_levels, events)) <= MAX_DEPTH * 3 // 4


def test_an_event_nested_exactly_to_the_limit_is_not_refused_for_its_depth() -> None:
    from entitlements.billing.webhooks import check_event

    # event (1) > data (2) > object (3) > x: arrays for the remaining levels up to MAX_DEPTH.
    inside = an_event_dict(data={"object": {"id": "sub_1", "x": "DEEP"}})
    body = json.dumps(inside).replace('"DEEP"', "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3))
    assert check_event(json.loads(body))["id"] == "evt_hostile"


def test_a_malformed_event_is_recorded_in_the_session_and_committed_by_the_caller(
    stripe_world: StripeWorld,
) -> None:
    from entitlements.billing.webhooks import MALFORMED_STATUS, process
    from entitlements.cli.common import billing_context

    with stripe_world.app.app_context():
        session = db.session()
        outcome = process(session, an_event_dict(data="x"), billing_context(stripe_world.app))
        assert outcome.status == MALFORMED_STATUS
        assert session.get(StripeEvent, "evt_hostile") is not None  # noted, uncommitted
        # The service never commits (STYLE.md rule 2): the caller's rollback keeps nothing.
        session.rollback()
    assert stored(stripe_world) == []
