"""Site services' webhook endpoints: add, list, disable, rotate; secrets encrypted at rest."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError
from ..models import EventDelivery, WebhookEndpoint
from ..vocabulary import EVENT_TYPES
from .audit import Actor, record
from .webhook_urls import check_webhook_url

SECRET_PREFIX = "whsec_"  # noqa: S105  (Standard Webhooks' prefix, not a secret)
# After a rotation the old secret keeps signing this long, so receivers can switch over.
ROTATION_OVERLAP = timedelta(hours=24)


def _aead(secret_key: str) -> AESGCM:
    # Its own HKDF label: the signing keys' encryption key is never reused for these.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"entitlements webhook secrets v1"
    ).derive(secret_key.encode("utf-8"))
    return AESGCM(derived)


def encrypt_secret(secret: str, secret_key: str, endpoint_id: int) -> str:
    """Return a whsec_ secret encrypted with AES-GCM, bound to its endpoint."""
    nonce = os.urandom(12)
    bound = f"webhook-endpoint:{endpoint_id}".encode("ascii")
    sealed = _aead(secret_key).encrypt(nonce, secret.encode("ascii"), bound)
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def decrypt_secret(blob: str, secret_key: str, endpoint_id: int) -> str:
    """Decrypt a stored secret; a changed ENTITLEMENTS_SECRET_KEY or a moved blob fails."""
    raw = base64.urlsafe_b64decode(blob)
    bound = f"webhook-endpoint:{endpoint_id}".encode("ascii")
    try:
        return _aead(secret_key).decrypt(raw[:12], raw[12:], bound).decode("ascii")
    except InvalidTag as error:
        raise ConflictError(
            f"webhook endpoint {endpoint_id}: its secret does not decrypt with this "
            "ENTITLEMENTS_SECRET_KEY; rotate the endpoint's secret"
        ) from error


class SecretCache:
    """decrypt_secret, remembered for a while by ciphertext: the worker signs every delivery,
    and a rotation changes the ciphertext, so a cached secret is never a stale one."""

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._kept: dict[tuple[str, str, int], tuple[str, float]] = {}

    def __call__(self, blob: str, secret_key: str, endpoint_id: int) -> str:
        """Return the decrypted secret (raising as decrypt_secret does)."""
        key, now = (blob, secret_key, endpoint_id), self._clock()
        kept = self._kept.get(key)
        if kept is not None and kept[1] > now:
            return kept[0]
        if len(self._kept) > 1000:  # endpoints are few; this only bounds a pathological case
            self._kept.clear()
        secret = decrypt_secret(blob, secret_key, endpoint_id)
        self._kept[key] = (secret, now + self._ttl)
        return secret


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_secrets(
    endpoint_id: int, current: str, previous: str | None, previous_expires_at: datetime | None,
    secret_key: str, *, now: datetime, decrypt: Callable[[str, str, int], str] = decrypt_secret,
) -> list[str]:
    """Return the secrets that sign a delivery now: the current one, and the previous one
    while a rotation overlaps (skipped when it no longer decrypts: the current one signs)."""
    found = [decrypt(current, secret_key, endpoint_id)]
    if previous is not None and previous_expires_at is not None and previous_expires_at > now:
        # A previous secret sealed under an older ENTITLEMENTS_SECRET_KEY: the current signs.
        with contextlib.suppress(ConflictError):
            found.append(decrypt(previous, secret_key, endpoint_id))
    return found


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """Return the JSON form of an endpoint (never its secrets; also its audit snapshot)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": endpoint.event_types.split(),
        "status": endpoint.status,
        "description": endpoint.description,
        "created_at": to_rfc3339(endpoint.created_at),
        "created_by": endpoint.created_by,
        "disabled_at": to_rfc3339(endpoint.disabled_at),
        "previous_secret_expires_at": to_rfc3339(endpoint.previous_expires_at),
    }


