"""The forged-token catalogue (issue 11, part 7): each forgery is refused, with its code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import Clock
from entitlements_client import TokenVerifier, errors
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
    hs256,
    local_site,
    new_key,
    public_jwk,
)

DUPLICATE_ALG = b64(b'{"alg":"ES256","kid":"key-1","typ":"entitlements+jwt","alg":"none"}')


def refused(verifier: TokenVerifier, token: str, kind: type[errors.VerificationError]) -> str:
    with pytest.raises(kind) as caught:
        verifier.verify(token)
    return caught.value.code


def test_genuine_token_verifies_into_typed_entitlements(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    result = verifier.verify(es256(key, header(), claims()))
    assert result.account_id == "reader-1"
    assert result.features == frozenset({"comment", "ad_free"})
    assert result.plan == "digital"
    assert result.has("comment")
    assert not result.has("archive")
    assert result.expires_at == datetime.fromtimestamp(NOW + 290, UTC)
    assert result.issued_at == datetime.fromtimestamp(NOW - 10, UTC)


def test_audience_list_naming_ours_is_accepted(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    token = es256(key, header(), claims(aud=["ads", AUDIENCE]))
    assert verifier.verify(token).account_id == "reader-1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(verifier: TokenVerifier, alg: str) -> None:
    token = f"{b64json(header(alg=alg))}.{b64json(claims())}."
    assert refused(verifier, token, errors.BadAlgorithmError) == "bad_alg"


def test_hs256_signed_with_the_public_key_pem_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    # PyJWT CVE-2022-29217: the public key used as an HMAC secret.
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hs256(pem, header(alg="HS256"), claims())
    assert refused(verifier, token, errors.BadAlgorithmError) == "bad_alg"


def test_hs256_signed_with_the_public_jwk_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    for secret in (json.dumps(public_jwk(key)).encode(), public_jwk(key)["x"].encode()):
        token = hs256(secret, header(alg="HS256"), claims())
        refused(verifier, token, errors.BadAlgorithmError)


def test_algorithm_not_matching_the_key_is_refused(
    site: Site, clock: Clock, key: ec.EllipticCurvePrivateKey
) -> None:
    # The ES256 key under this kid is no key for an ES384 token: unknown_kid (shared order).
    verifier = TokenVerifier(
        f"{site.url}/jwks.json",
        ISSUER,
        AUDIENCE,
        algorithms=("ES256", "ES384"),
        clock=clock,
        monotonic=clock,
    )
    token = es256(key, header(alg="ES384"), claims())
    assert refused(verifier, token, errors.UnknownKeyError) == "unknown_kid"


def test_unknown_kid_is_refused(verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(verifier, es256(key, header(kid="other"), claims()), errors.UnknownKeyError)


@pytest.mark.parametrize("kid", ["../../../etc/passwd", "/jwks.json?kid=1", "file:///etc/passwd"])
def test_path_like_kid_is_only_a_name(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, kid: str
) -> None:
    refused(verifier, es256(key, header(kid=kid), claims()), errors.UnknownKeyError)
    assert set(site.hits) == {"/jwks.json"}


@pytest.mark.parametrize("length", [129, 5000])
def test_huge_kid_is_refused_without_a_fetch(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, length: int
) -> None:
    refused(verifier, es256(key, header(kid="k" * length), claims()), errors.UnknownKeyError)
    assert sum(site.hits.values()) == 0


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_pointing_headers_are_refused_and_never_followed(
    verifier: TokenVerifier, site: Site, name: str
) -> None:
    attacker_key = new_key()
    with local_site() as attacker:
        attacker.serve_jwks(public_jwk(attacker_key, "evil"))
        pointer: object = {
            "jku": f"{attacker.url}/jwks.json",
            "x5u": f"{attacker.url}/cert.pem",
            "jwk": public_jwk(attacker_key, "evil"),
            "x5c": [b64(b"not a certificate")],
        }[name]
        token = es256(attacker_key, header(kid="evil", **{name: pointer}), claims())
        assert refused(verifier, token, errors.ForbiddenHeaderError) == "forbidden_header"
        assert sum(attacker.hits.values()) == 0
    assert sum(site.hits.values()) == 0


def test_missing_exp_is_refused(verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(verifier, es256(key, header(), claims(exp=None)), errors.MalformedTokenError)


@pytest.mark.parametrize("claim", ["iat", "sub", "jti", "features"])
def test_missing_required_claim_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, claim: str
) -> None:
    refused(verifier, es256(key, header(), claims(**{claim: None})), errors.MalformedTokenError)


@pytest.mark.parametrize("exp", [True, "1900000000", float("nan")])
def test_exp_that_is_not_a_number_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, exp: object
) -> None:
    # json.dumps writes NaN as `NaN`, which is not JSON: refused as malformed too.
    refused(verifier, es256(key, header(), claims(exp=exp)), errors.MalformedTokenError)


def test_token_five_seconds_past_exp_is_refused_without_leeway(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, site: Site, clock: Clock
) -> None:
    token = es256(key, header(), claims(exp=int(NOW) - 5))
    assert refused(verifier, token, errors.ExpiredError) == "expired"
    lenient = TokenVerifier(
        f"{site.url}/jwks.json", ISSUER, AUDIENCE, leeway=10, clock=clock, monotonic=clock
    )
    assert lenient.verify(token).account_id == "reader-1"


def test_token_at_exactly_exp_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    refused(verifier, es256(key, header(), claims(exp=int(NOW))), errors.ExpiredError)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_or_iat_in_the_future_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, claim: str
) -> None:
    token = es256(key, header(), claims(**{claim: int(NOW) + 61}))
    assert refused(verifier, token, errors.NotYetValidError) == "not_yet_valid"
    # Within the 60 s clock skew: accepted.
    assert verifier.verify(es256(key, header(), claims(**{claim: int(NOW) + 30})))


def test_leeway_over_sixty_seconds_is_not_configurable(site: Site) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(f"{site.url}/jwks.json", ISSUER, AUDIENCE, leeway=300)


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example",
        ISSUER + ".evil.example",
        ISSUER + "/",
        ISSUER[:-1],
        ISSUER.upper(),
    ],
)
def test_wrong_or_prefix_matching_issuer_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, iss: object
) -> None:
    token = es256(key, header(), claims(iss=iss))
    assert refused(verifier, token, errors.BadIssuerError) == "bad_issuer"


@pytest.mark.parametrize("aud", ["ads", AUDIENCE + "x", ["ads"], []])
def test_wrong_audience_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, aud: object
) -> None:
    token = es256(key, header(), claims(aud=aud))
    assert refused(verifier, token, errors.BadAudienceError) == "bad_audience"


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": None},
        {"iss": [ISSUER]},
        {"iss": 7},
        {"aud": None},
        {"aud": 7},
        {"aud": {AUDIENCE: True}},
        {"aud": [AUDIENCE, 7]},
        {"aud": [[AUDIENCE]]},
    ],
)
def test_missing_or_mistyped_issuer_or_audience_is_malformed(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, changes: dict[str, object]
) -> None:
    # Presence and types are checked before values (README, "Verification order").
    token = es256(key, header(), claims(**changes))
    assert refused(verifier, token, errors.MalformedTokenError) == "malformed"


@pytest.mark.parametrize("crit", [["exp"], ["b64"], []])
def test_crit_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, crit: list[str]
) -> None:
    assert refused(verifier, es256(key, header(crit=crit), claims()), errors.CritError) == "crit"


def test_tampered_payload_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    head, _, signature = es256(key, header(), claims(features=["comment"])).split(".")
    forged = f"{head}.{b64json(claims(features=['comment', 'archive']))}.{signature}"
    assert refused(verifier, forged, errors.BadSignatureError) == "bad_signature"


def test_token_signed_by_another_key_under_our_kid_is_refused(verifier: TokenVerifier) -> None:
    refused(verifier, es256(new_key(), header(), claims()), errors.BadSignatureError)


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "entitlements+JWT", None])
def test_validly_signed_token_of_another_typ_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, typ: str | None
) -> None:
    token = es256(key, header(typ=typ), claims())
    assert refused(verifier, token, errors.BadTypeError) == "bad_typ"


def test_token_issued_before_the_accounts_not_before_is_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    old = es256(key, header(), claims(iat=int(NOW) - 10))
    verifier.revoke("reader-1", NOW - 5)
    assert refused(verifier, old, errors.RevokedError) == "revoked"
    # Issued after the revocation: accepted; another account: untouched.
    assert verifier.verify(es256(key, header(), claims(iat=int(NOW) - 4)))
    assert verifier.verify(es256(key, header(), claims(sub="reader-2", iat=int(NOW) - 10)))
    # An older revocation arriving late does not undo the newer one.
    verifier.revoke("reader-1", datetime.fromtimestamp(NOW - 60, UTC))
    refused(verifier, old, errors.RevokedError)


def test_token_over_eight_kib_is_refused_before_parsing(
    verifier: TokenVerifier, site: Site
) -> None:
    assert refused(verifier, "a" * 8193, errors.TokenTooLargeError) == "too_large"
    assert sum(site.hits.values()) == 0


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        f"{b64json(header())}.{b64json(claims())}.sig+/=",
        f"{b64(b'not json')}.{b64json(claims())}.",
        f"{b64json(['alg'])}.{b64json(claims())}.",
        f"{DUPLICATE_ALG}.{b64json(claims())}.",
    ],
)
def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    assert refused(verifier, token, errors.MalformedTokenError) == "malformed"


def test_kid_is_required(verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey) -> None:
    refused(verifier, es256(key, header(kid=None), claims()), errors.UnknownKeyError)


def test_signed_claims_that_are_not_an_object_are_refused(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey
) -> None:
    head, _, _ = es256(key, header(), claims()).split(".")
    signing_input = f"{head}.{b64json(['reader-1'])}"
    token = es256(key, header(), claims())
    assert token.startswith(head)
    forged = es256_input(key, signing_input)
    refused(verifier, forged, errors.MalformedTokenError)


def test_kid_constant_is_what_the_site_serves(site: Site, key: ec.EllipticCurvePrivateKey) -> None:
    assert json.loads(site.body)["keys"] == [public_jwk(key, KID)]
