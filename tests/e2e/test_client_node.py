"""The Node SDK (clients/node) verifies tokens of the real service, and refuses forged ones.

The service runs in production mode on PostgreSQL; tokens come from the token API; a small
node script (clients/node/test/e2e/verify.mjs) fetches the JWKS and verifies each one.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from entitlements.migrate import upgrade
from entitlements.tokens.issue import sign_jws
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.serve import cli, create_key, production_env, request, serve

NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
SCRIPT = NODE_CLIENT / "test" / "e2e" / "verify.mjs"
ISSUER = "https://entitlements.magazine.test"  # production_env's
ACCOUNT = "reader-1"

pytestmark = pytest.mark.slow


def node_or_skip() -> str:
    """Return the node executable, or skip with what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_CLIENT / "node_modules" / "jose").is_dir():
        pytest.skip("clients/node/node_modules is missing: run `npm ci` in clients/node")
    return node


@dataclass
class Service:
    url: str
    keys: dict[str, str]

    @property
    def jwks_url(self) -> str:
        return self.url + "/.well-known/jwks.json"

    def token(self, audience: str) -> str:
        """Issue a real token for ACCOUNT through the token API."""
        status, body = request(
            self.url,
            "POST",
            f"/v1/accounts/{ACCOUNT}/tokens",
            self.keys["tokens:issue"],
            {"audience": audience},
        )
        assert status == 201, body
        return str(json.loads(body)["token"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A production server with one signing key, two audiences and a comment grant."""
    node_or_skip()
    database_url = _create_postgres_database()
    try:
        upgrade(database_url)
        folder = tmp_path_factory.mktemp("node-client")
        env = production_env(
            database_url, folder / "instance", ENTITLEMENTS_TOKEN_AUDIENCES="site,ads"
        )
        cli(env, "signing-keys", "rotate")
        keys = {
            "tokens:issue": create_key(env, "node-sdk", "tokens:issue"),
            "admin": create_key(env, "node-sdk-admin", "admin"),
        }
        with serve(env, folder, workers=1) as served:
            grant = {"account_id": ACCOUNT, "feature": "comment", "reason": "node e2e"}
            status, body = request(served.url, "POST", "/v1/admin/grants", keys["admin"], grant)
            assert status == 201, body
            yield Service(served.url, keys)
    finally:
        _drop_postgres_database(database_url)


def verify(service: Service, token: str, **env: str) -> dict[str, Any]:
    """Run the node script on one token; return its JSON answer."""
    settings = {"JWKS_URL": service.jwks_url, "ISSUER": ISSUER, "AUDIENCE": "site", **env}
    done = subprocess.run(
        [node_or_skip(), str(SCRIPT)],
        env={"PATH": os.environ.get("PATH", ""), **settings, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["ok"] is (done.returncode == 0)
    return answer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def enc(value: object) -> str:
    """Return the base64url JSON of a JWS header or payload."""
    return b64(json.dumps(value).encode())


def unb64(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a compact JWS's header and claims (unverified)."""
    header, payload, _ = token.split(".")
    return unb64(header), unb64(payload)


def test_node_sdk_accepts_a_real_token(service: Service) -> None:
    token = service.token("site")
    answer = verify(service, token)
    assert answer["ok"], answer
    assert answer["accountId"] == ACCOUNT
    assert "comment" in answer["features"]
    assert answer["hasComment"] is True
    _, claims = parts(token)
    expires = datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00"))
    assert expires == datetime.fromtimestamp(claims["exp"], UTC)


def test_node_sdk_refuses_forged_variants_of_a_real_token(service: Service) -> None:
    token = service.token("site")
    header, claims = parts(token)
    head, payload, signature = token.split(".")
    stranger = ec.generate_private_key(ec.SECP256R1())
    more = {**claims, "features": [*claims["features"], "archive", "ad_free"]}
    forged = [
        # The real header and signature over a payload granting more.
        ("bad_signature", f"{head}.{enc(more)}.{signature}"),
        # The real kid, signed by a key the service never published.
        ("bad_signature", sign_jws(more, kid=header["kid"], key=stranger)),
        ("bad_alg", f"{enc({**header, 'alg': 'none'})}.{payload}."),
        ("bad_typ", f"{enc({**header, 'typ': 'JWT'})}.{payload}.{signature}"),
        ("forbidden_header", f"{enc({**header, 'jku': service.jwks_url})}.{payload}.{signature}"),
    ]
    for code, variant in forged:
        answer = verify(service, variant)
        assert not answer["ok"], (code, answer)
        assert answer["code"] == code, (code, answer)

    # A real token for another audience, and a real token checked against near-miss issuers.
    assert verify(service, service.token("ads"))["code"] == "bad_audience"
    assert verify(service, token, ISSUER=ISSUER.rsplit(".", 1)[0])["code"] == "bad_issuer"
    assert verify(service, token, ISSUER=ISSUER + "/")["code"] == "bad_issuer"
