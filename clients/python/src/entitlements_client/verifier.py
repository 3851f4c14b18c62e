"""TokenVerifier: strict verification of the service's entitlement tokens, and revocation.

The checks run in one documented order (README, "Verification order"), shared with the Node SDK
so that both refuse a token with the same code."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from . import errors
from ._jose import ALGORITHMS, Jwk, signature_valid
from ._token import MAX_TOKEN_BYTES, Claims, claims_of, split, utf8_size
from .jwks import Fetch, JwksCache, _fetch
from .results import Entitlements

__all__ = ["MAX_TOKEN_BYTES", "TokenVerifier", "not_before_seconds"]

TOKEN_TYPE = "entitlements+jwt"  # noqa: S105  (a JOSE `typ`, not a password)
MAX_KID_BYTES = 128
# nbf/iat may lie at most this far in the future (clock skew between hosts), never more.
MAX_CLOCK_SKEW = 60.0
# Header parameters that point at other keys: a token naming its own key is refused, never
# followed (RFC 8725 section 3.10).
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# A revocation outlives every token it refuses: the service's longest token TTL is a day.
_REVOCATION_HORIZON = 86400.0 + 3600.0
# The last second a datetime can hold: a later exp (valid up to 2^53) is shown as this.
_LAST_SECOND = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def not_before_seconds(value: float | datetime) -> float:
    """Return a revocation instant as unix seconds: a finite number >= 0 or an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        seconds = value.timestamp()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not_before must be a number of seconds or a datetime, not {value!r}")
    else:
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError("not_before is out of range") from None
    # NaN would compare false with every iat and lift the revocation: refuse it.
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not_before must be finite and >= 0, not {value!r}")
    return seconds


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(min(seconds, _LAST_SECOND), UTC)


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
        seconds = not_before_seconds(not_before)
        with self._lock:
            # Events may arrive twice or out of order: the latest revocation wins.
            self._not_before[account_id] = max(seconds, self._not_before.get(account_id, seconds))
            horizon = self._clock() - _REVOCATION_HORIZON
            if len(self._not_before) > 1024:
                # Tokens older than the horizon have expired anyway: forget their revocations.
                self._not_before = {k: v for k, v in self._not_before.items() if v >= horizon}

    def verify(self, token: str) -> Entitlements:
        """Return the token's entitlements, or raise a VerificationError saying why not."""
        parts = split(token)
        jwk = self._key(parts.header)
        if not signature_valid(jwk, parts.signing_input, parts.signature):
            raise errors.BadSignatureError("the signature does not verify")
        return self._entitlements(claims_of(parts.payload))

    def _key(self, header: dict[str, Any]) -> Jwk:
        """Check the header and return the key it names."""
        forbidden = FORBIDDEN_HEADERS & header.keys()
        if forbidden:
            raise errors.ForbiddenHeaderError(f"header names a key: {sorted(forbidden)}")
        if "crit" in header:
            raise errors.CritError("no critical extension is understood")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise errors.BadAlgorithmError(f"algorithm {alg!r} is not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise errors.BadTypeError(f"typ must be {TOKEN_TYPE!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < utf8_size(kid) <= MAX_KID_BYTES:
            # Refused before the cache: a huge kid costs neither a lookup nor a fetch.
            raise errors.UnknownKeyError("kid is missing, not a string or over 128 bytes")
        jwk = self.jwks.get(kid)
        if jwk is None and not self.jwks.has_keys:
            raise errors.JwksUnavailableError(f"no keys from {self.jwks.url} yet")
        if jwk is None or jwk.alg != alg:
            # A key of another algorithm is no key for this token (its kty/crv follow its alg).
            raise errors.UnknownKeyError("no published key has this kid and alg")
        return jwk

    def _entitlements(self, claims: Claims) -> Entitlements:
        """Check the claims' values at the current time and return what they grant."""
        now = self._clock()
        if claims.iss != self.issuer:
            raise errors.BadIssuerError("iss is not the configured issuer")
        if self.audience not in claims.audiences:
            raise errors.BadAudienceError("aud does not name this service")
        if now >= claims.exp + self.leeway:
            raise errors.ExpiredError("the token has expired")
        latest = now + self.clock_skew
        if claims.iat > latest or (claims.nbf is not None and claims.nbf > latest):
            raise errors.NotYetValidError("the token is not valid yet")
        not_before = self._not_before.get(claims.sub)
        if not_before is not None and claims.iat < not_before:
            raise errors.RevokedError("the account's tokens issued before a change are revoked")
        return Entitlements(
            account_id=claims.sub,
            features=frozenset(claims.features),
            plan=claims.plan,
            expires_at=_utc(claims.exp),
            issued_at=_utc(claims.iat),
        )
