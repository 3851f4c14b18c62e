"""Bulk import of past commenters: the CLI (dry run by default) and the admin API."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from entitlements import db
from entitlements.billing.sync import apply_subscription, lock_account
from entitlements.models import Account, AuditEvent, Grant
from entitlements.services.audit import Actor
from entitlements.services.grandfather import apply_import, plan_for
from entitlements.services.grants import grant_json
from tests.conftest import T0
from tests.factories import add_subscription, grant
from tests.functional.test_admin_api import UNTIL, Admin
from tests.functional.test_cli import Cli, assert_cli_actor, table_rows

CUTOFF = datetime(2024, 2, 29, tzinfo=UTC)
# Two new, one already grandfathered, one after the cutoff, two invalid (lines 5 and 7).
FILE = (
    "account_id,last_commented_at\n"
    "alice,2023-05-01T10:00:00Z\n"  # 2: new
    "bob,2024-01-31\n"  # 3: new (an existing subscriber)
    "carol,2024-03-01T00:00:00Z\n"  # 4: after the cutoff
    "bad id,2023-01-01T00:00:00Z\n"  # 5: invalid account id
    "dave,2022-01-01T00:00:00Z\n"  # 6: already grandfathered
    "alice,2023-06-01T00:00:00Z\n"  # 7: duplicate of line 2
)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app whose grandfather period is still running at T0."""
    return make_app(GRANDFATHER_UNTIL=UNTIL)


@pytest.fixture
def seeded(app: Flask) -> Flask:
    """bob subscribes; dave already has a grandfather grant."""
    add_subscription(app, "bob", now=T0)
    grant(app, "dave", "comment", now=T0, kind="grandfather", ends_by_policy=True)
    return app


@pytest.fixture
def cli(database_url: str, app: Flask, tmp_path: Path) -> Cli:
    """The console script in-process on this run's database (`app` empties it afterwards)."""
    return Cli(database_url, tmp_path / "cli-instance")


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "past-commenters.csv"
    path.write_text(FILE)
    return path


def grandfather_grants(app: Flask) -> dict[str, Grant]:
    with app.app_context():
        query = select(Grant).where(Grant.kind == "grandfather").order_by(Grant.id)
        return {g.account_id: g for g in db.session().scalars(query)}


def import_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == "grandfather.import")
        return list(db.session().scalars(query))


# ---- CLI ---------------------------------------------------------------------------------


def test_cli_dry_run_is_the_default_prints_exact_counts_and_writes_nothing(
    cli: Cli, seeded: Flask, csv_file: Path
) -> None:
    before = table_rows(seeded)
    result = cli("grandfather", "import", str(csv_file))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^rows: +6$", out, re.M)
    assert re.search(r"^new: +2$", out, re.M)
    assert re.search(r"^already grandfathered: +1$", out, re.M)
    assert re.search(r"^commented after the cutoff \(skipped\): +1$", out, re.M)
    assert re.search(r"^invalid: +2$", out, re.M)
    assert "  line 5: bad account id 'bad id'" in out
    assert "  line 7: duplicate of line 2 (alice)" in out
    assert "run again with --commit --skip-invalid" in out
    assert hashlib.sha256(FILE.encode()).hexdigest() in out
    assert table_rows(seeded) == before


