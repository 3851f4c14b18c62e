"""`entitlements admins create|list|disable`, in-process through Click's runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.cli import main
from entitlements.models import Admin
from tests.admin.conftest import Console
from tests.conftest import SECRET

PASSWORD = "a long admin password"


@dataclass
class AdminCli:
    """Runs `entitlements ...` against this run's database, with text on stdin."""

    database_url: str
    instance: Path

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ENTITLEMENTS_")}
        env.update(
            ENTITLEMENTS_DATABASE_URL=self.database_url,
            ENTITLEMENTS_SECRET_KEY=SECRET,
            ENTITLEMENTS_INSTANCE_PATH=str(self.instance),
            ENTITLEMENTS_ENV="test",
        )
        result = CliRunner().invoke(main, list(args), env=env, input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result


@pytest.fixture
def cli(database_url: str, app: Flask, tmp_path: Path) -> AdminCli:
    """The CLI on this run's database; `app` empties the tables after the test."""
    return AdminCli(database_url, tmp_path / "cli-instance")


def admins(app: Flask) -> list[Admin]:
    with app.app_context():
        return list(db.session().scalars(select(Admin).order_by(Admin.email)))


def test_create_asks_for_the_password_twice_and_stores_only_its_hash(
    cli: AdminCli, app: Flask
) -> None:
    result = cli("admins", "create", "Editor@Example.com", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert "admin editor@example.com created" in result.stdout
    assert PASSWORD not in result.stdout
    [row] = admins(app)
    assert row.email == "editor@example.com"
    assert row.password_hash.startswith("$argon2id$")
    console = Console(app, app.test_client())
    assert console.login("editor@example.com", PASSWORD).status_code == 303
    [event] = console.audit("admin.create")
    assert event.actor.startswith("cli:")
    assert PASSWORD not in str(event.after)


def test_generate_prints_a_password_once_and_it_signs_in(cli: AdminCli, app: Flask) -> None:
    result = cli("admins", "create", "ops@example.com", "--generate")
    assert result.exit_code == 0, result.stderr
    password = result.stdout.splitlines()[-1]
    assert len(password) >= 20
    assert result.stdout.count(password) == 1
    [row] = admins(app)
    assert password not in row.password_hash
    assert Console(app, app.test_client()).login("ops@example.com", password).status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("not-an-email",), f"{PASSWORD}\n{PASSWORD}\n", "is not an email address"),
        (("a@example.com",), f"{PASSWORD}\nsomething else entirely\n", "the two passwords differ"),
        (("a@example.com",), "short\nshort\n", "at least 12 characters"),
        (("a@example.com",), "\n\n", "at least 12 characters"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    cli: AdminCli, app: Flask, args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = cli("admins", "create", *args, stdin=stdin)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert admins(app) == []


def test_an_email_can_be_used_once(cli: AdminCli, app: Flask) -> None:
    cli("admins", "create", "a@example.com", "--generate")
    result = cli("admins", "create", "A@example.com", "--generate")
    assert result.exit_code == 2
    assert "an admin with email a@example.com exists" in result.stderr
    assert len(admins(app)) == 1


def test_list_shows_each_admin_and_their_state(cli: AdminCli, app: Flask) -> None:
    assert cli("admins", "list").stdout.strip() == "(none)"
    cli("admins", "create", "b@example.com", "--generate")
    cli("admins", "create", "a@example.com", "--generate")
    cli("admins", "disable", "b@example.com")
    lines = cli("admins", "list").stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "STATUS", "CREATED", "LAST_LOGIN"]
    assert lines[1].split()[:2] == ["a@example.com", "active"]
    assert lines[2].split()[:2] == ["b@example.com", "disabled"]
    assert lines[1].split()[-1] == "never"


def test_disable_stops_sign_in_and_is_audited(cli: AdminCli, app: Flask) -> None:
    password = cli("admins", "create", "a@example.com", "--generate").stdout.splitlines()[-1]
    console = Console(app, app.test_client())
    console.login("a@example.com", password)
    result = cli("admins", "disable", "A@example.com")
    assert result.exit_code == 0, result.stderr
    assert "admin a@example.com disabled" in result.stdout
    assert console.get("/admin/accounts").status_code == 303
    assert console.login("a@example.com", password).status_code == 400
    [event] = console.audit("admin.disable")
    assert event.actor.startswith("cli:")
    assert event.subject_id == "a@example.com"


def test_disable_of_an_unknown_or_disabled_admin_is_exit_2(cli: AdminCli, app: Flask) -> None:
    unknown = cli("admins", "disable", "ghost@example.com")
    assert unknown.exit_code == 2
    assert "no admin with email" in unknown.stderr
    cli("admins", "create", "a@example.com", "--generate")
    cli("admins", "disable", "a@example.com")
    twice = cli("admins", "disable", "a@example.com")
    assert twice.exit_code == 2
    assert "already disabled" in twice.stderr
