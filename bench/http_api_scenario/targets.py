"""What bench/http_api.py loads: the check, a token issue and the bare route, and their checks."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass, field
from typing import Any

from http_api_scenario.baseline import BARE_PATH
from http_api_scenario.seed import ACCOUNT
from support.load import build_request
from support.servers import HOST, Server


@dataclass(frozen=True)
class Target:
    """One endpoint under load."""

    name: str
    server: Server
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def raw_request(self) -> bytes:
        """Return the bytes the load processes send."""
        return build_request(
            self.method,
            self.path,
            host=HOST,
            port=self.server.port,
            headers=self.headers,
            body=self.body,
        )

    def call(self) -> tuple[int, Any]:
        """Send the request once with http.client; return the status and the decoded JSON."""
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        try:
            conn.request(self.method, self.path, body=self.body or None, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data else None


def make_targets(app: Server, bare: Server, key: str) -> dict[str, Target]:
    """Return the three targets: the check, a token issue and the bare route."""
    auth = {"Authorization": f"Bearer {key}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    return {
        "bare": Target("bare", bare, "GET", BARE_PATH, 200),
        "check": Target("check", app, "GET", f"/v1/accounts/{ACCOUNT}/entitlements", 200, auth),
        "token": Target(
            "token", app, "POST", f"/v1/accounts/{ACCOUNT}/tokens", 201, json_auth,
            b'{"audience": "site"}',
        ),
    }  # fmt: skip


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify_answers(targets: dict[str, Target]) -> str:
    """Check one answer of each target for the right content; return a summary line."""
    import jwt

    status, body = targets["bare"].call()
    if status != 200 or body != {"ok": True}:
        raise RuntimeError(f"the bare route answered {status}: {body}")
    status, body = targets["check"].call()
    if status != 200 or body.get("plan") != "plus" or len(body.get("features", ())) != 4:
        raise RuntimeError(f"the check answered {status}: {body}; expected a Plus subscriber")
    summary = f"{ACCOUNT}: plan plus, {','.join(body['features'])}, {len(body['sources'])} sources"
    status, issued = targets["token"].call()
    if status != 201 or "token" not in issued:
        raise RuntimeError(f"the token endpoint answered {status}: {issued}")
    conn = http.client.HTTPConnection(HOST, targets["check"].server.port, timeout=10)
    conn.request("GET", "/.well-known/jwks.json")
    keys = json.loads(conn.getresponse().read())["keys"]
    conn.close()
    header = _b64json(issued["token"].split(".")[0])
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(issued["token"], key, algorithms=["ES256"], audience="site")
    if claims["sub"] != ACCOUNT or claims["plan"] != "plus":
        raise RuntimeError(f"the token's claims are wrong: {claims}")
    return f"{summary}; token {header['alg']} verifies against the JWKS"
