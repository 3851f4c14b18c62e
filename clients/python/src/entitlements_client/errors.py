"""Every failure the SDK raises: one class per kind, each with a stable `code` shared with the
Node SDK (clients/node)."""

from __future__ import annotations

from typing import Any, ClassVar


class EntitlementsError(Exception):
    """Base of every error this package raises; `code` names the kind."""

    code: ClassVar[str] = "error"


# --- token verification (TokenVerifier.verify) ---


class VerificationError(EntitlementsError):
    """The token is not acceptable; never trust anything it says."""

    code = "invalid_token"


class MalformedTokenError(VerificationError):
    """Not a compact JWS with JSON header and claims, or a required claim is missing or mistyped."""

    code = "malformed"


class TokenTooLargeError(VerificationError):
    """Over the size cap: refused before parsing."""

    code = "too_large"


class BadAlgorithmError(VerificationError):
    """The header's `alg` is not a string on the allow-list."""

    code = "bad_alg"


class BadTypeError(VerificationError):
    """The header's `typ` is not `entitlements+jwt`."""

    code = "bad_typ"


class UnknownKeyError(VerificationError):
    """No published key has the token's `kid` and `alg` (or the `kid` is unusable)."""

    code = "unknown_kid"


class BadSignatureError(VerificationError):
    """The signature does not verify with the key named by `kid`."""

    code = "bad_signature"


class ExpiredError(VerificationError):
    """`exp` has passed (plus the configured leeway)."""

    code = "expired"


class NotYetValidError(VerificationError):
    """`nbf` or `iat` lies further in the future than the allowed clock skew."""

    code = "not_yet_valid"


class BadIssuerError(VerificationError):
    """`iss` is not exactly the configured issuer."""

    code = "bad_issuer"


class BadAudienceError(VerificationError):
    """`aud` does not name the configured audience."""

    code = "bad_audience"


class CritError(VerificationError):
    """The header has `crit`: we understand no extension, so none may be critical."""

    code = "crit"


class ForbiddenHeaderError(VerificationError):
    """The header names a key or key location (`jku`, `x5u`, `jwk`, `x5c`): never followed."""

    code = "forbidden_header"


class RevokedError(VerificationError):
    """The token was issued before the account's revocation `not_before`."""

    code = "revoked"


class JwksUnavailableError(VerificationError):
    """No key could be fetched yet (the JWKS is unreachable and nothing is cached)."""

    code = "jwks_unavailable"


# --- change events (events.verify_event) ---


class EventVerificationError(EntitlementsError):
    """A change event that must be ignored (answer 400)."""

    code = "bad_event"


class MalformedEventError(EventVerificationError):
    """Missing or unreadable webhook headers, or a body that is not the event JSON."""

    code = "event_malformed"


class StaleEventError(EventVerificationError):
    """`webhook-timestamp` is outside the tolerance (a replay or a skewed clock)."""

    code = "event_timestamp"


class EventSignatureError(EventVerificationError):
    """No `v1` signature matches any of the secrets."""

    code = "event_signature"


# --- the HTTP API (EntitlementsClient) ---


class TransportError(EntitlementsError):
    """The service could not be reached (connection error or timeout), retries exhausted."""

    code = "unavailable"


class ApiError(EntitlementsError):
    """The service answered with an error; `problem` is its problem+json body (RFC 9457)."""

    code = "api_error"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{status} {self.title}: {self.detail}")


class BadRequestError(ApiError):
    """400 or 422: the request breaks a rule; `detail` says which."""

    code = "bad_request"


class UnauthorizedError(ApiError):
    """401: the service key is missing or unknown."""

    code = "unauthorized"


class ForbiddenError(ApiError):
    """403: the service key lacks the scope."""

    code = "forbidden"


class NotFoundError(ApiError):
    """404: no such resource."""

    code = "not_found"


class ServerError(ApiError):
    """5xx after the retries: the service is failing or unavailable."""

    code = "server_error"


def api_error(status: int, problem: dict[str, Any]) -> ApiError:
    """Return the error class instance matching an HTTP error status."""
    if status >= 500:
        return ServerError(status, problem)
    kind = {400: BadRequestError, 422: BadRequestError, 401: UnauthorizedError,
            403: ForbiddenError, 404: NotFoundError}.get(status, ApiError)  # fmt: skip
    return kind(status, problem)
