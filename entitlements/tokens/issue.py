"""Issue signed entitlement tokens; the only module that calls a JWT signer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from ..access import Access

TOKEN_TYPE = "entitlements+jwt"  # noqa: S105  (a JOSE `typ`, not a password)


@dataclass(frozen=True)
class IssuedToken:
    """A compact JWS and the instant it expires."""

    token: str
    expires_at: datetime
    jti: str


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
    iat = int(now.timestamp())
    exp = iat + int(ttl.total_seconds())
    if access.valid_until is not None:
        # Floor, so the token expires at or before the instant the answer changes.
        exp = min(exp, int(access.valid_until.timestamp()))
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": issuer,
        "sub": account_id,
        "aud": audience,
        "iat": iat,
        "exp": exp,
        "jti": jti,
        "features": list(access.features),
        "plan": access.plan,
    }
    token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid, "typ": TOKEN_TYPE})
    return IssuedToken(token, datetime.fromtimestamp(exp, UTC), jti)
