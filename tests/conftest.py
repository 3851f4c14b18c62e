"""Shared fixtures: one migrated database per engine per run, an app per test, a fixed clock."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from entitlements import db
from entitlements.app import create_app
from entitlements.migrate import upgrade
from entitlements.models import Base
from entitlements.services.audit import Actor
from entitlements.services.service_keys import create_service_key

# Both engines by default; ENTITLEMENTS_TEST_BACKENDS=sqlite narrows a local run.
BACKENDS = [
    b.strip()
    for b in os.environ.get("ENTITLEMENTS_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]
PG_ADMIN_URL = os.environ.get(
    "ENTITLEMENTS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
# Random-looking: production refuses a secret key with little entropy (e.g. one repeated letter).
SECRET = "test-secret-key-ExFUEqV6jGO4fZz2_WSr0xUmRVrq4gU7He0"

# Property tests draw the profile's max_examples, scaled per test (tests/support/examples.py):
# `ci`, the default and scripts/test.sh's, draws half of what the suite drew before the
# profiles (a quicker run); `full` (`make test-full`) searches twenty times deeper than `ci`.
# HYPOTHESIS_PROFILE names the profile.
hypothesis.settings.register_profile("ci", max_examples=50, print_blob=True)
hypothesis.settings.register_profile("full", max_examples=1000, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a socket to anything but loopback."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            if not (host.startswith("127.") or host in {"::1", "localhost"}):
                raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        """Move the clock forward by a timedelta's keyword arguments."""
        self.now += timedelta(**kwargs)
        return self.now


def _create_postgres_database() -> str:
    name = f"entitlements_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))


def _drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """Create a database on `backend` (SQLite in `folder`), migrated with Alembic; drop it after."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'entitlements.db'}"
        upgrade(url)
        yield url
        return
    url = _create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Create one database for this run on the engine in `param`, migrated with Alembic."""
    with migrated_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    """A fixed clock at T0."""
    return FakeClock()


@pytest.fixture
def make_app(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on this run's database; every table is emptied after the test."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        settings = {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": SECRET,
            "CLOCK": clock,
            "TESTING": True,
            "ENV": "test",
            # The past commenters' period is still running at T0 (2026-01-15).
            "GRANDFATHER_UNTIL": "2026-06-30T00:00:00Z",
            # The tests' receivers listen on 127.0.0.1.
            "WEBHOOKS_ALLOW_PRIVATE": "true",
            **overrides,
        }
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.engine().dispose()
        app.extensions[db.READS].dispose()
    _empty_tables(database_url)


def _empty_tables(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # TRUNCATE fires no row triggers: the append-only audit trigger stays in place.
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # SQLite has no TRUNCATE: lift the append-only triggers, delete, put them back,
            # all in this one transaction so no test ever sees the table unguarded. pysqlite
            # starts its own transactions only before DML, so begin explicitly for the DDL.
            connection.exec_driver_sql("BEGIN")
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
            for _, sql in triggers:
                connection.execute(text(sql))
    engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app with test settings."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@dataclass
class Keys:
    """Make service keys in tests."""

    app: Flask

    def make(self, *scopes: str, name: str | None = None) -> str:
        """Create a key with `scopes` and return its plaintext."""
        with self.app.app_context():
            session = db.session()
            _, plaintext = create_service_key(
                session,
                name=name or f"svc-{secrets.token_hex(3)}",
                scopes=list(scopes),
                actor=Actor("test"),
                now=T0,
            )
            session.commit()
        return plaintext

    def header(self, *scopes: str) -> dict[str, str]:
        """Return an Authorization header for a new key with `scopes`."""
        return {"Authorization": f"Bearer {self.make(*scopes)}"}


@pytest.fixture
def keys(app: Flask) -> Keys:
    """Service key factory bound to `app`."""
    return Keys(app)
