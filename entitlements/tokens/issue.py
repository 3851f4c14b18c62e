"""Issue signed entitlement tokens; the only module that signs a JWT."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..access import Access

TOKEN_TYPE = "entitlements+jwt"  # noqa: S105  (a JOSE `typ`, not a password)
_ES256 = ec.ECDSA(hashes.SHA256())
_P256_BYTES = 32  # each of r and s in a JWS ES256 signature (RFC 7518 section 3.4)


@dataclass(frozen=True)
class IssuedToken:
    """A compact JWS and the instant it expires."""

    token: str
    expires_at: datetime
    jti: str


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# One encoder for every token: json.dumps() builds a new one per call for these settings.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def _json(value: object) -> bytes:
    return _ENCODER.encode(value).encode("ascii")


@functools.lru_cache(maxsize=16)
def _protected_header(kid: str, algorithm: str) -> bytes:
    """Return the encoded JWS header of one key (a handful of keys live at once)."""
    return _b64(_json({"alg": algorithm, "kid": kid, "typ": TOKEN_TYPE}))


def sign_jws(claims: dict[str, object], *, kid: str, key: ec.EllipticCurvePrivateKey) -> str:
    """Return the compact ES256 JWS of `claims` (RFC 7515), signed by `key` under `kid`."""
    # Built here rather than with PyJWT: the same few steps at about two thirds of its cost,
    # on the most frequent write path. Tests verify the result with an independent library.
    signing_input = _protected_header(kid, "ES256") + b"." + _b64(_json(claims))
    r, s = decode_dss_signature(key.sign(signing_input, _ES256))
    signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def sign_hs256(claims: dict[str, object], *, secret: bytes, kid: str | None) -> str:
    """Return the compact HS256 JWS of `claims` (RFC 7518 section 3.2) under a shared secret.

    Only for a verifier that knows nothing else: Coral Talk's SSO takes HS256 alone. Our own
    tokens stay asymmetric (ES256, above), so no verifier of ours ever holds a signing secret.
    """
    header: dict[str, str] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = _b64(_json(header)) + b"." + _b64(_json(claims))
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def issue_token(
    access: Access,
    *,
    account_id: str,
    audience: str,
    issuer: str,
    ttl: timedelta,
    now: datetime,
    kid: str,
    key: ec.EllipticCurvePrivateKey,
    algorithm: str,
) -> IssuedToken:
    """Sign the access answer for one audience; it never outlives the answer."""
    if algorithm != "ES256" or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"tokens are signed with ES256 on P-256, not {algorithm}")
    iat = int(now.timestamp())
    exp = iat + int(ttl.total_seconds())
    if access.valid_until is not None:
        # Floor, so the token expires at or before the instant the answer changes.
        exp = min(exp, int(access.valid_until.timestamp()))
    jti = secrets.token_urlsafe(16)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": account_id,
        "aud": audience,
        "iat": iat,
        "exp": exp,
        "jti": jti,
        "features": list(access.features),
        "plan": access.plan,
    }
    token = sign_jws(claims, kid=kid, key=key)
    return IssuedToken(token, datetime.fromtimestamp(exp, UTC), jti)
