"""A local stand-in for the service's JWKS endpoint that counts its hits, and the tokens.

The verifier needs no running service: a thread serves the signing key's JWKS on 127.0.0.1
and counts every request, so the flood part can compare the fetches the SDK made with the
fetches the server saw.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://entitlements.magazine.example"
AUDIENCE = "comments"
KID = "bench-key-1"
TOKEN_TYPE = "entitlements+jwt"  # noqa: S105  (a JOSE `typ`, not a password)
# The shortest max-age the SDK honours: the cache also goes stale during a long flood, so both
# refetch paths (stale cache, unknown kid) are exercised under the one rate limit.
CACHE_CONTROL = "public, max-age=60"


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    """Return the JWK the service would publish for `key`."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x),
        "y": _b64(numbers.y),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }


def claims(account_id: str = "acct-bench-1", ttl: int = 3600) -> dict[str, Any]:
    """Claims shaped as the service issues them (tokens/issue.py), valid for `ttl` seconds."""
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": account_id,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "features": ["ad_free", "archive", "comment", "digital_edition"],
        "plan": "plus",
    }


def sign(payload: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """Return a compact ES256 JWS with the service's header (alg, kid, typ)."""
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid, "typ": TOKEN_TYPE})


class JwksSite:
    """A ThreadingHTTPServer on 127.0.0.1 serving one key's JWKS; counts the GETs it answers."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.hits = 0
        self._lock = threading.Lock()
        body = json.dumps({"keys": [public_jwk(self.key, KID)]}).encode()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site._lock:
                    site.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", CACHE_CONTROL)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet: the hit count is the log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The JWKS URL the verifiers are configured with."""
        return f"http://127.0.0.1:{self._server.server_port}/jwks.json"

    def hit_count(self) -> int:
        """Return how many JWKS requests the server has answered so far."""
        with self._lock:
            return self.hits

    def token(self) -> str:
        """Return a genuine token: signed by the published key under its kid."""
        return sign(claims(), self.key, KID)

    def __enter__(self) -> JwksSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
