"""The README's examples run as written, against a local JWKS and policy server."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from standardwebhooks import Webhook

from forge import ISSUER, Site, claims, es256, header

README = Path(__file__).resolve().parents[1] / "README.md"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def examples() -> list[str]:
    """Every ```python block of the README, in order."""
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


@pytest.fixture
def app(site: Site, monkeypatch: pytest.MonkeyPatch) -> Flask:
    site.pages["/v1/policy"] = (
        json.dumps(
            {
                "comment_edit_window_seconds": 300,
                "grandfather_cutoff": None,
                "grandfather_until": None,
            }
        ).encode(),
        {"Content-Type": "application/json", "Cache-Control": "max-age=300"},
    )
    monkeypatch.setenv("ENTITLEMENTS_URL", site.url)
    monkeypatch.setenv("ENTITLEMENTS_ISSUER", ISSUER)
    monkeypatch.setenv("ENTITLEMENTS_SERVICE_KEY", "ent_sk_readme")
    monkeypatch.setenv("ENTITLEMENTS_EVENT_SECRET", SECRET)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    for code in examples():
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102  (the README's own code)
    application = namespace["app"]
    assert isinstance(application, Flask)
    return application


def token(key: ec.EllipticCurvePrivateKey, **changes: Any) -> str:
    now = int(time.time())
    return es256(key, header(), claims(iat=now - 1, exp=now + 300, **changes))


def test_the_readme_has_the_three_examples() -> None:
    blocks = examples()
    assert len(blocks) == 3
    assert len([line for line in blocks[0].splitlines() if line.strip()]) <= 12


def test_the_ten_line_example_gates_comments(app: Flask, key: ec.EllipticCurvePrivateKey) -> None:
    browser = app.test_client()
    assert browser.post("/comments").status_code == 401
    browser.set_cookie("entitlements_token", token(key, aud="site"))
    answer = browser.post("/comments")
    assert answer.status_code == 201
    assert answer.json == {"posted_by": "reader-1"}
    browser.set_cookie("entitlements_token", token(key, aud="site", features=["ad_free"]))
    assert browser.post("/comments").status_code == 403


def test_the_event_receiver_example_revokes_at_once(
    app: Flask, key: ec.EllipticCurvePrivateKey
) -> None:
    browser = app.test_client()
    bearer = {"Authorization": f"Bearer {token(key, aud='site')}"}
    assert browser.post("/comments", headers=bearer).status_code == 201
    body = json.dumps(
        {
            "type": "entitlements.changed",
            "timestamp": "2027-01-15T08:00:00Z",
            "data": {
                "account_id": "reader-1",
                "entitlements": None,
                "changed": ["comment"],
                "reason": "ban",
                "not_before": time.time(),
            },
        }
    )
    now = datetime.now(UTC)
    signature = Webhook(SECRET).sign("msg_1", now, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert browser.post("/entitlements-events", data=body, headers=headers).status_code == 204
    assert browser.post("/comments", headers=bearer).status_code == 401
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    assert browser.post("/entitlements-events", data=body, headers=forged).status_code == 400


def test_the_edit_window_example_reads_the_policy(
    app: Flask, key: ec.EllipticCurvePrivateKey, site: Site
) -> None:
    bearer = {"Authorization": f"Bearer {token(key, aud='site')}"}
    assert app.test_client().patch("/comments/1", headers=bearer).status_code == 204
    assert site.hits["/v1/policy"] == 1
