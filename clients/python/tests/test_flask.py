"""The Flask helpers: requires_feature gates a view on a verified token's feature."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, g

from entitlements_client import TokenVerifier
from entitlements_client.flask import current_entitlements, requires_feature, use_verifier
from forge import claims, es256, header


@pytest.fixture
def app(verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    use_verifier(app, verifier, cookie="ent")

    @app.post("/comments")
    @requires_feature("comment")
    def post_comment() -> tuple[dict[str, str], int]:
        return {"account": g.entitlements.account_id}, 201

    @app.get("/archive")
    @requires_feature("archive")
    def archive() -> str:
        return "archive"

    @app.get("/page")
    def page() -> str:
        entitlements = current_entitlements()
        return "ad-free" if entitlements and entitlements.has("ad_free") else "ads"

    return app


def test_bearer_token_with_the_feature_passes(app: Flask, key: ec.EllipticCurvePrivateKey) -> None:
    token = es256(key, header(), claims())
    answer = app.test_client().post("/comments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201
    assert answer.json == {"account": "reader-1"}


def test_cookie_token_passes(app: Flask, key: ec.EllipticCurvePrivateKey) -> None:
    browser = app.test_client()
    browser.set_cookie("ent", es256(key, header(), claims()))
    assert browser.post("/comments").status_code == 201


def test_no_token_is_401_problem(app: Flask) -> None:
    answer = app.test_client().post("/comments")
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.json is not None
    assert answer.json["code"] == "missing_token"


def test_forged_token_is_401_with_its_code(app: Flask) -> None:
    answer = app.test_client().post("/comments", headers={"Authorization": "Bearer a.b.c"})
    assert answer.status_code == 401
    assert answer.json is not None
    assert answer.json["code"] == "malformed"


def test_token_without_the_feature_is_403(app: Flask, key: ec.EllipticCurvePrivateKey) -> None:
    token = es256(key, header(), claims())
    answer = app.test_client().get("/archive", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json is not None
    assert answer.json["code"] == "no_feature"


def test_optional_entitlements_for_pages(app: Flask, key: ec.EllipticCurvePrivateKey) -> None:
    browser = app.test_client()
    assert browser.get("/page").text == "ads"
    browser.set_cookie("ent", "forged")
    assert browser.get("/page").text == "ads"
    browser.set_cookie("ent", es256(key, header(), claims()))
    assert browser.get("/page").text == "ad-free"


def test_without_use_verifier_the_view_fails_loudly() -> None:
    app = Flask(__name__)

    @app.get("/x")
    @requires_feature("comment")
    def view() -> str:
        return "x"

    app.testing = True
    with pytest.raises(RuntimeError, match="use_verifier"):
        app.test_client().get("/x")
