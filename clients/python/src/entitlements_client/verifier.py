"""TokenVerifier: strict verification of the service's entitlement tokens, and revocation."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from . import errors
from ._jose import ALGORITHMS, Jwk, b64url_decode, json_object, signature_valid
from .jwks import Fetch, JwksCache, _fetch
from .results import Entitlements

TOKEN_TYPE = "entitlements+jwt"  # noqa: S105  (a JOSE `typ`, not a password)
MAX_TOKEN_BYTES = 8192
MAX_KID_LENGTH = 128
# nbf/iat may lie at most this far in the future (clock skew between hosts), never more.
MAX_CLOCK_SKEW = 60.0
# Header parameters that point at other keys: a token naming its own key is refused, never
# followed (RFC 8725 section 3.10).
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# A revocation outlives every token it refuses: the service's longest token TTL is a day.
_REVOCATION_HORIZON = 86400.0 + 3600.0


def _seconds(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        return value.timestamp()
    return float(value)


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise errors.MalformedTokenError(f"{name} is missing or not a number")
    return float(value)


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise errors.MalformedTokenError(f"{name} is missing or not a string")
    return value


class TokenVerifier:
    """Verify entitlement tokens against the service's JWKS, as strictly as the service signs."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        leeway: float = 0,
        clock_skew: float = MAX_CLOCK_SKEW,
        algorithms: Collection[str] = ("ES256",),
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        fetch: Fetch = _fetch,
    ) -> None:
        if not 0 <= leeway <= MAX_CLOCK_SKEW or not 0 <= clock_skew <= MAX_CLOCK_SKEW:
            raise ValueError(f"leeway and clock_skew must lie within 0..{MAX_CLOCK_SKEW:g} s")
        unknown = set(algorithms) - set(ALGORITHMS)
        if unknown or not algorithms:
            raise ValueError(f"algorithms must be among {sorted(ALGORITHMS)}, not {unknown}")
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        self.issuer = issuer
        self.audience = audience
        self.leeway = float(leeway)
        self.clock_skew = float(clock_skew)
        self._algorithms = frozenset(algorithms)
        self._clock = clock
        self.jwks = JwksCache(
            jwks_url, algorithms=self._algorithms, timeout=timeout, clock=monotonic, fetch=fetch
        )
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, account_id: str, not_before: float | datetime) -> None:
        """Refuse the account's tokens issued before `not_before` (unix seconds or datetime)."""
        seconds = _seconds(not_before)
        with self._lock:
            # Events may arrive twice or out of order: the latest revocation wins.
            self._not_before[account_id] = max(seconds, self._not_before.get(account_id, seconds))
            horizon = self._clock() - _REVOCATION_HORIZON
            if len(self._not_before) > 1024:
                # Tokens older than the horizon have expired anyway: forget their revocations.
                self._not_before = {k: v for k, v in self._not_before.items() if v >= horizon}

    def verify(self, token: str) -> Entitlements:
        """Return the token's entitlements, or raise a VerificationError saying why not."""
        if not isinstance(token, str):
            raise errors.MalformedTokenError("the token is not a string")
        if len(token) > MAX_TOKEN_BYTES:
            raise errors.TokenTooLargeError(f"the token is over {MAX_TOKEN_BYTES} bytes")
        parts = token.split(".")
        if len(parts) != 3:
            raise errors.MalformedTokenError("not a compact JWS (three dot-separated parts)")
        try:
            header = json_object(b64url_decode(parts[0]))
            payload = b64url_decode(parts[1])
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError) as error:
            raise errors.MalformedTokenError(f"unreadable header or encoding: {error}") from None
        jwk = self._key(header)
        if not signature_valid(jwk, f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
            raise errors.BadSignatureError("the signature does not verify")
        try:
            claims = json_object(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise errors.MalformedTokenError(f"unreadable claims: {error}") from None
        return self._entitlements(claims)

    def _key(self, header: dict[str, Any]) -> Jwk:
        """Check the header and return the key it names."""
        forbidden = FORBIDDEN_HEADERS & header.keys()
        if forbidden:
            raise errors.ForbiddenHeaderError(f"header names a key: {sorted(forbidden)}")
        if "crit" in header:
            raise errors.CritError("no critical extension is understood")
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise errors.BadAlgorithmError(f"algorithm {alg!r} is not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise errors.BadTypeError(f"typ must be {TOKEN_TYPE!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            # Refused before the cache: a huge kid costs neither a lookup nor a fetch.
            raise errors.UnknownKeyError("kid is missing, not a string or too long")
        jwk = self.jwks.get(kid)
        if jwk is None:
            if not self.jwks.has_keys:
                raise errors.JwksUnavailableError(f"no keys from {self.jwks.url} yet")
            raise errors.UnknownKeyError("no published key has this kid")
        if jwk.alg != alg:
            raise errors.BadAlgorithmError(f"the key is for {jwk.alg}, not {alg}")
        return jwk

    def _entitlements(self, claims: dict[str, Any]) -> Entitlements:
        """Check the claims at the current time and return what they grant."""
        now = self._clock()
        if claims.get("iss") != self.issuer:
            raise errors.BadIssuerError("iss is not the configured issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise errors.BadAudienceError("aud does not name this service")
        exp = _number(claims, "exp")
        iat = _number(claims, "iat")
        nbf = _number(claims, "nbf") if "nbf" in claims else None
        if now >= exp + self.leeway:
            raise errors.ExpiredError("the token has expired")
        if iat > now + self.clock_skew or (nbf is not None and nbf > now + self.clock_skew):
            raise errors.NotYetValidError("the token is not valid yet")
        account_id = _string(claims, "sub")
        _string(claims, "jti")
        features = claims.get("features")
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise errors.MalformedTokenError("features is missing or not a list of strings")
        plan = claims.get("plan")
        if plan is not None and not isinstance(plan, str):
            raise errors.MalformedTokenError("plan is not a string")
        not_before = self._not_before.get(account_id)
        if not_before is not None and iat < not_before:
            raise errors.RevokedError("the account's tokens issued before a change are revoked")
        return Entitlements(
            account_id=account_id,
            features=frozenset(features),
            plan=plan,
            expires_at=datetime.fromtimestamp(exp, UTC),
            issued_at=datetime.fromtimestamp(iat, UTC),
        )
