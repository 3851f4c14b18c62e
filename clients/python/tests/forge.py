"""Keys, JWKS and tokens made locally: the genuine ones and the forgeries of the catalogue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://entitlements.magazine.test"
AUDIENCE = "comments"
NOW = 1_800_000_000.0
KID = "key-1"
TYP = "entitlements+jwt"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str = KID) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }


def claims(**changes: Any) -> dict[str, Any]:
    """Claims as the service issues them at NOW, with `changes` (None removes a claim)."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "reader-1",
        "aud": AUDIENCE,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 290,
        "jti": "jti-1",
        "features": ["comment", "ad_free"],
        "plan": "digital",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def header(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"alg": "ES256", "kid": KID, "typ": TYP}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def es256(key: ec.EllipticCurvePrivateKey, head: dict[str, Any], body: dict[str, Any]) -> str:
    """Sign like the service does (entitlements/tokens/issue.py): raw r||s."""
    return es256_input(key, f"{b64json(head)}.{b64json(body)}")


def es256_input(key: ec.EllipticCurvePrivateKey, signing_input: str) -> str:
    """Sign any signing input (header.payload) with ES256."""
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def hs256(secret: bytes, head: dict[str, Any], body: dict[str, Any]) -> str:
    signing_input = f"{b64json(head)}.{b64json(body)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(digest)}"


@dataclass
class Site:
    """A local HTTP server: what it serves, and every path it was asked for."""

    url: str
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    pages: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)

    def serve_jwks(self, *jwks: dict[str, str], cache_control: str = "max-age=300") -> None:
        self.body = json.dumps({"keys": list(jwks)}).encode()
        self.status = 200
        self.headers = {"Content-Type": "application/json", "Cache-Control": cache_control}


@contextmanager
def local_site() -> Iterator[Site]:
    """Run a loopback HTTP server in a thread until the block ends."""
    site = Site(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.hits[self.path] += 1
            body, headers = site.pages.get(self.path, (site.body, site.headers))
            self.send_response(site.status if self.path not in site.pages else 200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
