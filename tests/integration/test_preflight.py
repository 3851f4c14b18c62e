"""Production refuses to serve without an active signing key; it never generates one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from entitlements import db
from entitlements.config import ConfigError
from entitlements.preflight import check_ready_to_serve
from entitlements.tokens.keys import rotate
from tests.conftest import FakeClock, Keys
from tests.factories import ACTOR
from tests.support.responses import json_object

PRODUCTION = {
    "ENV": "production",
    "ISSUER": "https://entitlements.example",
    "PUBLIC_URL": "https://entitlements.example",
    "SITE_URL": "https://magazine.example",
    "SIGNING_KEY_PUBLISH_DELAY": "15m",
    "STRIPE_SECRET_KEY": "sk_test_production_like",
    "STRIPE_WEBHOOK_SECRET": "whsec_production_like",
}


@pytest.fixture(autouse=True)
def _postgresql_only(database_url: str) -> None:
    """Production refuses SQLite (tests/unit/test_config.py): these run on PostgreSQL."""
    if database_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite")


def test_production_without_a_signing_key_fails_clearly(make_app: Callable[..., Flask]) -> None:
    app = make_app(**PRODUCTION)
    with pytest.raises(ConfigError, match="signing-keys rotate"):
        check_ready_to_serve(app)


def test_production_never_generates_a_key_on_first_token(make_app: Callable[..., Flask]) -> None:
    app = make_app(**PRODUCTION)
    response = app.test_client().post(
        "/v1/accounts/a/tokens", headers=Keys(app).header("tokens:issue")
    )
    assert response.status_code == 503
    assert "signing-keys rotate" in json_object(response)["detail"]
    assert app.test_client().get("/.well-known/jwks.json").json == {"keys": []}


def test_production_with_a_rotated_key_serves(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(**PRODUCTION)
    with app.app_context():
        rotate(
            db.session(),
            secret_key=app.config["SECRET_KEY"],
            now=clock.now,
            publish_delay=app.extensions["entitlements"].config.signing_key_publish_delay,
            actor=ACTOR,
        )
        db.session().commit()
    check_ready_to_serve(app)
    response = app.test_client().post(
        "/v1/accounts/a/tokens", headers=Keys(app).header("tokens:issue")
    )
    assert response.status_code == 201


def test_production_with_an_unreachable_database_fails_clearly(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(**PRODUCTION, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="database does not answer"):
        check_ready_to_serve(app)
