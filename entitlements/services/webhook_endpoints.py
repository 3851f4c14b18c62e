"""Site services' webhook endpoints: add, list, disable, rotate; secrets encrypted at rest."""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..errors import ConflictError, InvalidError, NotFoundError, UnprocessableError
from ..models import EventDelivery, WebhookEndpoint
from ..models.webhook import MAX_URL
from ..vocabulary import EVENT_TYPES
from .audit import Actor, record

SECRET_PREFIX = "whsec_"  # noqa: S105  (Standard Webhooks' prefix, not a secret)
# http(s)://, a host part without white space, "/", "?", "#" or "@" (no credentials), then an
# optional path and query without a fragment.
URL_PATTERN = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20/?#@]+(?:[/?][^\x00-\x20#]*)?")
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


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_secrets(endpoint: WebhookEndpoint, secret_key: str, *, now: datetime) -> list[str]:
    """Return the secrets that sign a delivery now: the current one, and the previous one
    while a rotation overlaps."""
    found = [decrypt_secret(endpoint.secret_encrypted, secret_key, endpoint.id)]
    if (
        endpoint.previous_secret_encrypted is not None
        and endpoint.previous_expires_at is not None
        and endpoint.previous_expires_at > now
    ):
        found.append(decrypt_secret(endpoint.previous_secret_encrypted, secret_key, endpoint.id))
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


def check_url(url: str) -> str:
    """Return an http(s) URL with a host and no credentials or fragment, or raise.

    The shape (URL_PATTERN, also the OpenAPI document's) is a 400; a URL of that shape whose
    host or port does not parse is a 422.
    """
    if len(url) > MAX_URL or not URL_PATTERN.fullmatch(url):
        raise InvalidError(
            f"url must be an http or https URL of at most {MAX_URL} characters, without "
            "credentials or fragment",
            field="url",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
        (host or "").encode("idna")
    except (ValueError, UnicodeError) as error:
        raise UnprocessableError(f"url does not parse: {error}", field="url") from None
    if not host or port == 0:
        raise UnprocessableError("url must name a host (and a port above 0)", field="url")
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
    description: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its whsec_ secret (shown this once)."""
    endpoint = WebhookEndpoint(
        url=check_url(url),
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
        .where(EventDelivery.endpoint_id == endpoint_id, EventDelivery.status == "pending")
        .values(status="failed", last_error="endpoint disabled")
    )
    _audit(session, actor, "webhook.disable", endpoint, now=now, before=before,
           after=endpoint_json(endpoint))
    return endpoint


def rotate_secret(
    session: Session, endpoint_id: int, *, secret_key: str, actor: Actor, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret; the old one also signs for ROTATION_OVERLAP."""
    endpoint = get_endpoint(session, endpoint_id, lock=True)
    if endpoint.status != "active":
        raise ConflictError(f"webhook endpoint {endpoint_id} is disabled")
    before = endpoint_json(endpoint)
    secret = new_secret()
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
