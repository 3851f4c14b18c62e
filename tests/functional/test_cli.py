"""The `entitlements` command line against this run's database.

Most cases run the command in-process through Click's runner (the same code path, exit
status and output, without a second of interpreter start-up each); the contracts other
programs rely on also run the installed console script in a real subprocess.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import MetaData, func, inspect, select
from sqlalchemy.engine import make_url

from entitlements import db
from entitlements.cli import main
from entitlements.clock import utcnow
from entitlements.migrate import head_revision
from entitlements.models import AuditEvent, Ban, Base, Grant, ServiceKey, SigningKey
from entitlements.services.audit import Actor
from entitlements.services.bans import lift_ban
from entitlements.services.grants import revoke_grant
from entitlements.services.service_keys import create_service_key, revoke_service_key
from entitlements.tokens.keys import rotate
from tests.conftest import T0, Keys, _create_postgres_database, _drop_postgres_database
from tests.factories import ACTOR, add_subscription, ban, grant

READ = "entitlements:read"
CLI_SECRET = "cli-test-secret-" + "y" * 32
ENTRY_POINT = shutil.which("entitlements", path=os.path.dirname(sys.executable))
ACCOUNT_ID_RULE = "account id must be"
DEMO_TABLES = ("accounts", "grants", "bans", "subscriptions")


@dataclass
class Cli:
    """Runs the console script with ENTITLEMENTS_* pointing at one database."""

    database_url: str
    instance: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    in_process: bool = True

    def env(self, database_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
        env.update(
            ENTITLEMENTS_DATABASE_URL=database_url or self.database_url,
            ENTITLEMENTS_SECRET_KEY=CLI_SECRET,
            ENTITLEMENTS_INSTANCE_PATH=str(self.instance),
            ENTITLEMENTS_ENV="test",
            # The tests' receivers listen on 127.0.0.1.
            ENTITLEMENTS_WEBHOOKS_ALLOW_PRIVATE="true",
        )
        env.update(self.env_overrides)
        return env

    def __call__(
        self, *args: str, database_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if self.in_process:
            env = self.env(database_url)
            runner_env: dict[str, str | None] = {
                k: None for k in os.environ if k.startswith("ENTITLEMENTS_")
            }
            runner_env.update({k: v for k, v in env.items() if k.startswith("ENTITLEMENTS_")})
            result = CliRunner().invoke(main, list(args), env=runner_env)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            return subprocess.CompletedProcess(
                list(args), result.exit_code, result.stdout, result.stderr
            )
        assert ENTRY_POINT is not None, "the entitlements console script is not installed"
        return subprocess.run(
            [ENTRY_POINT, *args],
            env=self.env(database_url),
            cwd=self.instance.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, database_url: str | None = None) -> list[str]:
        """Run a command that must succeed; return its stdout lines."""
        result = self(*args, database_url=database_url)
        assert result.returncode == 0, f"{args} failed ({result.returncode}): {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout.splitlines()


@pytest.fixture
def cli(database_url: str, app: Flask, tmp_path: Path) -> Cli:
    """The console script on this run's database; `app` empties the tables after the test."""
    return Cli(database_url, tmp_path / "cli-instance")


@pytest.fixture
def cli_process(database_url: str, app: Flask, tmp_path: Path) -> Cli:
    """The installed console script in a real subprocess."""
    return Cli(database_url, tmp_path / "cli-instance", in_process=False)


@pytest.fixture
def live_app(make_app: Callable[..., Flask]) -> Flask:
    """An app on the same database reading the wall clock, as the CLI does."""
    return make_app(CLOCK=utcnow)


def table_rows(app: Flask) -> dict[str, list[str]]:
    """Every row of every table (alembic_version included), for before/after comparisons."""
    with app.app_context():
        session = db.session()
        metadata = MetaData()
        metadata.reflect(bind=session.connection())
        return {
            t.name: sorted(repr(tuple(row)) for row in session.execute(select(t)))
            for t in metadata.sorted_tables
        }


def count(app: Flask, model: type[Base]) -> int:
    with app.app_context():
        value = db.session().scalar(select(func.count()).select_from(model))
        assert value is not None
        return value


def audit_events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(db.session().scalars(query))


