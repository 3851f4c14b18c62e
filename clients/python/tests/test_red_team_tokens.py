"""Red-team findings on token verification (1, 9, 11): no crash on any header or claim, one
documented order of checks shared with the Node SDK (README, "Verification order")."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from conftest import Clock
from entitlements_client import TokenVerifier, errors
from entitlements_client.flask import requires_feature, use_verifier
from forge import (
    AUDIENCE,
    ISSUER,
    KID,
    NOW,
    Site,
    b64,
    b64json,
    claims,
    es256,
    es256_input,
    header,
    public_jwk,
)


def code_of(verifier: TokenVerifier, token: str) -> str:
    """Return the refusal code, failing on anything but a VerificationError."""
    try:
        verifier.verify(token)
    except errors.VerificationError as error:
        return error.code
    return "accepted"


def raw(key: ec.EllipticCurvePrivateKey, head: bytes, body: bytes) -> str:
    """A validly signed token of exactly these header and payload bytes."""
    return es256_input(key, f"{b64(head)}.{b64(body)}")


# --- finding 1: a non-string alg (or kid, typ) is refused, never a TypeError (Flask 500) ---

JSON_VALUES: list[Any] = [None, True, 1, 1.5, "ES256", [], ["ES256"], {}, {"a": 1}]


def test_every_json_type_in_alg_kid_typ_is_a_verification_error(verifier: TokenVerifier) -> None:
    codes = set()
    for alg, kid, typ in itertools.product(JSON_VALUES, repeat=3):
        head = {"alg": alg, "kid": kid, "typ": typ}
        codes.add(code_of(verifier, f"{b64json(head)}.{b64json({'a': 1})}.AAAA"))
    assert "accepted" not in codes
    assert codes <= {"bad_alg", "bad_typ", "unknown_kid", "bad_signature", "malformed"}


@pytest.mark.parametrize("alg", [["ES256"], {"ES256": 1}, 256, None, True])
def test_non_string_alg_is_bad_alg(verifier: TokenVerifier, alg: object) -> None:
    token = f"{b64json(header(alg=alg))}.{b64json(claims())}.AAAA"
    assert code_of(verifier, token) == "bad_alg"


def test_list_alg_through_flask_is_401_not_500(verifier: TokenVerifier) -> None:
    app = Flask(__name__)
    use_verifier(app, verifier)

    @app.get("/c")
    @requires_feature("comment")
    def view() -> str:
        return "ok"

    token = f"{b64json(header(alg=['ES256']))}.e30.AAAA"
    answer = app.test_client().get("/c", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json is not None
    assert answer.json["code"] == "bad_alg"


@pytest.mark.parametrize(
    "head",
    [
        b"[" * 5000 + b"]" * 5000,  # RecursionError inside json
        b'{"alg":"ES256","n":' + b"9" * 5000 + b"}",  # int() digit limit
        b'{"alg":"ES256","x":"\\ud800"}',  # a lone surrogate escape: still a JSON string
    ],
)
def test_hostile_json_is_malformed_or_refused_never_a_crash(
    verifier: TokenVerifier, head: bytes
) -> None:
    token = f"{b64(head)}.{b64json(claims())}.AAAA"
    assert code_of(verifier, token) in {"malformed", "bad_typ", "too_large"}


# --- finding 9: one rule for exp/iat/nbf, sub/jti, BOM, duplicates and kid length ---


@pytest.mark.parametrize(
    "value",
    [10**20, 2**63, 1e20, 1e300, 2**53, -1, -(10**15), 0.5, NOW + 0.5, "1800000300", True, None],
)
@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_time_claims_must_be_integers_in_0_to_2_53(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, name: str, value: object
) -> None:
    body = claims() | {name: value}  # None stays: a present null is checked too
    assert code_of(verifier, es256(key, header(), body)) == "malformed"


def test_exp_1e400_is_malformed_not_never_expiring(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    body = json.dumps(claims()).replace(f'"exp": {int(NOW) + 290}', '"exp": 1e400')
    assert "1e400" in body
    assert code_of(verifier, raw(key, json.dumps(header()).encode(), body.encode())) == "malformed"


def test_integral_float_times_and_the_largest_exp_are_accepted(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    result = verifier.verify(es256(key, header(), claims(iat=NOW - 10.0, exp=2**53 - 1)))
    assert result.issued_at == datetime.fromtimestamp(NOW - 10, UTC)
    # Beyond what a datetime holds: shown as its last second, never an OverflowError.
    assert result.expires_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("changes", [{"sub": ""}, {"jti": ""}, {"sub": 7}, {"jti": None}])
def test_sub_and_jti_are_non_empty_strings(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, changes: dict[str, object]
) -> None:
    body = claims() | changes
    assert code_of(verifier, es256(key, header(), body)) == "malformed"


@pytest.mark.parametrize("part", ["header", "payload"])
def test_bom_is_malformed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, part: str
) -> None:
    head, body = json.dumps(header()).encode(), json.dumps(claims()).encode()
    bom = "\ufeff".encode()
    token = raw(key, bom + head, body) if part == "header" else raw(key, head, bom + body)
    assert code_of(verifier, token) == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        '{"sub":"reader-1","sub":"admin"}',
        '{"features":{"a":1,"a":2}}',  # nested objects too
    ],
)
def test_duplicate_members_are_malformed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, body: str
) -> None:
    merged = json.dumps(claims())[:-1] + "," + body[1:]
    assert code_of(verifier, raw(key, json.dumps(header()).encode(), merged.encode())) == (
        "malformed"
    )


def test_kid_is_limited_to_128_utf8_bytes(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey
) -> None:
    fits, too_long = "\U0001f511" * 32, "\U0001f511" * 33  # 128 and 132 bytes, 32/33 chars
    site.serve_jwks(public_jwk(key, fits), public_jwk(key, too_long))
    verifier = TokenVerifier(
        f"{site.url}/jwks.json", ISSUER, AUDIENCE, clock=clock, monotonic=clock
    )
    assert verifier.verify(es256(key, header(kid=fits), claims())).account_id == "reader-1"
    assert code_of(verifier, es256(key, header(kid=too_long), claims())) == "unknown_kid"
    assert code_of(verifier, es256(key, header(kid="\U0001f511" * 100), claims())) == (
        "unknown_kid"
    )


# --- finding 11: the documented order decides the code of a token with several defects ---


@pytest.mark.parametrize(
    ("head", "body", "code"),
    [
        ({}, {"exp": int(NOW) - 10, "nbf": int(NOW) + 1000}, "expired"),
        ({}, {"jti": None, "iss": "https://evil"}, "malformed"),
        ({}, {"sub": None, "aud": "ads"}, "malformed"),
        ({}, {"exp": None, "iss": "https://evil"}, "malformed"),
        ({}, {"iss": "https://evil", "aud": "ads"}, "bad_issuer"),
        ({}, {"aud": "ads", "exp": int(NOW) - 10}, "bad_audience"),
        ({}, {"iat": int(NOW) + 1000, "exp": int(NOW) + 2000}, "not_yet_valid"),
        ({"jku": "https://evil/jwks", "alg": "HS256", "crit": ["x"]}, {}, "forbidden_header"),
        ({"crit": [], "alg": "none"}, {}, "crit"),
        ({"alg": "HS256", "typ": "JWT"}, {}, "bad_alg"),
        ({"typ": "JWT", "kid": "k" * 200}, {}, "bad_typ"),
        ({"kid": "k" * 129}, {"exp": "soon"}, "unknown_kid"),
    ],
)
def test_first_failing_step_names_the_code(
    verifier: TokenVerifier,
    key: ec.EllipticCurvePrivateKey,
    head: dict[str, Any],
    body: dict[str, Any],
    code: str,
) -> None:
    assert code_of(verifier, es256(key, header(**head), claims(**body))) == code


def test_bad_signature_comes_before_the_claims(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    genuine = es256(key, header(), claims(exp=None, iss="x"))
    forged = genuine[: genuine.rindex(".")] + "." + b64(bytes(64))
    assert code_of(verifier, forged) == "bad_signature"


def test_unparseable_payload_comes_before_the_header_checks(verifier: TokenVerifier) -> None:
    token = f"{b64json(header(jku='https://evil'))}.{b64(b'not json')}.AAAA"
    assert code_of(verifier, token) == "malformed"


def test_invalid_utf8_in_the_header_is_malformed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    head = b'{"alg":"ES256","kid":"k\xff","typ":"entitlements+jwt"}'
    assert code_of(verifier, raw(key, head, json.dumps(claims()).encode())) == "malformed"


def test_size_counts_utf8_bytes(verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey) -> None:
    good = es256(key, header(), claims())
    padded = good + "é" * (8192 - len(good))  # 8192 characters, more bytes
    assert len(padded) == 8192
    assert code_of(verifier, padded) == "too_large"
    assert code_of(verifier, good + "e" * (8192 - len(good))) != "too_large"


def test_a_key_of_another_type_under_the_kid_is_unknown_kid(
    site: Site, verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    rsa_like = {"kty": "RSA", "n": b64(b"\x01" * 256), "e": "AQAB", "kid": KID, "alg": "ES256"}
    site.serve_jwks(rsa_like)
    assert code_of(verifier, es256(key, header(), claims())) == "unknown_kid"


def test_json_nested_over_32_levels_is_malformed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    def nested(levels: int) -> dict[str, Any]:
        # The claims object is level 1; `pad` adds levels - 1 arrays.
        value: Any = []
        for _ in range(levels - 2):
            value = [value]
        return claims(pad=value)

    assert verifier.verify(es256(key, header(), nested(32)))
    assert code_of(verifier, es256(key, header(), nested(33))) == "malformed"
