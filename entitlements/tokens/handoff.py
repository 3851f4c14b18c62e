"""Short-lived encrypted hand-offs: the site's backend vouches for a reader's account id."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..errors import InvalidError
from ..models import UsedHandoff
from ..models.base import dialect_insert

HANDOFF_TTL = timedelta(minutes=2)
# Used hand-offs are kept this long past their expiry, so a worker whose clock runs behind
# still finds the record of a link another worker accepted.
USED_KEPT_AFTER_EXPIRY = timedelta(hours=1)
NEXT_PAGES = ("/subscribe", "/account")
# Far above any real token (about 300 characters with a 254-character email).
MAX_TOKEN_LENGTH = 1024
NONCE_BYTES = 12


@dataclass(frozen=True)
class Handoff:
    """A verified hand-off: who the reader is and where they go next."""

    account_id: str
    next_page: str
    email: str | None
    jti: str
    expires_at: datetime


def _cipher(secret_key: str) -> AESGCM:
    """Derive the hand-off key from the configured secret (apart from every other use of it)."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"entitlements hand-offs v1"
    ).derive(secret_key.encode("utf-8"))
    return AESGCM(derived)


def _seal(secret_key: str, payload: dict[str, Any]) -> str:
    # Encrypted, not only signed: the URL passes through browsers, proxies and the site's
    # logs, and must not show the reader's email (or account id) to any of them.
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(secret_key).encrypt(nonce, json.dumps(payload).encode("utf-8"), None)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def _open(secret_key: str, token: str) -> dict[str, Any]:
    invalid = InvalidError("this sign-in link is not valid; go back to the magazine")
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = _cipher(secret_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise invalid from exc
    data: dict[str, Any] = json.loads(plain)
    return data


def create_handoff(
    *,
    secret_key: str,
    public_url: str,
    account_id: str,
    next_page: str,
    email: str | None,
    now: datetime,
) -> tuple[str, datetime]:
    """Return the one-time URL that signs the reader in, and when it expires."""
    if next_page not in NEXT_PAGES:
        raise InvalidError(f"next must be one of {', '.join(NEXT_PAGES)}", field="next")
    expires_at = now + HANDOFF_TTL
    token = _seal(
        secret_key,
        {
            "sub": account_id,
            "next": next_page,
            "email": email,
            "jti": secrets.token_urlsafe(16),
            "exp": int(expires_at.timestamp()),
        },
    )
    return f"{public_url}/handoff?{urlencode({'token': token})}", expires_at


def redeem_handoff(session: Session, token: str, *, secret_key: str, now: datetime) -> Handoff:
    """Verify a hand-off and mark it used; each works once, within two minutes."""
    data = _open(secret_key, token)
    expires_at = datetime.fromtimestamp(int(data["exp"]), UTC)
    if now >= expires_at:
        raise InvalidError("this sign-in link has expired; go back to the magazine")
    # An expired link is refused above, so its record is no longer needed: the table holds only
    # the last hour's sign-ins rather than every one ever made.
    session.execute(
        delete(UsedHandoff).where(UsedHandoff.expires_at < now - USED_KEPT_AFTER_EXPIRY)
    )
    inserted = session.execute(
        dialect_insert(session, UsedHandoff)
        .values(jti=data["jti"], account_id=data["sub"], expires_at=expires_at, used_at=now)
        .on_conflict_do_nothing(index_elements=["jti"])
        .returning(UsedHandoff.jti)
    ).first()
    if inserted is None:
        raise InvalidError("this sign-in link was already used; go back to the magazine")
    return Handoff(data["sub"], data["next"], data.get("email"), data["jti"], expires_at)
