"""Change events: our Standard Webhooks verification agrees with the reference package."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks import Webhook, WebhookVerificationError

from conftest import Clock
from entitlements_client import EntitlementsClient, TokenVerifier, errors
from entitlements_client.events import EventReceiver, sign, verify_event
from forge import NOW, claims, es256, header

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
STAMP = int(NOW)


def event_body(not_before: float | None = NOW - 5, account_id: str = "reader-1") -> bytes:
    return json.dumps(
        {
            "type": "entitlements.changed",
            "timestamp": "2027-01-15T08:00:00Z",
            "data": {
                "account_id": account_id,
                "entitlements": {
                    "account_id": account_id,
                    "features": ["ad_free"],
                    "plan": "digital",
                    "sources": [],
                    "restrictions": [{"feature": "comment", "message": "spam", "ends_at": None}],
                    "valid_until": None,
                },
                "changed": ["comment"],
                "reason": "ban",
                "not_before": not_before,
            },
        }
    ).encode()


def reference_headers(
    secret: str, body: bytes, msg_id: str = "msg_1", stamp: int = STAMP
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_reference_signed_event_verifies() -> None:
    body = event_body()
    event = verify_event(reference_headers(SECRET, body), body, SECRET, now=NOW)
    assert event.id == "msg_1"
    assert event.type == "entitlements.changed"
    assert event.account_id == "reader-1"
    assert event.not_before == NOW - 5
    assert event.entitlements is not None
    assert not event.entitlements.has("comment")
    assert event.entitlements.restrictions[0].message == "spam"
    assert event.timestamp == datetime(2027, 1, 15, 8, tzinfo=UTC)


def test_our_signature_verifies_with_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    body = event_body()
    stamp = int(datetime.now(UTC).timestamp())  # the reference reads the wall clock
    ours = sign(SECRET, "msg_2", stamp, body)
    assert ours == reference_headers(SECRET, body, "msg_2", stamp)["webhook-signature"]
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(stamp), "webhook-signature": ours}
    assert Webhook(SECRET).verify(body, headers)["data"]["reason"] == "ban"


def test_header_names_are_case_insensitive() -> None:
    body = event_body()
    headers = {k.title(): v for k, v in reference_headers(SECRET, body).items()}
    assert verify_event(headers, body.decode(), SECRET, now=NOW).id == "msg_1"


def test_any_of_several_signatures_and_secrets_may_match() -> None:
    body = event_body()
    stamp = _now()  # the reference reads the wall clock
    # During rotation the service signs with both secrets; a receiver may know either.
    both = " ".join(
        reference_headers(s, body, stamp=stamp)["webhook-signature"] for s in (OTHER, SECRET)
    )
    headers = {**reference_headers(SECRET, body, stamp=stamp), "webhook-signature": both}
    for secret in (SECRET, OTHER):
        assert Webhook(secret).verify(body, headers)
        assert verify_event(headers, body, secret, now=stamp)
    assert verify_event(headers, body, [OTHER, SECRET], now=stamp)


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


@pytest.mark.parametrize(
    "tamper",
    ["body", "id", "timestamp", "secret", "signature"],
)
def test_tampering_is_refused_by_both(tamper: str) -> None:
    body = event_body()
    stamp = _now()
    headers = reference_headers(SECRET, body, stamp=stamp)
    secret = SECRET
    if tamper == "body":
        body = event_body(not_before=None)
    elif tamper == "id":
        headers["webhook-id"] = "msg_other"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(stamp - 1)
    elif tamper == "secret":
        secret = OTHER
    else:
        headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    with pytest.raises(errors.EventSignatureError) as caught:
        verify_event(headers, body, secret, now=stamp)
    assert caught.value.code == "event_signature"


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_outside_five_minutes_is_refused_by_both(offset: int) -> None:
    body = event_body()
    stamp = _now() + offset
    headers = reference_headers(SECRET, body, stamp=stamp)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        Webhook(SECRET).verify(body, headers)
    with pytest.raises(errors.StaleEventError):
        verify_event(headers, body, SECRET, now=stamp - offset)
    assert verify_event(headers, body, SECRET, now=stamp - offset + (1 if offset > 0 else -1))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "m", "webhook-timestamp": str(STAMP)},
        {"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "", "webhook-timestamp": str(STAMP), "webhook-signature": "v1,AAAA"},
    ],
)
def test_missing_or_invalid_headers_are_malformed(headers: dict[str, str]) -> None:
    with pytest.raises(errors.MalformedEventError) as caught:
        verify_event(headers, event_body(), SECRET, now=NOW)
    assert caught.value.code == "event_malformed"


def test_signature_entries_without_a_comma_do_not_crash() -> None:
    body = event_body()
    good = reference_headers(SECRET, body)
    headers = {**good, "webhook-signature": "garbage " + good["webhook-signature"]}
    assert verify_event(headers, body, SECRET, now=NOW)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "x"}', b'{"type": 1, "data": {}}'])
def test_signed_body_that_is_not_an_event_is_malformed(body: bytes) -> None:
    with pytest.raises(errors.MalformedEventError):
        verify_event(reference_headers(SECRET, body), body, SECRET, now=NOW)


def test_bad_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="base64"):
        EventReceiver("whsec_***")


class RecordingClient(EntitlementsClient):
    """A client that records which accounts it was told to forget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forgotten: list[str] = []

    def forget(self, account_id: str) -> None:
        self.forgotten.append(account_id)
        super().forget(account_id)


def test_receiver_revokes_old_tokens_and_drops_the_cached_answer(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, clock: Clock
) -> None:
    gateway = RecordingClient("http://127.0.0.1:9", "k")
    receiver = EventReceiver(SECRET, verifier=verifier, client=gateway)
    before = es256(key, header(), claims(iat=int(NOW) - 10))
    assert verifier.verify(before)

    body = event_body(not_before=NOW - 5)
    event = receiver.receive(reference_headers(SECRET, body), body, now=clock.now)

    assert event.account_id == "reader-1"
    with pytest.raises(errors.RevokedError):
        verifier.verify(before)
    assert verifier.verify(es256(key, header(), claims(iat=int(NOW) - 1)))
    assert gateway.forgotten == ["reader-1"]


def test_receiver_without_not_before_only_drops_the_cache(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    gateway = RecordingClient("http://127.0.0.1:9", "k")
    receiver = EventReceiver([OTHER, SECRET], verifier=verifier, client=gateway)
    body = event_body(not_before=None)
    receiver.receive(reference_headers(SECRET, body), body, now=NOW)
    assert verifier.verify(es256(key, header(), claims()))
    assert gateway.forgotten == ["reader-1"]


def test_receiver_refuses_a_forged_event_and_changes_nothing(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    receiver = EventReceiver(SECRET, verifier=verifier)
    body = event_body()
    with pytest.raises(errors.EventSignatureError):
        receiver.receive(reference_headers(OTHER, body), body, now=NOW)
    assert verifier.verify(es256(key, header(), claims()))