def test_cli_commit_with_invalid_rows_fails_in_one_line_and_imports_nothing(
    cli: Cli, seeded: Flask, csv_file: Path
) -> None:
    before = table_rows(seeded)
    result = cli("grandfather", "import", str(csv_file), "--commit")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: 2 invalid row(s) (first: line 5: bad account id")
    assert "--skip-invalid" in line
    assert table_rows(seeded) == before


def test_cli_commit_skip_invalid_grants_comment_from_the_cutoff_following_the_policy(
    cli: Cli, seeded: Flask, csv_file: Path
) -> None:
    result = cli("grandfather", "import", str(csv_file), "--commit", "--skip-invalid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        "imported: 2 grandfather grant(s), 1 new account(s); audit event "
    )
    grants = grandfather_grants(seeded)
    assert sorted(grants) == ["alice", "bob", "dave"]
    alice = grants["alice"]
    assert (alice.feature, alice.starts_at, alice.ends_at) == ("comment", CUTOFF, None)
    assert alice.ends_by_policy is True
    assert alice.revoked_at is None
    assert alice.reason == "commented before the cutoff (last comment 2023-05-01)"
    assert_cli_actor(alice.actor)
    with seeded.app_context():
        assert db.session().get(Account, "carol") is None
        assert db.session().get(Account, "bad id") is None
    [event] = import_events(seeded)
    assert_cli_actor(event.actor)
    assert event.subject_id == hashlib.sha256(FILE.encode()).hexdigest()
    assert event.after is not None
    assert {k: event.after[k] for k in ("rows", "new", "already_grandfathered",
                                        "after_cutoff", "invalid", "accounts_created")} == {
        "rows": 6, "new": 2, "already_grandfathered": 1, "after_cutoff": 1, "invalid": 2,
        "accounts_created": 1,
    }
    assert event.after["file_sha256"] == event.subject_id


def test_cli_importing_the_same_file_twice_changes_nothing_the_second_time(
    cli: Cli, seeded: Flask, csv_file: Path
) -> None:
    cli.ok("grandfather", "import", str(csv_file), "--commit", "--skip-invalid")
    after_first = table_rows(seeded)
    again = cli.ok("grandfather", "import", str(csv_file), "--commit", "--skip-invalid")
    assert again[-1].startswith("nothing to import")
    assert table_rows(seeded) == after_first
    dry = "\n".join(cli.ok("grandfather", "import", str(csv_file)))
    assert re.search(r"^new: +0$", dry, re.M)
    assert re.search(r"^already grandfathered: +3$", dry, re.M)


def test_cli_a_revoked_grandfather_grant_is_not_restored_by_a_new_import(
    cli: Cli, app: Flask, tmp_path: Path
) -> None:
    grant_id = grant(app, "erin", "comment", now=T0, kind="grandfather", ends_by_policy=True)
    with app.app_context():
        row = db.session().get(Grant, grant_id)
        assert row is not None
        row.revoked_at = T0
        db.session().commit()
    path = tmp_path / "erin.csv"
    path.write_text("account_id,last_commented_at\nerin,2023-01-01\n")
    out = "\n".join(cli.ok("grandfather", "import", str(path), "--commit"))
    assert re.search(r"^already grandfathered: +1$", out, re.M)
    assert list(grandfather_grants(app)) == ["erin"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"who,when\nalice,2023-01-01\n", "line 1 must be the header"),
        (b"account_id,last_commented_at\n\xff\xfe,x\n", "not UTF-8"),
        (b"account_id,last_commented_at\nbob,2020-01-01T00:00:00Z\x00\n", "contains a NUL"),
    ],
)
def test_cli_bad_files_fail_in_one_line_with_status_2_and_write_nothing(
    cli: Cli, app: Flask, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = table_rows(app)
    for extra in ((), ("--commit",), ("--commit", "--skip-invalid")):
        result = cli("grandfather", "import", str(path), *extra)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ")
        assert message in line
    assert table_rows(app) == before


def test_cli_a_missing_file_is_a_one_line_error(cli: Cli, app: Flask, tmp_path: Path) -> None:
    result = cli("grandfather", "import", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: cannot read {tmp_path / 'nope.csv'}: No such file or directory; "
        "give the path of a CSV file"
    )


def test_cli_large_files_show_progress_on_stderr_only(
    cli: Cli, app: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    rows = "".join(f"reader-{i},2023-01-01\n" for i in range(12_000))
    path.write_text("account_id,last_commented_at\n" + rows)
    result = cli("grandfather", "import", str(path), "--commit")
    assert result.returncode == 0, result.stderr
    assert "checking" in result.stderr
    assert "importing" in result.stderr
    assert "checking" not in result.stdout
    assert len(grandfather_grants(app)) == 12_000


# ---- service: two imports racing -----------------------------------------------------------


def test_accounts_granted_between_plan_and_apply_are_not_granted_twice(app: Flask) -> None:
    text = "account_id,last_commented_at\nalice,2023-01-01\nbob,2023-01-01\n"
    with app.app_context():
        session = db.session()
        stale = plan_for(session, text, cutoff=CUTOFF)
        session.rollback()
    grant(app, "alice", "comment", now=T0, kind="grandfather", ends_by_policy=True)
    with app.app_context():
        session = db.session()
        result = apply_import(session, stale, actor=Actor("test"), now=T0, file_sha256="x")
        session.commit()
    assert (result.grants_created, result.granted_meanwhile) == (1, 1)
    assert sorted(grandfather_grants(app)) == ["alice", "bob"]


# ---- API ---------------------------------------------------------------------------------


@pytest.fixture
def admin(seeded: Flask) -> Admin:
    return Admin(seeded)


def post_csv(admin: Admin, query: str = "", body: str | bytes = FILE, **kwargs: Any) -> Any:
    kwargs.setdefault("content_type", "text/csv")
    return admin.post(f"/grandfather/import{query}", data=body, **kwargs)


def test_api_dry_run_is_the_default_and_reports_counts_and_invalid_lines(admin: Admin) -> None:
    before = table_rows(admin.app)
    response = post_csv(admin)
    assert response.status_code == 200
    assert response.json == {
        "dry_run": True,
        "file_sha256": hashlib.sha256(FILE.encode()).hexdigest(),
        "cutoff": "2024-02-29T00:00:00Z",
        "rows": 6, "new": 2, "already_grandfathered": 1, "after_cutoff": 1, "invalid": 2,
        "invalid_rows": [
            {"line": 5, "reason": "bad account id 'bad id': must be 1-64 characters of "
                                  "A-Z, a-z, 0-9 and _ . : @ -"},
            {"line": 7, "reason": "duplicate of line 2 (alice)"},
        ],
        "grants_created": 0, "accounts_created": 0, "audit_event_id": None,
        "warnings": [],  # the period is still running at T0
    }
    assert post_csv(admin, "?dry_run=true&commit=false").json == response.json
    assert table_rows(admin.app) == before


def test_api_commit_with_invalid_rows_is_422_and_writes_nothing(admin: Admin) -> None:
    before = table_rows(admin.app)
    response = post_csv(admin, "?commit=true")
    assert response.status_code == 422  # a CSV file, as documented; its rows break the rules
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"].startswith("2 invalid row(s) (first: line 5")
    assert [r["line"] for r in response.json["invalid_rows"]] == [5, 7]
    assert table_rows(admin.app) == before


def test_api_commit_skip_invalid_is_201_then_a_repeat_is_200_and_changes_nothing(
    admin: Admin,
) -> None:
    first = post_csv(admin, "?commit=true&skip_invalid=true", headers={"X-Request-Id": "imp-1"})
    assert first.status_code == 201
    assert (first.json["dry_run"], first.json["new"], first.json["grants_created"]) == (
        False, 2, 2,
    )
    assert first.json["accounts_created"] == 1
    [event] = import_events(admin.app)
    assert (event.id, event.actor, event.request_id) == (
        first.json["audit_event_id"], "key:ops", "imp-1",
    )
    after_first = table_rows(admin.app)
    again = post_csv(admin, "?dry_run=false&skip_invalid=true")
    assert again.status_code == 200
    assert (again.json["new"], again.json["already_grandfathered"]) == (0, 3)
    assert again.json["audit_event_id"] is None
    assert table_rows(admin.app) == after_first


def test_api_imported_readers_may_comment_until_the_policy_end_and_late_ones_may_not(
    admin: Admin,
) -> None:
    post_csv(admin, "?commit=true&skip_invalid=true")
    assert admin.check("alice")["sources"] == [
        {"feature": "comment", "source": "grandfather", "ends_at": UNTIL}
    ]
    assert admin.check("carol")["features"] == []
    # bob's grant lies underneath his subscription: both are sources of comment.
    sources = {s["source"] for s in admin.check("bob")["sources"] if s["feature"] == "comment"}
    assert sources == {"grandfather", "subscription"}


@pytest.mark.parametrize(
    ("request_parts", "status", "message"),
    [
        (("", FILE, "application/json"), 415, "text/csv"),
        (("", FILE, "text/plain"), 415, "text/csv"),
        (("?commit=yes", FILE, "text/csv"), 400, "commit must be true or false"),
        # Only OpenAPI's spelling of a boolean, as the document says.
        (("?commit=1", FILE, "text/csv"), 400, "commit must be true or false"),
        (("?commit=%20true", FILE, "text/csv"), 400, "commit must be true or false"),
        (("?commit=true&dry_run=true", FILE, "text/csv"), 422, "contradict"),
        (("?force=true", FILE, "text/csv"), 400, "unknown query parameter"),
        (("", "", "text/csv"), 422, "the file is empty"),
        (("", "who,when\n", "text/csv"), 422, "line 1 must be the header"),
        (("", b"account_id,last_commented_at\n\xff,x\n", "text/csv"), 400, "not UTF-8"),
        (
            ("?commit=true", b"account_id,last_commented_at\nbob,2020-01-01T00:00:00Z\x00\n",
             "text/csv"),
            400,
            "line 2: contains a NUL character",
        ),
    ],
)
def test_api_bad_requests_are_problems_and_write_nothing(
    admin: Admin, request_parts: tuple[str, str | bytes, str], status: int, message: str
) -> None:
    query, body, content_type = request_parts
    before = table_rows(admin.app)
    response = post_csv(admin, query, body, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert message in response.json["detail"]
    assert table_rows(admin.app) == before


def test_api_accepts_a_file_larger_than_the_general_body_limit(admin: Admin) -> None:
    rows = "".join(f"reader-{i:06d},2023-01-01T00:00:00Z\n" for i in range(40_000))
    body = "account_id,last_commented_at\n" + rows
    assert len(body) > 1024 * 1024
    response = post_csv(admin, body=body, content_type="text/csv; charset=utf-8")
    assert response.status_code == 200
    assert response.json["new"] == 40_000


def test_api_refuses_a_file_beyond_the_import_limit_with_413(admin: Admin) -> None:
    body = b"account_id,last_commented_at\n" + b"x" * (16 * 1024 * 1024)
    response = post_csv(admin, body=body)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_stripe_sync_of_a_grandfathered_readers_subscription_never_touches_the_grant(
    admin: Admin,
) -> None:
    post_csv(admin, "?commit=true&skip_invalid=true")
    start = int(T0.timestamp())
    stripe_subscription: dict[str, Any] = {
        "id": "sub_alice", "customer": "cus_alice", "status": "active", "created": start,
        "items": {"data": [{"price": {"id": "price_m", "lookup_key": "plus_monthly"},
                            "current_period_start": start,
                            "current_period_end": start + 30 * 86400}]},
    }

    def sync(**changes: Any) -> dict[str, Any]:
        with admin.app.app_context():
            session = db.session()
            account = lock_account(session, "alice", now=T0)
            apply_subscription(session, account, {**stripe_subscription, **changes}, now=T0,
                               actor=Actor("stripe"))
            session.commit()
            [row] = session.scalars(select(Grant).where(Grant.account_id == "alice"))
            return grant_json(row)

    snapshot = grant_json(grandfather_grants(admin.app)["alice"])
    assert sync() == snapshot
    assert {s["source"] for s in admin.check("alice")["sources"]} >= {"grandfather", "subscription"}
    assert sync(status="canceled", ended_at=start) == snapshot
    assert admin.check("alice")["sources"] == [
        {"feature": "comment", "source": "grandfather", "ends_at": UNTIL}
    ]
