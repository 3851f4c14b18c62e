"""Token signing keys: generation, encryption at rest, audited rotation, states and the JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import to_rfc3339
from ..forksafe import renew_after_fork
from ..models import SigningKey
from ..services.audit import Actor, record

# ES256, chosen by measurement (bench/token_algorithms.py, numbers in the README).
ALGORITHM = "ES256"
# How long a process may sign with its cached view of the key table; rotation
# windows include it so a token signed from a stale view still verifies.
KEY_CACHE_SECONDS = 30


@dataclass(frozen=True)
class KeyState:
    """A signing key with its derived state at one instant."""

    kid: str
    alg: str
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None
    unpublish_at: datetime | None
    state: str  # pending | active | retiring | expired
    public_jwk: dict[str, str]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _kek(secret_key: str) -> AESGCM:
    """Derive the key-encryption key from the configured secret."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"entitlements signing keys v1"
    ).derive(secret_key.encode("utf-8"))
    return AESGCM(derived)


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, secret_key: str, kid: str) -> str:
    """Return the private key encrypted with AES-GCM under the configured secret."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(12)
    # The kid is bound as associated data: a ciphertext cannot be moved to another row.
    return _b64(nonce + _kek(secret_key).encrypt(nonce, pem, kid.encode("ascii")))


def decrypt_private_key(blob: str, secret_key: str, kid: str) -> ec.EllipticCurvePrivateKey:
    """Decrypt a stored private key; fails if the secret or kid does not match."""
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    pem = _kek(secret_key).decrypt(raw[:12], raw[12:], kid.encode("ascii"))
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """Return the public JWK of a P-256 key, with its RFC 7638 thumbprint as kid."""
    numbers = key.public_key().public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    thumbprint = hashlib.sha256(
        json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode("ascii")
    ).digest()
    return {**jwk, "kid": _b64(thumbprint), "alg": ALGORITHM, "use": "sig"}


def create_key(
    session: Session, *, secret_key: str, now: datetime, activates_at: datetime
) -> SigningKey:
    """Generate a key pair and store it; it is published at once and signs from activates_at."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(private)
    row = SigningKey(
        kid=jwk["kid"],
        alg=ALGORITHM,
        public_jwk=json.dumps(jwk, sort_keys=True),
        private_key_encrypted=encrypt_private_key(private, secret_key, jwk["kid"]),
        created_at=now,
        activates_at=activates_at,
    )
    session.add(row)
    return row


def rotate(
    session: Session,
    *,
    secret_key: str,
    now: datetime,
    publish_delay: timedelta,
    actor: Actor,
    action: str = "signing_key.rotate",
    reason: str | None = None,
) -> SigningKey:
    """Add the next signing key and audit it as `action`; the very first key signs at once,
    later ones after the delay."""
    has_key = session.scalar(select(SigningKey.kid).limit(1)) is not None
    activates_at = now + publish_delay if has_key else now
    row = create_key(session, secret_key=secret_key, now=now, activates_at=activates_at)
    record(
        session,
        actor,
        action=action,
        subject_type="signing_key",
        subject_id=row.kid,
        account_id=None,
        now=now,
        after={"kid": row.kid, "alg": row.alg, "activates_at": to_rfc3339(row.activates_at)},
        reason=reason,
    )
    return row


def key_states(rows: list[SigningKey], *, now: datetime, token_ttl: timedelta) -> list[KeyState]:
    """Derive each key's state: a key retires when its successor activates, and stays
    published until every token it could have signed has expired."""
    ordered = sorted(rows, key=lambda r: (r.activates_at, r.created_at, r.kid))
    grace = token_ttl + timedelta(seconds=KEY_CACHE_SECONDS)
    states = []
    for index, row in enumerate(ordered):
        successor = ordered[index + 1] if index + 1 < len(ordered) else None
        retires_at = successor.activates_at if successor else None
        unpublish_at = retires_at + grace if retires_at else None
        if now < row.activates_at:
            state = "pending"
        elif retires_at is None or now < retires_at:
            state = "active"
        elif unpublish_at is not None and now < unpublish_at:
            state = "retiring"
        else:
            state = "expired"
        states.append(
            KeyState(
                kid=row.kid,
                alg=row.alg,
                created_at=row.created_at,
                activates_at=row.activates_at,
                retires_at=retires_at,
                unpublish_at=unpublish_at,
                state=state,
                public_jwk=json.loads(row.public_jwk),
            )
        )
    return states


def jwks(states: list[KeyState]) -> dict[str, Any]:
    """Return the JSON Web Key Set of every key a verifier may still meet: public parts only."""
    published = [s.public_jwk for s in states if s.state in {"pending", "active", "retiring"}]
    return {"keys": published}


class KeyRing:
    """A per-process cache of the key table, refreshed every KEY_CACHE_SECONDS."""

    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key
        self._lock = threading.Lock()
        renew_after_fork(self, KeyRing._new_lock)
        self._rows: list[SigningKey] = []
        self._loaded_at = float("-inf")
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}
        # The signer last found: (rows it was found in, from, until, kid). It signs for as
        # long as the same rows are cached and no other key activates.
        self._current: tuple[list[SigningKey], datetime, datetime | None, str] | None = None

    def _new_lock(self) -> None:
        # A lock held by another thread at the fork would stay held in the child forever.
        self._lock = threading.Lock()

    def rows(self, session: Session) -> list[SigningKey]:
        """Return the key rows, from cache when fresh (the session is used only to reload)."""
        if time.monotonic() - self._loaded_at > KEY_CACHE_SECONDS:
            self.refresh(session)
        return self._rows

    def refresh(self, session: Session) -> None:
        """Reload the key rows now (after a rotation in this process, for instance)."""
        rows = list(session.scalars(select(SigningKey)))
        for row in rows:
            session.expunge(row)
        with self._lock:
            self._rows, self._loaded_at = rows, time.monotonic()

    def signer(
        self, session: Session, *, now: datetime
    ) -> tuple[str, ec.EllipticCurvePrivateKey] | None:
        """Return (kid, private key) of the key that signs at `now`, or None if there is none."""
        rows = self.rows(session)
        current = self._current
        if (
            current is not None
            and current[0] is rows
            and current[1] <= now
            and (current[2] is None or now < current[2])
        ):
            kid = current[3]
        else:
            # The active key is the last one to have activated (as key_states derives it),
            # found without decoding every JWK.
            activated = [r for r in rows if r.activates_at <= now]
            if not activated:
                return None
            chosen = max(activated, key=lambda r: (r.activates_at, r.created_at, r.kid))
            later = [r.activates_at for r in rows if r.activates_at > now]
            kid = chosen.kid
            self._current = (rows, chosen.activates_at, min(later, default=None), kid)
        with self._lock:
            key = self._private.get(kid)
        if key is None:
            row = next(r for r in self._rows if r.kid == kid)
            key = decrypt_private_key(row.private_key_encrypted, self._secret_key, kid)
            with self._lock:
                self._private[kid] = key
        return kid, key
