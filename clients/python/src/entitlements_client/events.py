"""Change events: Standard Webhooks verification, and a receiver that applies revocations.

Hand-written rather than the `standardwebhooks` reference package: it is a few lines of HMAC,
and the reference reads the wall clock (no injectable `now`), lets malformed headers escape as
bare ValueError/binascii.Error, decodes base64 leniently and knows one secret per instance (we
take several, for rotation). The tests check this module against the reference package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import errors
from ._jose import json_object
from .results import Access, access_from_json, parse_time
from .verifier import not_before_seconds

if TYPE_CHECKING:
    from .client import EntitlementsClient
    from .verifier import TokenVerifier

TOLERANCE = 300  # seconds either side of webhook-timestamp (Standard Webhooks)
_SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix of every secret, not a secret)
# ASCII digits only (str.isdigit() takes '²'), and few enough to stay a sane number.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class Event:
    """A verified change event."""

    id: str
    type: str
    timestamp: datetime | None
    account_id: str | None
    entitlements: Access | None
    not_before: float | None
    data: Mapping[str, Any]


def _secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is whsec_ and base64") from error
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `v1,<base64>` signature of one message (what the service sends)."""
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_event(
    headers: Mapping[str, str],
    body: bytes | str,
    secrets: str | Sequence[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> Event:
    """Verify a Standard Webhooks delivery against any of `secrets`; return its event."""
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not msg_id or not _TIMESTAMP.fullmatch(stamp) or not signatures:
        raise errors.MalformedEventError("missing or invalid webhook headers")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        raise errors.StaleEventError("webhook-timestamp is outside the tolerance")
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [sign(key, msg_id, int(stamp), raw).encode("ascii") for key in keys]
    offered = [s.encode("ascii", "replace") for s in signatures.split() if s.startswith("v1,")]
    # Every pair is compared, in constant time each: no early exit reveals which one matched.
    matched = [hmac.compare_digest(a, b) for a in expected for b in offered]
    if not any(matched):
        raise errors.EventSignatureError("no signature matches")
    return _event(msg_id, raw)


def _event(msg_id: str, raw: bytes) -> Event:
    try:
        # The same strict JSON as tokens (UTF-8 without BOM, no duplicate, NaN or deep nesting).
        payload = json_object(raw)
        data = payload["data"]
        if not isinstance(data, dict) or not isinstance(payload["type"], str):
            raise TypeError("data is not an object or type not a string")
        not_before = data.get("not_before")
        # A finite number >= 0, as revoke() takes: NaN would lift a revocation.
        seconds = None if not_before is None else not_before_seconds(not_before)
        account_id = data.get("account_id")
        if account_id is not None and not isinstance(account_id, str):
            raise TypeError("account_id is not a string")
        if seconds is not None and account_id is None:
            raise TypeError("not_before without an account_id")
        entitlements = data.get("entitlements")
        return Event(
            id=msg_id,
            type=payload["type"],
            timestamp=parse_time(payload.get("timestamp")),
            account_id=account_id,
            entitlements=None if entitlements is None else access_from_json(entitlements),
            not_before=seconds,
            data=data,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise errors.MalformedEventError(f"not a change event: {error}") from None


class EventReceiver:
    """Verify change events and apply them: revoke old tokens, drop cached answers."""

    def __init__(
        self,
        secrets: str | Sequence[str],
        *,
        verifier: TokenVerifier | None = None,
        client: EntitlementsClient | None = None,
    ) -> None:
        self.secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        for secret in self.secrets:
            _secret_bytes(secret)  # a bad secret fails at start-up, not on the first event
        self.verifier = verifier
        self.client = client

    def receive(
        self, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
    ) -> Event:
        """Verify one delivery and apply it; raise EventVerificationError to answer 400."""
        event = verify_event(headers, body, self.secrets, now=now)
        if event.account_id is not None:
            if event.not_before is not None and self.verifier is not None:
                self.verifier.revoke(event.account_id, event.not_before)
            if self.client is not None:
                self.client.forget(event.account_id)
        return event
