"""Development makes its first signing key at start-up, audited; production never does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.pool import QueuePool

from entitlements import db
from entitlements.app import create_app
from entitlements.config import ConfigError
from entitlements.models import AuditEvent, SigningKey
from entitlements.preflight import check_ready_to_serve
from entitlements.tokens.keys import rotate
from tests.conftest import SECRET, FakeClock, Keys
from tests.factories import ACTOR
from tests.support.responses import json_object


def keys_and_events(app: Flask) -> tuple[list[SigningKey], list[AuditEvent]]:
    with app.app_context():
        session = db.session()
        keys = list(session.scalars(select(SigningKey)))
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "signing_key"))
        )
        return keys, events


def test_development_start_up_makes_the_first_key_and_audits_it(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(ENV="development")
    check_ready_to_serve(app)

    [key], [event] = keys_and_events(app)
    assert key.activates_at == clock.now
    assert (event.action, event.actor, event.subject_id) == (
        "signing_key.create",
        "system:startup",
        key.kid,
    )
    assert event.at == key.created_at
    assert event.after is not None
    assert event.after["kid"] == key.kid
    jwks = json_object(app.test_client().get("/.well-known/jwks.json"))
    assert [k["kid"] for k in jwks["keys"]] == [key.kid]


def test_start_up_again_adds_no_second_key(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    check_ready_to_serve(app)
    check_ready_to_serve(app)
    check_ready_to_serve(make_app())
    keys, events = keys_and_events(app)
    assert len(keys) == 1
    assert len(events) == 1


def test_start_up_keeps_an_operators_keys_as_they_are(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app()
    with app.app_context():
        rotate(
            db.session(),
            secret_key=SECRET,
            now=clock.now,
            publish_delay=timedelta(0),
            actor=ACTOR,
        )
        db.session().commit()
    check_ready_to_serve(app)
    keys, events = keys_and_events(app)
    assert len(keys) == 1
    assert [(e.action, e.actor) for e in events] == [("signing_key.rotate", ACTOR.name)]


def test_start_up_leaves_no_database_connection_open(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    check_ready_to_serve(app)
    with app.app_context():
        pool = db.engine().pool
        # gunicorn forks right after: a connection kept in the pool would be shared.
        assert isinstance(pool, QueuePool)  # both backends: the sized pool make_engine builds
        assert pool.checkedin() == 0
        assert pool.checkedout() == 0
    assert app.extensions[db.READS]._idle == []


def test_production_start_up_never_makes_a_key(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("production refuses SQLite")
    app = make_app(
        ENV="production",
        ISSUER="https://entitlements.example",
        PUBLIC_URL="https://entitlements.example",
        SITE_URL="https://magazine.example",
        STRIPE_SECRET_KEY="sk_test_production_like",
        STRIPE_WEBHOOK_SECRET="whsec_production_like",
    )
    with pytest.raises(ConfigError, match="no active signing key"):
        check_ready_to_serve(app)
    assert keys_and_events(app) == ([], [])


def test_the_first_key_made_by_a_first_token_is_audited_too(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    response = app.test_client().post(
        "/v1/accounts/a/tokens", headers=Keys(app).header("tokens:issue")
    )
    assert response.status_code == 201
    [key], [event] = keys_and_events(app)
    assert (event.action, event.actor, event.subject_id) == (
        "signing_key.create",
        "system:first-use",
        key.kid,
    )


def test_start_up_on_a_database_never_migrated_fails_in_one_line(tmp_path: Path) -> None:
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": SECRET,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        }
    )
    with pytest.raises(ConfigError, match="not migrated") as excinfo:
        check_ready_to_serve(app)
    assert "\n" not in str(excinfo.value)
