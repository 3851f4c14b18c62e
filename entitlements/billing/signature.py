"""Verify Stripe's webhook signatures, on both sides of the tolerance window."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The Stripe-Signature header is missing, malformed, stale or does not match."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return a Stripe-Signature header value for `payload` (as Stripe computes it)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(payload: bytes, header: str | None, secrets: tuple[str, ...], *, now: datetime) -> None:
    """Raise SignatureError unless one v1 signature matches one secret within ±300 s of now."""
    if not secrets:
        raise SignatureError("no webhook secret is configured")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    # Stripe sends only ASCII here; anything else is malformed (and compare_digest refuses
    # non-ASCII str, which would otherwise surface as a 500).
    if not header.isascii():
        raise SignatureError("malformed Stripe-Signature header: not ASCII")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        # ASCII digits only, and few of them: str.isdigit() accepts '²', which int() rejects.
        if key == "t" and re.fullmatch(r"[0-9]{1,12}", value):
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("malformed Stripe-Signature header")
    # Stripe's SDK only rejects old timestamps; a future one is as suspect as an old one.
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("signature timestamp is outside the 300 s tolerance")
    signed = f"{timestamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise SignatureError("no signature matches a configured secret")