def check_url(
    session: Session, url: str, *, production: bool, allow_private: bool
) -> str:
    """Return a URL a delivery can be sent to that no active endpoint has, or raise.

    The shape (URL_PATTERN, also the OpenAPI document's) is a 400; a URL of that shape that
    can never be sent to, or may not be (webhook_urls), a 422; an active duplicate a 409.
    """
    check_webhook_url(url, production=production, allow_private=allow_private)
    duplicate = session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.url == url, WebhookEndpoint.status == "active"
        ).limit(1)
    )
    if duplicate is not None:
        # Two endpoints at one URL would send each event twice, under two secrets.
        raise ConflictError(
            f"webhook endpoint {duplicate} already sends to this url; disable it first",
            field="url",
        )
    return url


def check_event_types(event_types: Sequence[str]) -> list[str]:
    """Return the distinct known event types asked for (all of them when none)."""
    chosen = list(dict.fromkeys(event_types)) or list(EVENT_TYPES)
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidError(
            f"event types must be among {', '.join(EVENT_TYPES)}", field="event_types"
        )
    return chosen


def add_endpoint(
    session: Session,
    url: str,
    *,
    event_types: Sequence[str],
    secret_key: str,
    actor: Actor,
    now: datetime,
    production: bool,
    allow_private: bool,
    description: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its whsec_ secret (shown this once)."""
    endpoint = WebhookEndpoint(
        url=check_url(session, url, production=production, allow_private=allow_private),
        event_types=" ".join(check_event_types(event_types)),
        status="active",
        secret_encrypted="",
        description=(description or "").strip() or None,
        created_at=now,
        created_by=actor.name,
    )
    session.add(endpoint)
    # Flush for the id, which the ciphertext is bound to and the audit record names.
    session.flush()
    secret = new_secret()
    endpoint.secret_encrypted = encrypt_secret(secret, secret_key, endpoint.id)
    _audit(session, actor, "webhook.add", endpoint, now=now, after=endpoint_json(endpoint))
    return endpoint, secret


def get_endpoint(session: Session, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """Return an endpoint by id, or raise NotFoundError."""
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if endpoint is None:
        raise NotFoundError(f"no webhook endpoint with id {endpoint_id}")
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    """Return every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def disable_endpoint(
    session: Session, endpoint_id: int, *, actor: Actor, now: datetime
) -> WebhookEndpoint:
    """Stop delivering to an endpoint; its pending deliveries are marked failed."""
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    if endpoint.status != "active":
        raise ConflictError(f"webhook endpoint {endpoint_id} is already disabled")
    before = endpoint_json(endpoint)
    endpoint.status, endpoint.disabled_at = "disabled", now
    session.execute(
        update(EventDelivery)
        .where(EventDelivery.endpoint_id == endpoint_id,
               EventDelivery.status.in_(("pending", "sending")))
        .values(status="failed", last_error="endpoint disabled", locked_until=None)
    )
    _audit(session, actor, "webhook.disable", endpoint, now=now, before=before,
           after=endpoint_json(endpoint))
    return endpoint


def rotate_secret(
    session: Session, endpoint_id: int, *, secret_key: str, actor: Actor, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret; the old one also signs for ROTATION_OVERLAP.

    At most two secrets sign: a second rotation within the overlap ends the first secret's
    grace at once (the one it replaces gets the overlap). A current secret that no longer
    decrypts (ENTITLEMENTS_SECRET_KEY changed) is dropped, not kept as the previous one.
    """
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    if endpoint.status != "active":
        raise ConflictError(f"webhook endpoint {endpoint_id} is disabled")
    before = endpoint_json(endpoint)
    secret = new_secret()
    try:
        decrypt_secret(endpoint.secret_encrypted, secret_key, endpoint.id)
    except ConflictError:
        endpoint.previous_secret_encrypted, endpoint.previous_expires_at = None, None
    else:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_expires_at = now + ROTATION_OVERLAP
    endpoint.secret_encrypted = encrypt_secret(secret, secret_key, endpoint.id)
    _audit(session, actor, "webhook.rotate_secret", endpoint, now=now, before=before,
           after=endpoint_json(endpoint))
    return endpoint, secret


def _audit(
    session: Session, actor: Actor, action: str, endpoint: WebhookEndpoint, *, now: datetime,
    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
) -> None:
    record(session, actor, action=action, subject_type="webhook_endpoint",
           subject_id=str(endpoint.id), account_id=None, now=now, before=before, after=after)
