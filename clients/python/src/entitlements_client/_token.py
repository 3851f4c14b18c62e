"""Reading a compact JWS and its claims, before any trust: every failure is MalformedTokenError
(or TokenTooLargeError), whatever a hostile token trips on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors
from ._jose import b64url_decode, json_object

MAX_TOKEN_BYTES = 8192
# Times are integral unix seconds below 2^53: exact in a double, so both SDKs read them alike.
MAX_TIME = 2**53


@dataclass(frozen=True)
class Parts:
    """The decoded pieces of a compact JWS; nothing in them is verified yet."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True)
class Claims:
    """The claims the verifier reads, present and of the right types."""

    iss: str
    audiences: list[str]
    sub: str
    jti: str
    iat: int
    exp: int
    nbf: int | None
    features: list[str]
    plan: str | None


def utf8_size(text: str) -> int:
    """Return the length of `text` in UTF-8 (a lone surrogate counts 3 bytes, as in Node)."""
    return len(text.encode("utf-8", "surrogatepass"))


def split(token: object) -> Parts:
    """Size-check and decode a compact JWS: header and payload must be strict JSON objects."""
    if not isinstance(token, str):
        raise errors.MalformedTokenError("the token is not a string")
    # Counted in characters first: a huge string is refused without encoding it.
    if len(token) > MAX_TOKEN_BYTES or utf8_size(token) > MAX_TOKEN_BYTES:
        raise errors.TokenTooLargeError(f"the token is over {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise errors.MalformedTokenError("not a compact JWS (three dot-separated parts)")
    try:
        header = json_object(b64url_decode(parts[0]))
        payload = json_object(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except Exception as error:  # whatever a hostile token trips on, it is "malformed"
        raise errors.MalformedTokenError(f"unreadable header, claims, encoding: {error}") from None
    # Base64url is ASCII, so the signing input is exactly the token's first two parts.
    return Parts(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _time(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1800000000.0 is the same number to a JavaScript reader
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TIME:
        raise errors.MalformedTokenError(f"{name} is missing or not an integer in [0, 2^53)")
    return value


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise errors.MalformedTokenError(f"{name} is missing or not a non-empty string")
    return value


def claims_of(payload: dict[str, Any]) -> Claims:
    """Check the presence and types of the claims (MalformedTokenError), not their values."""
    iss = payload.get("iss")
    if not isinstance(iss, str):
        raise errors.MalformedTokenError("iss is missing or not a string")
    audience = payload.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.MalformedTokenError("aud is missing or not a string or list of strings")
    features = payload.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise errors.MalformedTokenError("features is missing or not a list of strings")
    plan = payload.get("plan")
    if plan is not None and not isinstance(plan, str):
        raise errors.MalformedTokenError("plan is not a string")
    return Claims(
        iss=iss,
        audiences=audiences,
        sub=_string(payload, "sub"),
        jti=_string(payload, "jti"),
        iat=_time(payload, "iat"),
        exp=_time(payload, "exp"),
        nbf=_time(payload, "nbf") if "nbf" in payload else None,
        features=features,
        plan=plan,
    )
