"""Red-team findings on change events and revocation (2, 8): odd webhook timestamps, non-finite
not_before values, and the strict event JSON shared with the Node SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, request

from entitlements_client import EventReceiver, EventVerificationError, TokenVerifier, errors
from entitlements_client.events import sign, verify_event
from forge import NOW, claims, es256, header
from test_events import SECRET, event_body, reference_headers

# --- finding 2: webhook-timestamp is 1..15 ASCII digits, or the event is malformed ---


@pytest.mark.parametrize("stamp", ["\u00b2", "\u0661\u0662\u0663", "9" * 5000, "9" * 16, "-1"])
def test_odd_webhook_timestamps_are_malformed(stamp: str) -> None:
    headers = {**reference_headers(SECRET, event_body()), "webhook-timestamp": stamp}
    with pytest.raises(errors.MalformedEventError):
        verify_event(headers, event_body(), SECRET, now=NOW)


def test_odd_webhook_timestamp_is_400_in_the_readme_receiver() -> None:
    app = Flask(__name__)
    receiver = EventReceiver(SECRET)

    @app.post("/events")
    def receive() -> tuple[str, int]:
        try:
            receiver.receive(dict(request.headers), request.get_data())
        except EventVerificationError:
            return "", 400
        return "", 204

    for stamp in ["\u00b2", "9" * 5000]:
        headers = {"webhook-id": "m", "webhook-signature": "v1,AAAA", "webhook-timestamp": stamp}
        assert app.test_client().post("/events", data=b"{}", headers=headers).status_code == 400


# --- finding 8: a NaN (or any non-number) not_before never lifts a revocation ---


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (-1, ValueError),
        (10**400, ValueError),
        (datetime(1969, 12, 31, tzinfo=UTC), ValueError),
        ("nan", TypeError),
        ("1800000001", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_revoke_refuses_what_is_not_a_finite_instant(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, value: object, kind: type[Exception]
) -> None:
    verifier.revoke("reader-1", NOW)
    with pytest.raises(kind):
        verifier.revoke("reader-1", value)  # type: ignore[arg-type]
    with pytest.raises(errors.RevokedError):
        verifier.verify(es256(key, header(), claims()))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1", '"1"', "true"])
def test_events_with_a_non_finite_not_before_are_malformed(literal: str) -> None:
    body = event_body(not_before=12345).replace(b"12345", literal.encode())
    stamp = int(NOW)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SECRET, "msg_1", stamp, body),
    }
    with pytest.raises(errors.MalformedEventError):
        verify_event(headers, body, SECRET, now=NOW)


# --- aligned with the Node SDK after the fixes: strict event JSON and account_id ---


def signed(body: bytes) -> dict[str, str]:
    stamp = int(NOW)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SECRET, "msg_1", stamp, body),
    }


@pytest.mark.parametrize(
    "body",
    [
        "\ufeff".encode() + event_body(),  # a BOM
        event_body().decode().encode("utf-16"),  # not UTF-8
        event_body()[:-1] + b', "type": "x"}',  # a duplicate member
        event_body().replace(b'"account_id": "reader-1"', b'"account_id": 7', 1),
        event_body().replace(b'"account_id": "reader-1"', b'"account_id": null', 1),
        event_body().replace(b'"changed": ["comment"]', b'"changed": ' + b"[" * 40 + b"]" * 40),
    ],
)
def test_events_are_strict_json_with_a_string_account_id(body: bytes) -> None:
    with pytest.raises(errors.MalformedEventError):
        verify_event(signed(body), body, SECRET, now=NOW)


def test_an_event_without_account_or_not_before_is_fine() -> None:
    body = json.dumps({"type": "ping", "data": {}}).encode()
    event = verify_event(signed(body), body, SECRET, now=NOW)
    assert (event.account_id, event.not_before) == (None, None)
