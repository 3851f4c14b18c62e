"""The Python SDK (clients/python) against the real service: `entitlements serve` in production
mode issues tokens through the token API, the SDK verifies them and refuses forgeries."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from entitlements.migrate import upgrade
from entitlements_client import EntitlementsClient, TokenVerifier, errors
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.serve import cli, create_key, production_env, serve

ISSUER = "https://entitlements.magazine.test"
READER = "reader-1"

pytestmark = pytest.mark.slow


@dataclass
class Service:
    url: str
    key: str
    read_only_key: str


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A production server on its own PostgreSQL database, READER holding `comment`."""
    database_url = _create_postgres_database()
    try:
        upgrade(database_url)
        folder = tmp_path_factory.mktemp("client-python")
        env = production_env(
            database_url, folder / "instance", ENTITLEMENTS_TOKEN_AUDIENCES="site,comments"
        )
        cli(env, "signing-keys", "rotate")
        key = create_key(env, "comments", "tokens:issue", "entitlements:read")
        read_only = create_key(env, "reader", "entitlements:read")
        cli(env, "grants", "add", READER, "--feature", "comment", "--reason", "e2e")
        with serve(env, folder, workers=1) as served:
            yield Service(served.url, key, read_only)
    finally:
        _drop_postgres_database(database_url)


@pytest.fixture
def client(service: Service) -> EntitlementsClient:
    return EntitlementsClient(service.url, service.key, timeout=10, retries=1)


@pytest.fixture
def verifier(service: Service) -> TokenVerifier:
    return TokenVerifier(f"{service.url}/.well-known/jwks.json", ISSUER, "comments")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_issued_token_verifies_with_the_sdk(
    client: EntitlementsClient, verifier: TokenVerifier
) -> None:
    issued = client.token(READER, audience="comments")
    entitlements = verifier.verify(issued.token)
    assert entitlements.account_id == READER
    assert entitlements.has("comment")
    assert not entitlements.has("archive")
    assert entitlements.expires_at == issued.expires_at
    assert timedelta(0) < entitlements.expires_at - entitlements.issued_at <= timedelta(days=1)


def test_check_answer_matches_the_token(client: EntitlementsClient) -> None:
    access = client.check(READER)
    assert access.has("comment")
    assert access.sources[0].source == "comp"
    assert client.policy().comment_edit_window == timedelta(minutes=5)
    assert client.handoff(READER).url.startswith(ISSUER)


def test_forged_tokens_are_refused(client: EntitlementsClient, verifier: TokenVerifier) -> None:
    genuine = client.token(READER, audience="comments").token
    head, payload, signature = genuine.split(".")
    claims = json.loads(unb64(payload))

    upgraded = b64(json.dumps({**claims, "features": ["comment", "archive"]}).encode())
    with pytest.raises(errors.BadSignatureError):
        verifier.verify(f"{head}.{upgraded}.{signature}")

    none_head = b64(json.dumps({**json.loads(unb64(head)), "alg": "none"}).encode())
    with pytest.raises(errors.BadAlgorithmError):
        verifier.verify(f"{none_head}.{payload}.")

    # Signed by an attacker's key under the service's real kid.
    attacker = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(
        attacker.sign(f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    )
    with pytest.raises(errors.BadSignatureError):
        verifier.verify(f"{head}.{payload}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")

    # A genuine token for another audience (the default, `site`) is not ours.
    with pytest.raises(errors.BadAudienceError):
        verifier.verify(client.token(READER).token)


def test_revocation_refuses_earlier_tokens(
    client: EntitlementsClient, verifier: TokenVerifier
) -> None:
    token = client.token(READER, audience="comments").token
    verifier.revoke(READER, time.time() + 1)
    with pytest.raises(errors.RevokedError):
        verifier.verify(token)


def test_api_errors_are_typed_with_their_problem(service: Service) -> None:
    with pytest.raises(errors.UnauthorizedError) as unauthorized:
        EntitlementsClient(service.url, "ent_sk_" + "x" * 43, retries=0).check(READER)
    assert unauthorized.value.problem["status"] == 401
    with pytest.raises(errors.ForbiddenError) as forbidden:
        EntitlementsClient(service.url, service.read_only_key, retries=0).token(READER)
    assert forbidden.value.problem["status"] == 403
    with pytest.raises(errors.BadRequestError):
        EntitlementsClient(service.url, service.key, retries=0).token(READER, audience="ads")