def assert_cli_actor(actor: str) -> None:
    assert actor.startswith("cli:"), actor
    assert len(actor) > len("cli:")


def entitlements(app: Flask, key: str, account: str) -> Any:
    response = app.test_client().get(
        f"/v1/accounts/{account}/entitlements", headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code, response.json


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- service keys --------------------------------------------------------------------------


def test_service_keys_create_prints_the_key_last_and_it_authorises_the_check_api(
    cli_process: Cli, app: Flask
) -> None:
    lines = cli_process.ok("service-keys", "create", "--name", "comments", "--scope", READ)
    key = lines[-1]
    assert re.fullmatch(r"ent_sk_[A-Za-z0-9_-]{20,}", key)
    assert all(key not in line for line in lines[:-1])

    status, body = entitlements(app, key, "reader-1")
    assert status == 200
    assert body["account_id"] == "reader-1"
    # Only the scope asked for: this key may not issue tokens.
    token = app.test_client().post(
        "/v1/accounts/reader-1/tokens", headers={"Authorization": f"Bearer {key}"}
    )
    assert token.status_code == 403


def test_service_keys_create_with_several_scopes_grants_each(cli: Cli, app: Flask) -> None:
    lines = cli.ok(
        "service-keys", "create", "--name", "paywall", "--scope", READ, "--scope", "tokens:issue"
    )
    with app.app_context():
        row = db.session().scalars(select(ServiceKey)).one()
    assert row.name == "paywall"
    assert row.scopes.split() == [READ, "tokens:issue"]
    assert entitlements(app, lines[-1], "reader-1")[0] == 200


def test_service_keys_create_stores_only_a_hash_of_the_key(cli: Cli, app: Flask) -> None:
    key = cli.ok("service-keys", "create", "--name", "comments", "--scope", READ)[-1]
    with app.app_context():
        row = db.session().scalars(select(ServiceKey)).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    for values in table_rows(app)["service_keys"]:
        assert key not in values
        assert key[len(row.prefix) :] not in values
    # Nor does it leak into the audit trail.
    assert all(key not in values for values in table_rows(app)["audit_events"])


def test_service_keys_create_writes_an_audit_record(cli: Cli, app: Flask) -> None:
    cli.ok("service-keys", "create", "--name", "comments", "--scope", READ)
    [event] = audit_events(app)
    assert event.action == "service_key.create"
    assert event.subject_type == "service_key"
    assert event.subject_id == "comments"
    assert_cli_actor(event.actor)
    assert event.after is not None
    assert event.after["scopes"] == READ


def test_service_keys_list_shows_names_and_scopes_but_never_keys(cli: Cli, app: Flask) -> None:
    first = cli.ok("service-keys", "create", "--name", "comments", "--scope", READ)[-1]
    second = cli.ok(
        "service-keys", "create", "--name", "paywall", "--scope", READ, "--scope", "tokens:issue"
    )[-1]
    cli.ok("service-keys", "revoke", "paywall")
    before = table_rows(app)

    output = "\n".join(cli.ok("service-keys", "list"))
    assert first not in output
    assert second not in output
    lines = output.splitlines()
    assert lines[0].split() == ["NAME", "PREFIX", "SCOPES", "CREATED", "STATE"]
    comments = next(line for line in lines if line.startswith("comments"))
    paywall = next(line for line in lines if line.startswith("paywall"))
    assert READ in comments
    assert "active" in comments
    assert f"{READ},tokens:issue" in paywall
    assert "revoked" in paywall
    assert table_rows(app) == before


def test_service_keys_list_with_no_keys_says_none(cli: Cli) -> None:
    assert cli.ok("service-keys", "list") == ["(none)"]


def test_service_keys_revoke_makes_the_key_fail_at_once(cli: Cli, app: Flask) -> None:
    key = cli.ok("service-keys", "create", "--name", "comments", "--scope", READ)[-1]
    assert entitlements(app, key, "reader-1")[0] == 200

    assert cli.ok("service-keys", "revoke", "comments") == ["revoked service key 'comments'"]

    status, body = entitlements(app, key, "reader-1")
    assert status == 401
    assert body["status"] == 401
    with app.app_context():
        assert db.session().scalars(select(ServiceKey)).one().revoked_at is not None
    event = audit_events(app, "service_key.revoke")[0]
    assert event.subject_id == "comments"
    assert_cli_actor(event.actor)


# ---- signing keys --------------------------------------------------------------------------


def test_signing_keys_rotate_then_list_shows_the_first_active_and_the_next_pending(
    cli: Cli, app: Flask
) -> None:
    first = cli.ok("signing-keys", "rotate")
    [first_kid] = re.findall(r"added signing key (\S+) \(ES256\)", first[0])
    listing = cli.ok("signing-keys", "list")
    assert len(listing) == 2
    assert listing[1].split()[:3] == [first_kid, "ES256", "active"]

    second = cli.ok("signing-keys", "rotate")
    [second_kid] = re.findall(r"added signing key (\S+) \(ES256\)", second[0])
    rows = {line.split()[0]: line.split()[2] for line in cli.ok("signing-keys", "list")[1:]}
    assert rows == {first_kid: "active", second_kid: "pending"}

    assert count(app, SigningKey) == 2
    events = audit_events(app, "signing_key.rotate")
    assert [e.subject_id for e in events] == [first_kid, second_kid]
    for event in events:
        assert event.subject_type == "signing_key"
        assert_cli_actor(event.actor)
    # The private key never reaches the audit trail.
    with app.app_context():
        secrets = [k.private_key_encrypted for k in db.session().scalars(select(SigningKey))]
    dumped = repr(table_rows(app)["audit_events"])
    assert not any(secret in dumped for secret in secrets)


def test_signing_keys_list_with_no_keys_says_none(cli: Cli) -> None:
    assert cli.ok("signing-keys", "list") == ["(none)"]


# ---- grants --------------------------------------------------------------------------------


def test_grants_add_grants_the_feature_until_the_given_time(
    cli: Cli, app: Flask, live_app: Flask, keys: Keys
) -> None:
    until = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    lines = cli.ok(
        "grants", "add", "reader-1", "--feature", "archive", "--until", iso(until),
        "--reason", "press pass",
    )  # fmt: skip
    with app.app_context():
        row = db.session().scalars(select(Grant)).one()
    assert lines == [f"grant {row.id}: archive for reader-1 until {iso(until)}"]
    assert (row.account_id, row.feature, row.kind) == ("reader-1", "archive", "comp")
    assert row.ends_at == until
    assert row.reason == "press pass"
    assert_cli_actor(row.actor)

    status, body = entitlements(live_app, keys.make(READ), "reader-1")
    assert status == 200
    assert body["features"] == ["archive"]
    assert body["sources"] == [{"feature": "archive", "source": "comp", "ends_at": iso(until)}]

    [event] = audit_events(app, "grant.add")
    assert (event.subject_type, event.subject_id) == ("grant", str(row.id))
    assert event.account_id == "reader-1"
    assert event.reason == "press pass"
    assert_cli_actor(event.actor)


def test_grants_add_without_until_never_ends(cli: Cli, app: Flask) -> None:
    lines = cli.ok("grants", "add", "reader-1", "--feature", "archive", "--reason", "press")
    assert lines[0].endswith("archive for reader-1 until never")
    with app.app_context():
        row = db.session().scalars(select(Grant)).one()
    assert (row.ends_at, row.ends_by_policy, row.kind) == (None, False, "comp")


def test_grandfather_grant_without_until_follows_the_policy_end(cli: Cli, app: Flask) -> None:
    cli.env_overrides["ENTITLEMENTS_GRANDFATHER_UNTIL"] = "2099-02-28T00:00:00Z"
    lines = cli.ok(
        "grants", "add", "reader-1", "--feature", "comment", "--reason", "past commenter",
        "--kind", "grandfather",
    )  # fmt: skip
    assert lines[0].endswith("comment for reader-1 until 2099-02-28T00:00:00Z")
    with app.app_context():
        row = db.session().scalars(select(Grant)).one()
    assert (row.ends_at, row.ends_by_policy, row.kind) == (None, True, "grandfather")


def test_grandfather_grant_after_the_period_is_refused(cli: Cli, app: Flask) -> None:
    cli.env_overrides["ENTITLEMENTS_GRANDFATHER_UNTIL"] = "2025-02-28T00:00:00Z"
    result = cli(
        "grants", "add", "reader-1", "--feature", "comment", "--reason", "late",
        "--kind", "grandfather",
    )  # fmt: skip
    assert result.returncode == 2
    assert "grandfather period ended" in result.stderr
    with app.app_context():
        assert db.session().scalars(select(Grant)).first() is None


def test_grants_revoke_ends_the_grant_now(
    cli: Cli, app: Flask, live_app: Flask, keys: Keys
) -> None:
    grant_id = grant(live_app, "reader-1", "archive", now=utcnow() - timedelta(hours=1))
    key = keys.make(READ)
    assert entitlements(live_app, key, "reader-1")[1]["features"] == ["archive"]

    assert cli.ok("grants", "revoke", str(grant_id)) == [f"revoked grant {grant_id}"]

    assert entitlements(live_app, key, "reader-1")[1]["features"] == []
    with app.app_context():
        row = db.session().get(Grant, grant_id)
        assert row is not None
        assert row.revoked_at is not None
        assert row.revoked_by is not None
        assert_cli_actor(row.revoked_by)
    [event] = audit_events(app, "grant.revoke")
    assert (event.subject_type, event.subject_id) == ("grant", str(grant_id))
    assert event.account_id == "reader-1"
    assert event.before is not None
    assert event.before["revoked_at"] is None
    assert_cli_actor(event.actor)


# ---- bans ----------------------------------------------------------------------------------


def test_bans_add_withholds_comment_until_the_given_time(
    cli: Cli, app: Flask, live_app: Flask, keys: Keys
) -> None:
    add_subscription(live_app, "reader-1", now=utcnow())
    until = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    lines = cli.ok(
        "bans", "add", "reader-1", "--feature", "comment", "--until", iso(until),
        "--reason", "spam",
    )  # fmt: skip
    with app.app_context():
        row = db.session().scalars(select(Ban)).one()
    assert lines == [f"ban {row.id}: reader-1 may not comment until {iso(until)}"]
    assert (row.account_id, row.feature, row.reason, row.ends_at) == (
        "reader-1",
        "comment",
        "spam",
        until,
    )
    assert_cli_actor(row.actor)

    status, body = entitlements(live_app, keys.make(READ), "reader-1")
    assert status == 200
    assert body["features"] == ["ad_free", "archive", "digital_edition"]
    [restriction] = body["restrictions"]
    assert (restriction["feature"], restriction["ends_at"]) == ("comment", iso(until))
    assert restriction["message"].startswith("Commenting is suspended until ")
    [event] = audit_events(app, "ban.add")
    assert (event.subject_type, event.subject_id) == ("ban", str(row.id))
    assert event.account_id == "reader-1"
    assert_cli_actor(event.actor)


def test_bans_add_without_until_is_permanent(cli: Cli, app: Flask) -> None:
    lines = cli.ok("bans", "add", "reader-1", "--feature", "comment", "--reason", "abuse")
    assert lines[0].endswith("reader-1 may not comment until never")
    with app.app_context():
        assert db.session().scalars(select(Ban)).one().ends_at is None


def test_bans_add_takes_a_public_message_apart_from_the_reason(cli: Cli, app: Flask) -> None:
    cli.ok(
        "bans", "add", "reader-1", "--feature", "comment", "--reason", "ticket 4411",
        "--public-message", "Your comments are paused for a week.",
    )  # fmt: skip
    with app.app_context():
        row = db.session().scalars(select(Ban)).one()
    assert (row.reason, row.public_message) == (
        "ticket 4411", "Your comments are paused for a week."
    )


def test_bans_add_accepts_a_reason_of_exactly_2000_characters(cli: Cli, app: Flask) -> None:
    reason = "r" * 2000
    cli.ok("bans", "add", "reader-1", "--feature", "comment", "--reason", reason)
    with app.app_context():
        assert db.session().scalars(select(Ban)).one().reason == reason


def test_bans_lift_restores_the_feature_now(
    cli: Cli, app: Flask, live_app: Flask, keys: Keys
) -> None:
    now = utcnow() - timedelta(hours=1)
    grant(live_app, "reader-1", "comment", now=now)
    ban_id = ban(live_app, "reader-1", now=now, reason="spam")
    key = keys.make(READ)
    assert entitlements(live_app, key, "reader-1")[1]["features"] == []

    assert cli.ok("bans", "lift", str(ban_id)) == [f"lifted ban {ban_id}"]

    body = entitlements(live_app, key, "reader-1")[1]
    assert body["features"] == ["comment"]
    assert body["restrictions"] == []
    with app.app_context():
        row = db.session().get(Ban, ban_id)
        assert row is not None
        assert row.lifted_at is not None
        assert row.lifted_by is not None
        assert_cli_actor(row.lifted_by)
    [event] = audit_events(app, "ban.lift")
    assert (event.subject_type, event.subject_id) == ("ban", str(ban_id))
    assert event.account_id == "reader-1"
    assert_cli_actor(event.actor)


# ---- accounts ------------------------------------------------------------------------------


def test_accounts_show_prints_the_features_and_why(cli: Cli, app: Flask, live_app: Flask) -> None:
    now = utcnow() - timedelta(minutes=5)
    add_subscription(live_app, "reader-1", now=now, lookup_key="plus_annual")
    ban_id = ban(live_app, "reader-1", now=now, reason="personal attacks")
    before = table_rows(app)

    lines = cli.ok("accounts", "show", "reader-1")
    text = "\n".join(lines)
    assert lines[0] == "account:     reader-1"
    assert "plan:        plus" in lines
    assert "features:    ad_free, archive, digital_edition" in lines
    for feature in ("ad_free", "archive", "digital_edition"):
        assert re.search(
            rf"^\s+{feature}\s+through subscription \(sub_reader-1_active\)", text, re.M
        )
    assert re.search(
        rf"^\s+comment\s+WITHHELD by ban:{ban_id} until never: personal attacks "
        r"\(reader sees: Commenting is suspended\.\)$",
        text,
        re.M,
    )
    assert "not held: comment" in text
    assert table_rows(app) == before


def test_accounts_show_of_an_unknown_account_holds_nothing(cli: Cli) -> None:
    lines = cli.ok("accounts", "show", "nobody")
    assert "features:    none" in lines
    assert "plan:        none" in lines
    assert lines[-1] == "  not held: comment, ad_free, digital_edition, archive"


# ---- database ------------------------------------------------------------------------------


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database on this run's engine, dropped afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


def test_db_upgrade_migrates_an_empty_database_and_db_current_reports_it(
    cli: Cli, empty_database: str
) -> None:
    head = head_revision(empty_database)
    assert cli.ok("db", "current", database_url=empty_database) == [
        "current: none",
        f"head: {head}",
    ]

    assert cli.ok("db", "upgrade", database_url=empty_database) == ["database at head"]

    engine = db.make_engine(empty_database)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert cli.ok("db", "current", database_url=empty_database) == [
        f"current: {head}",
        f"head: {head}",
    ]
    # Upgrading a database at head again is a no-op.
    assert cli.ok("db", "upgrade", database_url=empty_database) == ["database at head"]


# ---- demo data -----------------------------------------------------------------------------


def demo_counts(app: Flask) -> dict[str, int]:
    rows = table_rows(app)
    return {name: len(rows[name]) for name in DEMO_TABLES}


def test_demo_load_is_idempotent_and_prints_one_working_key_last(
    cli: Cli, app: Flask, live_app: Flask
) -> None:
    first = cli.ok("demo", "load")
    assert first[0] == "loaded demo accounts:"
    key_file = cli.instance / "demo-service-key"
    assert first[-2] == f"demo service key (all scopes; the same every run: KEY=$(cat {key_file})):"
    loaded = demo_counts(app)
    assert loaded == {"accounts": 4, "grants": 3, "bans": 1, "subscriptions": 1}
    assert key_file.read_text() == first[-1] + "\n"
    assert key_file.stat().st_mode & 0o777 == 0o600

    second = cli.ok("demo", "load")
    assert second[0] == "demo accounts already loaded:"
    assert demo_counts(app) == loaded
    # The key kept in the instance folder is printed again, not a new all-scope key added.
    assert count(app, ServiceKey) == 1
    assert first[-1] == second[-1]

    status, body = entitlements(live_app, second[-1], "demo-subscriber")
    assert status == 200
    assert body["features"] == ["ad_free", "archive", "comment", "digital_edition"]
    banned = entitlements(live_app, second[-1], "demo-banned")[1]
    assert banned["features"] == []
    assert [r["feature"] for r in banned["restrictions"]] == ["comment"]


def test_demo_load_replaces_a_kept_demo_key_that_no_longer_works(
    cli: Cli, app: Flask, live_app: Flask
) -> None:
    first = cli.ok("demo", "load")[-1]
    cli.ok("service-keys", "revoke", "demo")

    second = cli.ok("demo", "load")[-1]

    assert second != first
    assert (cli.instance / "demo-service-key").read_text() == second + "\n"
    assert entitlements(live_app, second, "demo-subscriber")[0] == 200


def test_demo_load_records_its_changes_under_the_cli_operator(cli: Cli, app: Flask) -> None:
    cli.ok("demo", "load")
    events = audit_events(app)
    assert {e.action for e in events} >= {"grant.add", "ban.add", "service_key.create"}
    for event in events:
        assert_cli_actor(event.actor)


# ---- bad input -----------------------------------------------------------------------------


def _existing_key(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        create_service_key(session, name="comments", scopes=[READ], actor=Actor("t"), now=T0)
        session.commit()


def _revoked_key(app: Flask) -> None:
    _existing_key(app)
    with app.app_context():
        session = db.session()
        revoke_service_key(session, "comments", actor=Actor("t"), now=T0)
        session.commit()


def _revoked_grant(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        revoke_grant(session, _baseline_grant(app), reason="x", actor=Actor("t"), now=T0)
        session.commit()


def _lifted_ban(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        lift_ban(session, _baseline_ban(app), reason="x", actor=Actor("t"), now=T0)
        session.commit()


def _baseline_grant(app: Flask) -> int:
    with app.app_context():
        return db.session().scalars(select(Grant.id)).one()


def _baseline_ban(app: Flask) -> int:
    with app.app_context():
        return db.session().scalars(select(Ban.id)).one()


@dataclass(frozen=True)
class BadInput:
    """A command line that must be refused; `hint` is what its error must name."""

    args: tuple[str, ...]
    hint: str
    setup: Callable[[Flask], None] | None = None


LONG_REASON = "x" * 2001
PAST = "2020-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"
HUGE_ID = "99999999999999999999"
G = ("grants", "add", "reader-9")
B = ("bans", "add", "reader-9")

BAD_INPUT = {
    "grants-add-unknown-feature": BadInput((*G, "--feature", "lasers", "--reason", "r"), "feature"),
    "grants-add-malformed-until": BadInput(
        (*G, "--feature", "archive", "--until", "2026-02-30T00:00:00Z", "--reason", "r"), "--until"
    ),
    "grants-add-until-in-the-past": BadInput(
        (*G, "--feature", "archive", "--until", PAST, "--reason", "r"), "end"
    ),
    "grants-add-malformed-account": BadInput(
        ("grants", "add", "reader 9!", "--feature", "archive", "--reason", "r"), ACCOUNT_ID_RULE
    ),
    "grants-add-missing-reason": BadInput((*G, "--feature", "archive"), "--reason"),
    "grants-add-blank-reason": BadInput((*G, "--feature", "archive", "--reason", "  "), "reason"),
    "grants-add-reason-too-long": BadInput(
        (*G, "--feature", "archive", "--reason", LONG_REASON), "2000"
    ),
    "grants-add-unknown-kind": BadInput(
        (*G, "--feature", "archive", "--reason", "r", "--kind", "gift"), "--kind"
    ),
    "grants-revoke-unknown-id": BadInput(("grants", "revoke", "424242"), "424242"),
    "grants-revoke-malformed-id": BadInput(("grants", "revoke", "abc"), "grant_id"),
    "grants-revoke-out-of-range-id": BadInput(("grants", "revoke", HUGE_ID), "grant"),
    "grants-revoke-twice": BadInput(("grants", "revoke", "{grant}"), "already", _revoked_grant),
    "bans-add-unknown-feature": BadInput((*B, "--feature", "archive", "--reason", "r"), "feature"),
    "bans-add-malformed-until": BadInput(
        (*B, "--feature", "comment", "--until", "next tuesday", "--reason", "r"), "--until"
    ),
    "bans-add-until-in-the-past": BadInput(
        (*B, "--feature", "comment", "--until", PAST, "--reason", "r"), "future"
    ),
    "bans-add-malformed-account": BadInput(
        ("bans", "add", "a" * 65, "--feature", "comment", "--until", FUTURE, "--reason", "r"),
        ACCOUNT_ID_RULE,
    ),
    "bans-add-missing-reason": BadInput((*B, "--feature", "comment"), "--reason"),
    "bans-add-blank-reason": BadInput((*B, "--feature", "comment", "--reason", "\t"), "reason"),
    "bans-add-reason-too-long": BadInput(
        (*B, "--feature", "comment", "--reason", LONG_REASON), "2000"
    ),
    "bans-add-public-message-too-long": BadInput(
        (*B, "--feature", "comment", "--reason", "r", "--public-message", "m" * 501), "500"
    ),
    "bans-lift-unknown-id": BadInput(("bans", "lift", "424242"), "424242"),
    "bans-lift-malformed-id": BadInput(("bans", "lift", "1.5"), "ban_id"),
    "bans-lift-out-of-range-id": BadInput(("bans", "lift", HUGE_ID), "ban"),
    "bans-lift-twice": BadInput(("bans", "lift", "{ban}"), "already lifted", _lifted_ban),
    "service-keys-create-unknown-scope": BadInput(
        ("service-keys", "create", "--name", "svc", "--scope", "superuser"), "--scope"
    ),
    "service-keys-create-no-scope": BadInput(
        ("service-keys", "create", "--name", "svc"), "--scope"
    ),
    "service-keys-create-malformed-name": BadInput(
        ("service-keys", "create", "--name", "Comments Service", "--scope", READ), "name"
    ),
    "service-keys-create-duplicate-name": BadInput(
        ("service-keys", "create", "--name", "comments", "--scope", READ), "comments", _existing_key
    ),
    "service-keys-revoke-unknown-name": BadInput(
        ("service-keys", "revoke", "nobody"), "no service key named 'nobody'"
    ),
    "service-keys-revoke-twice": BadInput(
        ("service-keys", "revoke", "comments"), "already revoked", _revoked_key
    ),
    "accounts-show-malformed-account": BadInput(("accounts", "show", "x/y"), ACCOUNT_ID_RULE),
    "db-upgrade-unknown-revision": BadInput(("db", "upgrade", "nosuchrev"), "nosuchrev"),
    "db-downgrade-unknown-revision": BadInput(("db", "downgrade", "nosuchrev"), "nosuchrev"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_exits_2_with_a_one_line_error_and_writes_nothing(
    cli: Cli, app: Flask, case: BadInput
) -> None:
    # Some data already there, so "nothing written" is checked against a non-empty database.
    grant(app, "reader-1", "archive", now=T0)
    ban(app, "reader-1", now=T0)
    with app.app_context():
        session = db.session()
        rotate(
            session,
            secret_key=CLI_SECRET,
            now=T0,
            publish_delay=timedelta(minutes=15),
            actor=ACTOR,
        )
        session.commit()
    if case.setup is not None:
        case.setup(app)
    args = [a.format(grant=_baseline_grant(app), ban=_baseline_ban(app)) for a in case.args]
    before = table_rows(app)

    result = cli(*args)

    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert case.hint.lower() in lines[0].lower()
    assert result.stdout == ""
    assert table_rows(app) == before


def test_bad_input_in_a_real_process_exits_2_with_one_line(cli_process: Cli, app: Flask) -> None:
    before = table_rows(app)
    result = cli_process("grants", "add", "reader-1", "--feature", "wings", "--reason", "x")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "wings" in lines[0]
    assert table_rows(app) == before


def test_a_date_that_overflows_in_utc_is_bad_input(cli: Cli, app: Flask) -> None:
    before = table_rows(app)
    result = cli(
        "grants", "add", "reader-1", "--feature", "archive", "--reason", "x",
        "--until", "0001-01-01T00:00:00+01:00",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--until" in result.stderr
    assert table_rows(app) == before
