"""Tokens from the API verify with jwcrypto (not PyJWT) against the JWKS; forgeries fail."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from jwcrypto import jwk
from jwcrypto import jwt as jwcrypto_jwt
from jwcrypto.common import JWException

from entitlements import db
from entitlements.tokens.keys import rotate
from tests.conftest import FakeClock, Keys
from tests.factories import ACTOR, add_subscription, ban, grant
from tests.support.responses import json_object

ISSUE = "tokens:issue"
ISSUER = "http://localhost:8000"


def b64json(part: str) -> dict[str, Any]:
    """Decode one base64url JSON segment of a compact JWS."""
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify(token: str, jwks: dict[str, Any], *, audience: str = "site") -> dict[str, Any]:
    """Verify strictly, as a site service must: pinned alg, kid, typ, iss, aud, exp."""
    header = b64json(token.split(".", maxsplit=1)[0])
    if header.get("alg") != "ES256" or header.get("typ") != "entitlements+jwt":
        raise ValueError(f"rejected header {header}")
    key = jwk.JWKSet.from_json(json.dumps(jwks)).get_key(header.get("kid", ""))
    if key is None:
        raise ValueError("unknown kid")
    checked = jwcrypto_jwt.JWT(
        jwt=token,
        key=key,
        algs=["ES256"],
        expected_type="JWS",
        check_claims={
            "iss": ISSUER,
            "aud": audience,
            "exp": None,
            "iat": None,
            "jti": None,
            "sub": None,
        },
    )
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


@pytest.fixture
def real_time(clock: FakeClock) -> FakeClock:
    """Put the fake clock at the wall clock: jwcrypto checks `exp` against real time."""
    clock.now = datetime.now(UTC).replace(microsecond=0)
    return clock


def issue(client: FlaskClient, keys: Keys, account: str = "reader-1", **body: Any) -> Any:
    return client.post(
        f"/v1/accounts/{account}/tokens", headers=keys.header(ISSUE), json=body or None
    )


def test_issued_token_verifies_against_the_jwks_with_an_independent_library(
    app: Flask, client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    add_subscription(app, "reader-1", now=real_time.now)
    response = issue(client, keys)
    assert response.status_code == 201
    jwks = json_object(client.get("/.well-known/jwks.json"))
    claims = verify(json_object(response)["token"], jwks)
    header = b64json(response.json["token"].split(".")[0])
    assert header == {"alg": "ES256", "kid": jwks["keys"][0]["kid"], "typ": "entitlements+jwt"}
    assert claims["sub"] == "reader-1"
    assert claims["aud"] == "site"
    assert claims["iss"] == ISSUER
    assert claims["features"] == ["ad_free", "archive", "comment", "digital_edition"]
    assert claims["plan"] == "plus"
    assert claims["exp"] - claims["iat"] == 300
    assert response.json["expires_at"] == datetime.fromtimestamp(claims["exp"], UTC).isoformat(
        timespec="seconds"
    ).replace("+00:00", "Z")
    assert set(claims) == {"iss", "sub", "aud", "iat", "exp", "jti", "features", "plan"}


def test_every_token_has_a_unique_jti(
    client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    header = keys.header(ISSUE)
    jtis = {
        b64json(
            json_object(client.post("/v1/accounts/a/tokens", headers=header))["token"].split(".")[1]
        )["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20


def test_token_never_outlives_the_answer(
    app: Flask, client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    grant(
        app, "reader-2", "comment", now=real_time.now, ends_at=real_time.now + timedelta(seconds=90)
    )
    token = issue(client, keys, "reader-2").json["token"]
    claims = b64json(token.split(".")[1])
    assert claims["features"] == ["comment"]
    assert claims["exp"] == int((real_time.now + timedelta(seconds=90)).timestamp())


def test_ttl_is_configurable(make_app: Callable[..., Flask], real_time: FakeClock) -> None:
    app = make_app(TOKEN_TTL="60s")
    client = app.test_client()
    token = issue(client, Keys(app)).json["token"]
    claims = b64json(token.split(".")[1])
    assert claims["exp"] - claims["iat"] == 60


def test_banned_reader_token_lacks_comment(
    app: Flask, client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    add_subscription(app, "reader-3", now=real_time.now)
    ban(app, "reader-3", now=real_time.now)
    claims = verify(
        json_object(issue(client, keys, "reader-3"))["token"],
        json_object(client.get("/.well-known/jwks.json")),
    )
    assert claims["features"] == ["ad_free", "archive", "digital_edition"]


def test_audience_must_be_in_the_allow_list(
    make_app: Callable[..., Flask], real_time: FakeClock
) -> None:
    app = make_app(TOKEN_AUDIENCES="comments,archive", DEFAULT_AUDIENCE="archive")
    client, keys = app.test_client(), Keys(app)
    assert b64json(issue(client, keys).json["token"].split(".")[1])["aud"] == "archive"
    named = issue(client, keys, audience="comments").json["token"]
    assert verify(named, json_object(client.get("/.well-known/jwks.json")), audience="comments")
    refused = issue(client, keys, audience="ads")
    assert refused.status_code == 400
    assert refused.mimetype == "application/problem+json"
    assert "comments, archive" in refused.json["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"audience": "site", "features": ["all"]}', "unknown field"),
        (b"[1, 2]", "JSON object"),
        (b"not json", "JSON object"),
        (b'{"audience": 5}', "string"),
    ],
)
def test_bad_bodies_are_400_and_issue_nothing(
    client: FlaskClient, keys: Keys, body: bytes, detail: str
) -> None:
    response = client.post(
        "/v1/accounts/a/tokens",
        data=body,
        headers={**keys.header(ISSUE), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert detail in json_object(response)["detail"]


def test_token_endpoint_needs_its_scope(client: FlaskClient, keys: Keys) -> None:
    assert client.post("/v1/accounts/a/tokens").status_code == 401
    forbidden = client.post("/v1/accounts/a/tokens", headers=keys.header("entitlements:read"))
    assert forbidden.status_code == 403
    assert client.post("/v1/accounts/bad id/tokens", headers=keys.header(ISSUE)).status_code == 400


def test_jwks_holds_public_parts_only_with_cache_control(
    client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    issue(client, keys)
    response = client.get("/.well-known/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (key,) = json_object(response)["keys"]
    assert {"kid", "kty", "alg", "use"} <= set(key)
    assert key["use"] == "sig"
    assert key["alg"] == "ES256"
    assert "d" not in key
    assert "PRIVATE" not in response.get_data(as_text=True)


def test_private_keys_are_encrypted_at_rest(
    app: Flask, client: FlaskClient, keys: Keys, real_time: FakeClock
) -> None:
    from sqlalchemy import text

    issue(client, keys)
    with app.app_context():
        stored = (
            db.session().execute(text("SELECT private_key_encrypted FROM signing_keys")).scalar()
        )
    assert stored is not None
    assert "PRIVATE KEY" not in stored
    assert "PRIVATE KEY" not in base64.urlsafe_b64decode(stored + "==").decode("latin-1")


# ---- forgeries ------------------------------------------------------------------------


@pytest.fixture
def genuine(
    app: Flask, client: FlaskClient, keys: Keys, real_time: FakeClock
) -> tuple[str, dict[str, Any]]:
    """A genuine token for a reader with no features, and the JWKS."""
    token = str(json_object(issue(client, keys, "mallory"))["token"])
    return token, json_object(client.get("/.well-known/jwks.json"))


def test_the_genuine_token_verifies(genuine: tuple[str, dict[str, Any]]) -> None:
    token, jwks = genuine
    assert verify(token, jwks)["features"] == []


def forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature) if signature else ''}"


def test_alg_none_is_rejected(genuine: tuple[str, dict[str, Any]]) -> None:
    token, jwks = genuine
    claims = {**b64json(token.split(".")[1]), "features": ["comment"]}
    header = {**b64json(token.split(".")[0]), "alg": "none"}
    with pytest.raises((ValueError, JWException)):
        verify(forged(header, claims), jwks)


def test_hs256_signed_with_the_public_key_is_rejected(genuine: tuple[str, dict[str, Any]]) -> None:
    token, jwks = genuine
    public = jwk.JWK(**jwks["keys"][0]).export_to_pem()
    claims = {**b64json(token.split(".")[1]), "features": ["comment"]}
    header = {**b64json(token.split(".")[0]), "alg": "HS256"}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    import hashlib
    import hmac

    signature = hmac.new(public, signing_input, hashlib.sha256).digest()
    with pytest.raises((ValueError, JWException)):
        verify(f"{signing_input.decode()}.{b64(signature)}", jwks)
    # Even a verifier that skipped our header check must refuse: jwcrypto pins ES256.
    key = jwk.JWKSet.from_json(json.dumps(jwks)).get_key(header["kid"])
    with pytest.raises(JWException):
        jwcrypto_jwt.JWT(jwt=f"{signing_input.decode()}.{b64(signature)}", key=key, algs=["ES256"])


def test_tampered_claims_are_rejected(genuine: tuple[str, dict[str, Any]]) -> None:
    token, jwks = genuine
    header, _, signature = token.split(".")
    claims = {**b64json(token.split(".")[1]), "features": ["comment"], "plan": "plus"}
    with pytest.raises(JWException):
        verify(f"{header}.{b64(claims)}.{signature}", jwks)


def test_token_signed_by_an_unknown_key_is_rejected(genuine: tuple[str, dict[str, Any]]) -> None:
    token, jwks = genuine
    claims = {**b64json(token.split(".")[1]), "features": ["comment"]}
    stranger = ec.generate_private_key(ec.SECP256R1())
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for kid in ("not-a-known-kid", jwks["keys"][0]["kid"]):
        fake = pyjwt.encode(
            claims, pem, algorithm="ES256", headers={"kid": kid, "typ": "entitlements+jwt"}
        )
        with pytest.raises((ValueError, JWException)):
            verify(fake, jwks)


def test_wrong_issuer_or_audience_is_rejected(
    make_app: Callable[..., Flask], real_time: FakeClock
) -> None:
    other = make_app(ISSUER="https://evil.example", TOKEN_AUDIENCES="site,ads")
    client, keys = other.test_client(), Keys(other)
    wrong_iss = issue(client, keys).json["token"]
    with pytest.raises(JWException):
        verify(wrong_iss, json_object(client.get("/.well-known/jwks.json")))
    same_issuer = make_app(TOKEN_AUDIENCES="site,ads")
    ads = issue(same_issuer.test_client(), Keys(same_issuer), audience="ads").json["token"]
    with pytest.raises(JWException):
        verify(
            ads,
            json_object(same_issuer.test_client().get("/.well-known/jwks.json")),
            audience="site",
        )


def test_expired_token_is_rejected(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    token = issue(client, keys).json["token"]
    with pytest.raises(JWException, match=r"[Ee]xpired"):
        verify(token, json_object(client.get("/.well-known/jwks.json")))


# ---- rotation --------------------------------------------------------------------------


def _kid(token: str) -> str:
    return str(b64json(token.split(".", maxsplit=1)[0])["kid"])


def rotate_key(app: Flask, clock: FakeClock) -> str:
    """Rotate in a key that signs ten minutes from now; return its kid."""
    with app.app_context():
        rt = app.extensions["entitlements"]
        kid = rotate(
            db.session(),
            secret_key=rt.config.secret_key,
            now=clock.now,
            publish_delay=timedelta(minutes=10),
            actor=ACTOR,
        ).kid
        db.session().commit()
    return kid


def test_rotation_publishes_at_once_signs_after_the_delay_and_retires_after_ttl(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    settings = {"SIGNING_KEY_PUBLISH_DELAY": "10m", "TOKEN_TTL": "300"}
    app = make_app(**settings)
    first_kid = _kid(issue(app.test_client(), Keys(app)).json["token"])

    second_kid = rotate_key(app, clock)

    def state() -> tuple[str, set[str]]:
        # A fresh app is a fresh process: no cached key ring.
        fresh = make_app(**settings)
        client = fresh.test_client()
        kid = _kid(issue(client, Keys(fresh)).json["token"])
        published = {k["kid"] for k in json_object(client.get("/.well-known/jwks.json"))["keys"]}
        return kid, published

    assert state() == (first_kid, {first_kid, second_kid})
    clock.advance(minutes=10)
    assert state() == (second_kid, {first_kid, second_kid})
    clock.advance(seconds=300 + 30 - 1)
    assert state() == (second_kid, {first_kid, second_kid})
    clock.advance(seconds=1)
    assert state() == (second_kid, {second_kid})


def test_one_process_switches_signer_exactly_when_the_next_key_activates(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    # The key ring remembers its signer between tokens; the remembered one must not outlive
    # its turn, whichever way the clock moves.
    app = make_app(SIGNING_KEY_PUBLISH_DELAY="10m")
    client, keys = app.test_client(), Keys(app)
    first_kid = _kid(issue(client, keys).json["token"])
    second_kid = rotate_key(app, clock)
    with app.app_context():
        app.extensions["entitlements"].keyring.refresh(db.session())
    start = clock.now
    assert _kid(issue(client, keys).json["token"]) == first_kid
    clock.advance(minutes=10, microseconds=-1)
    assert _kid(issue(client, keys).json["token"]) == first_kid
    clock.advance(microseconds=1)
    assert _kid(issue(client, keys).json["token"]) == second_kid
    clock.now = start
    assert _kid(issue(client, keys).json["token"]) == first_kid
