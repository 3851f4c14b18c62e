"""Console fixtures: a cheap password hasher, an admin, and a signed-in test client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from entitlements import db
from entitlements.models import AuditEvent
from entitlements.services import admins
from entitlements.services.audit import Actor
from tests.conftest import T0

EMAIL = "editor@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash with argon2id at the lowest cost: the production cost is tested on its own."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(admins, "PASSWORDS", admins.Passwords(cheap))


def make_admin(app: Flask, email: str = EMAIL, password: str = PASSWORD) -> int:
    """Create an admin through the service; return its id."""
    with app.app_context():
        session = db.session()
        admin = admins.create_admin(session, email, password, actor=Actor("test"), now=T0)
        session.commit()
        return admin.id


def csrf_of(page: str) -> str:
    """Return the CSRF token of the first form on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class Console:
    """A browser on the console: remembers the CSRF token of the last page it saw."""

    app: Flask
    client: FlaskClient
    token: str = ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET a page and keep its CSRF token."""
        response = self.client.get(path, **kwargs)
        page = response.get_data(as_text=True)
        if 'name="csrf"' in page:
            self.token = csrf_of(page)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """POST a form with the current CSRF token."""
        response = self.client.post(path, data={"csrf": self.token, **(data or {})}, **kwargs)
        page = response.get_data(as_text=True)
        if 'name="csrf"' in page:
            self.token = csrf_of(page)
        return response

    def login(self, email: str = EMAIL, password: str = PASSWORD) -> TestResponse:
        """Sign in through the form."""
        self.get("/admin/login")
        response = self.post("/admin/login", {"email": email, "password": password})
        if response.status_code == 303:
            # Sign-in issues a new CSRF token: pick it up as a browser would.
            self.get(response.headers["Location"])
        return response

    def audit(self, action: str | None = None) -> list[AuditEvent]:
        """Return audit events (optionally of one action), oldest first."""
        with self.app.app_context():
            query = select(AuditEvent).order_by(AuditEvent.id)
            if action:
                query = query.where(AuditEvent.action == action)
            return list(db.session().scalars(query))


@pytest.fixture
def console(app: Flask) -> Console:
    """A client of `app` with an admin account, not yet signed in."""
    make_admin(app)
    return Console(app, app.test_client())


@pytest.fixture
def signed_in(console: Console) -> Console:
    """The console, signed in as EMAIL."""
    response = console.login()
    assert response.status_code == 303, response.get_data(as_text=True)
    return console
