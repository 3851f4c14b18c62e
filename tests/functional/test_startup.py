"""Start-up as an operator meets it: the console script in a real subprocess.

A bad configuration is one line "error: ..." and a non-zero exit, never a traceback; a
development `serve` has its first signing key before it answers anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import (
    BACKENDS,
    SECRET,
    migrated_database,
)
from tests.support.serve import serve

ENTRY_POINT = os.path.join(os.path.dirname(sys.executable), "entitlements")
# A production environment that starts (given a migrated database with a key).
PRODUCTION = {
    "ENTITLEMENTS_ENV": "production",
    "ENTITLEMENTS_DATABASE_URL": "postgresql://svc@127.0.0.1:5432/entitlements",
    "ENTITLEMENTS_SECRET_KEY": SECRET,
    "ENTITLEMENTS_ISSUER": "https://entitlements.example.com",
    "ENTITLEMENTS_PUBLIC_URL": "https://entitlements.example.com",
    "ENTITLEMENTS_SITE_URL": "https://magazine.example.com",
    "ENTITLEMENTS_STRIPE_SECRET_KEY": "sk_live_production_like",
    "ENTITLEMENTS_STRIPE_WEBHOOK_SECRET": "whsec_production_like",
}


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The test process's environment without ENTITLEMENTS_*, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
    env["ENTITLEMENTS_INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update(settings)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENTRY_POINT, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for name in names:
        assert name in lines[0], lines[0]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("STRIPE_WEBHOOK_SECRET", " , "),
        ("SECRET_KEY", "x" * 64),
        ("COOKIE_SECURE", "false"),
        ("DATABASE_URL", "sqlite:///srv/entitlements.db"),
        ("SITE_URL", "javascript:alert(1)"),
        ("ISSUER", "http://entitlements.example.com"),
        ("STRIPE_API_BASE", "http://api.stripe.com"),
        ("TOKEN_TTL", "99999999999d"),
    ],
)
def test_production_serve_refuses_an_unsafe_setting_in_one_line(
    tmp_path: Path, setting: str, value: str
) -> None:
    env = clean_env(tmp_path, **{**PRODUCTION, f"ENTITLEMENTS_{setting}": value})
    result = run(["serve", "--port", "1"], env, tmp_path)
    assert_one_line_error(result, f"ENTITLEMENTS_{setting}")


@pytest.mark.parametrize(
    "command",
    [
        ["service-keys", "list"],
        ["signing-keys", "rotate"],
        ["db", "current"],
        ["demo", "run", "--port", "1", "--stripe-port", "2"],
    ],
)
def test_every_command_refuses_a_bad_configuration_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    env = clean_env(tmp_path, **{**PRODUCTION, "ENTITLEMENTS_SECRET_KEY": " " * 31 + "k"})
    assert_one_line_error(run(command, env, tmp_path), "ENTITLEMENTS_SECRET_KEY")


def test_a_huge_duration_outside_production_is_one_line_too(tmp_path: Path) -> None:
    env = clean_env(tmp_path, ENTITLEMENTS_TOKEN_TTL="99999999999d")
    assert_one_line_error(run(["serve", "--port", "1"], env, tmp_path), "ENTITLEMENTS_TOKEN_TTL")


def test_a_database_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        ENTITLEMENTS_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
        ENTITLEMENTS_SECRET_KEY=SECRET,
    )
    for command in (["service-keys", "list"], ["db", "current"], ["serve", "--port", "1"]):
        assert_one_line_error(run(command, env, tmp_path), "does not answer")


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with no rows, of its own (a served process writes to it)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


def serve_and_read_jwks(tmp_path: Path, database_url: str) -> dict[str, list[dict[str, str]]]:
    """Start a development `serve`, return the first JWKS it answers, then stop it."""
    env = clean_env(tmp_path, ENTITLEMENTS_DATABASE_URL=database_url)
    with (
        serve(env, tmp_path, workers=1, ready="/.well-known/jwks.json") as server,
        urllib.request.urlopen(f"{server.url}/.well-known/jwks.json", timeout=10) as answer,
    ):
        jwks: dict[str, list[dict[str, str]]] = json.load(answer)
    return jwks


def test_development_serve_answers_a_non_empty_jwks_at_once_and_audits_the_key(
    tmp_path: Path, fresh_database: str
) -> None:
    first = serve_and_read_jwks(tmp_path, fresh_database)
    [kid] = [key["kid"] for key in first["keys"]]

    again = serve_and_read_jwks(tmp_path, fresh_database)
    assert [key["kid"] for key in again["keys"]] == [kid]

    engine = create_engine(fresh_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        kids = connection.execute(text("SELECT kid FROM signing_keys")).scalars().all()
        events = connection.execute(
            text("SELECT actor, action, subject_id FROM audit_events")
        ).all()
    engine.dispose()
    assert kids == [kid]
    assert [tuple(e) for e in events] == [("system:startup", "signing_key.create", kid)]
