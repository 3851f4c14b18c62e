"""The JOSE pieces the verifier needs, on `cryptography` alone: strict base64url and JSON,
public JWKs of an allow-listed algorithm, and signature checks."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# What each algorithm needs of its key (RFC 7518 section 3, RFC 8037): (kty, crv).
# HS* and `none` are absent on purpose: a public key must never become an HMAC secret.
ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", "Ed25519"),
    "RS256": ("RSA", None),
}
_CURVES: dict[str, tuple[ec.EllipticCurve, hashes.HashAlgorithm, int]] = {
    "P-256": (ec.SECP256R1(), hashes.SHA256(), 32),
    "P-384": (ec.SECP384R1(), hashes.SHA384(), 48),
}
_MIN_RSA_BITS = 2048
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Tokens, JWKS and events nest a few levels; deeper is refused (the Node SDK has the same limit).
MAX_JSON_DEPTH = 32
# Members of private or symmetric JWKs: a JWKS entry carrying one is a leak, never a key to use.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Jwk:
    """A published public key: its kid, algorithm and key object."""

    kid: str
    alg: str
    key: PublicKey


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing any other character (ValueError)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Parsers disagree on which duplicate wins: refuse rather than guess (RFC 7515 5.2).
        raise ValueError("duplicate member")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(data: bytes) -> dict[str, Any]:
    """Parse strict UTF-8 JSON (no BOM, duplicate member, NaN) into an object, else ValueError."""
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: object) -> int:
    """Return how many arrays and objects nest in `value` (an object of scalars: 1)."""
    deepest, pending = 0, [(value, 1)]
    while pending and deepest <= MAX_JSON_DEPTH:
        item, level = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
    return deepest


def _int(jwk: dict[str, Any], member: str) -> int:
    return int.from_bytes(b64url_decode(str(jwk[member])), "big")


def parse_jwk(jwk: dict[str, Any], allowed: frozenset[str]) -> Jwk | None:
    """Return the usable public key of a JWKS entry, or None to skip it."""
    kid, alg, kty = jwk.get("kid"), jwk.get("alg"), jwk.get("kty")
    if not isinstance(kid, str) or not isinstance(alg, str) or alg not in allowed:
        return None  # no kid, or another algorithm: never used
    if PRIVATE_MEMBERS & jwk.keys() or jwk.get("use", "sig") != "sig":
        return None  # private material (a leak) or an encryption key
    want_kty, want_crv = ALGORITHMS[alg]
    if kty != want_kty or (want_crv is not None and jwk.get("crv") != want_crv):
        return None
    try:
        return Jwk(kid, alg, _public_key(jwk, str(kty)))
    except (KeyError, ValueError, TypeError):
        return None


def _public_key(jwk: dict[str, Any], kty: str) -> PublicKey:
    if kty == "EC":
        curve, _, size = _CURVES[str(jwk["crv"])]
        x, y = b64url_decode(str(jwk["x"])), b64url_decode(str(jwk["y"]))
        if len(x) != size or len(y) != size:
            raise ValueError("bad coordinate length")
        # Raises ValueError for a point off the curve (invalid-curve attacks).
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
        ).public_key()
    if kty == "OKP":
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk["x"])))
    key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
    if key.key_size < _MIN_RSA_BITS:
        raise ValueError("RSA key too small")
    return key


def signature_valid(jwk: Jwk, signing_input: bytes, signature: bytes) -> bool:
    """Return whether `signature` (JWS form) over `signing_input` verifies with `jwk`."""
    key = jwk.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            _, digest, size = _CURVES[ALGORITHMS[jwk.alg][1] or ""]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signing_input)
        else:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
