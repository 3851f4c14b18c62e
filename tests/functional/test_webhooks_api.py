"""The admin API and CLI for webhook endpoints, and GET /v1/revocations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from entitlements import db
from entitlements.models import AuditEvent, ChangeEvent, EventDelivery
from tests.conftest import T0, FakeClock, Keys
from tests.factories import ban, grant
from tests.functional.test_cli import Cli
from tests.support.responses import json_object


@pytest.fixture
def admin(keys: Keys) -> dict[str, str]:
    return keys.header("admin")


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_admin_api_adds_lists_rotates_disables_and_audits_each(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/v1/admin/webhooks",
        json={"url": "https://comments.example.test/hook", "event_types": ["entitlements.changed"]},
        headers=admin,
    )
    assert created.status_code == 201, created.data
    body = json_object(created)
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["entitlements.changed"]
    listed = json_object(client.get("/v1/admin/webhooks", headers=admin))["endpoints"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    rotated = json_object(
        client.post(f"/v1/admin/webhooks/{body['id']}/rotate-secret", headers=admin)
    )
    assert rotated["secret"] != body["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    disabled = client.post(f"/v1/admin/webhooks/{body['id']}/disable", headers=admin)
    assert json_object(disabled)["status"] == "disabled"
    again = client.post(f"/v1/admin/webhooks/{body['id']}/disable", headers=admin)
    assert again.status_code == 409
    assert actions(app)[-3:] == ["webhook.add", "webhook.rotate_secret", "webhook.disable"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.test/x"},
        {"url": "https://user:pw@example.test/x"},
        {"url": "https://example.test/x", "event_types": ["unknown"]},
        {"url": "https://example.test/x", "secret": "whsec_mine"},
    ],
)
def test_admin_api_refuses_bad_endpoints(
    client: FlaskClient, admin: dict[str, str], body: dict[str, object]
) -> None:
    assert client.post("/v1/admin/webhooks", json=body, headers=admin).status_code == 400


def test_secrets_are_answered_no_store_and_an_active_duplicate_url_is_refused(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    body = {"url": "https://comments.example.test/hook"}
    created = client.post("/v1/admin/webhooks", json=body, headers=admin)
    assert created.headers["Cache-Control"] == "no-store"
    again = client.post("/v1/admin/webhooks", json=body, headers=admin)
    assert again.status_code == 409
    assert json_object(again)["field"] == "url"
    endpoint_id = json_object(created)["id"]
    rotated = client.post(f"/v1/admin/webhooks/{endpoint_id}/rotate-secret", headers=admin)
    assert rotated.headers["Cache-Control"] == "no-store"
    client.post(f"/v1/admin/webhooks/{endpoint_id}/disable", headers=admin)
    assert client.post("/v1/admin/webhooks", json=body, headers=admin).status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/x",
        "https://169.254.169.254/latest",
        "https://0x7f000001/x",
        "https://[::ffff:169.254.169.254]/x",
        "https://metadata.google.internal/x",
        "https://localhost/x",
        "https://a.example.test/\u00e9",
        "http://xn--.example.test/",
    ],
)
def test_private_and_unsendable_urls_are_refused_by_default(
    make_app: Callable[..., Flask], url: str
) -> None:
    app = make_app(WEBHOOKS_ALLOW_PRIVATE="false")
    admin = Keys(app).header("admin")
    answer = app.test_client().post("/v1/admin/webhooks", json={"url": url}, headers=admin)
    assert answer.status_code == 422, answer.data


def test_deliveries_list_and_replay(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    client.post("/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=admin)
    grant(app, "reader-1", "comment", now=T0)
    page = json_object(
        client.get("/v1/admin/webhooks/deliveries?status=pending", headers=admin)
    )
    (delivery,) = page["deliveries"]
    assert (delivery["account_id"], delivery["status"]) == ("reader-1", "pending")
    failed = client.get("/v1/admin/webhooks/deliveries?status=failed", headers=admin)
    assert json_object(failed)["deliveries"] == []
    replayed = client.post(
        f"/v1/admin/webhooks/events/{delivery['event_id']}/replay", headers=admin
    )
    assert replayed.status_code == 200
    assert client.post("/v1/admin/webhooks/events/999/replay", headers=admin).status_code == 404
    assert actions(app)[-1] == "webhook.replay"


def test_revocations_name_banned_accounts_since_a_moment_and_page(
    app: Flask, client: FlaskClient, keys: Keys, clock: FakeClock
) -> None:
    reader = keys.header("entitlements:read")
    grant(app, "reader-0", "comment", now=T0)  # adds access: revokes nothing
    for n in range(3):
        ban(app, f"reader-{n}", now=T0 + timedelta(seconds=n))
    since = int(T0.timestamp())
    first = json_object(client.get(f"/v1/revocations?since={since}&limit=2", headers=reader))
    assert first["revocations"] == [
        {"account_id": "reader-0", "not_before": since + 1},
        {"account_id": "reader-1", "not_before": since + 2},
    ]
    rest = json_object(client.get(
        f"/v1/revocations?since={since}&limit=2&cursor={first['next_cursor']}", headers=reader
    ))
    assert rest == {
        "revocations": [{"account_id": "reader-2", "not_before": since + 3}],
        "next_cursor": None,
    }
    later = json_object(client.get(f"/v1/revocations?since={since + 2}", headers=reader))
    assert [r["account_id"] for r in later["revocations"]] == ["reader-2"]
    assert client.get("/v1/revocations", headers=reader).status_code == 400
    assert client.get(f"/v1/revocations?since={since}").status_code == 401
    tokens_only = keys.header("tokens:issue")
    assert client.get(f"/v1/revocations?since={since}", headers=tokens_only).status_code == 403


def test_cli_adds_lists_rotates_replays_and_disables(
    database_url: str, app: Flask, tmp_path: Path
) -> None:
    cli = Cli(database_url, tmp_path / "cli-instance")
    added = cli.ok("webhooks", "add", "http://127.0.0.1:9/x", "--event", "entitlements.changed")
    assert added[0].startswith("webhook endpoint 1: http://127.0.0.1:9/x")
    assert added[1].split()[-1].startswith("whsec_")
    assert "http://127.0.0.1:9/x" in "\n".join(cli.ok("webhooks", "list"))
    assert cli.ok("webhooks", "rotate-secret", "1")[0].split()[-1].startswith("whsec_")
    cli.ok("grants", "add", "reader-1", "--feature", "comment", "--reason", "cli")
    assert "pending" in "\n".join(cli.ok("webhooks", "deliveries"))
    assert cli.ok("webhooks", "replay", "1") == ["event 1: 1 delivery(ies) due again"]
    cli.ok("webhooks", "disable", "1")
    assert "endpoint disabled" in "\n".join(cli.ok("webhooks", "deliveries", "--failed"))
    assert cli("webhooks", "disable", "1").returncode == 2
    assert cli.ok("webhooks", "work", "--once") == ["attempted 0 delivery(ies)"]


def test_the_grandfather_import_writes_one_event_per_new_account(
    database_url: str, app: Flask, tmp_path: Path
) -> None:
    cli = Cli(database_url, tmp_path / "cli-instance")
    cli.ok("webhooks", "add", "http://127.0.0.1:9/x")
    cli.ok("bans", "add", "bob", "--feature", "comment", "--reason", "earlier")
    path = tmp_path / "past.csv"
    path.write_text("account_id,last_commented_at\nalice,2023-01-01\nbob,2023-02-01\n")
    cli.ok("grandfather", "import", str(path), "--commit")
    with app.app_context():
        rows = db.session().scalars(select(ChangeEvent).order_by(ChangeEvent.id)).all()
        pending = db.session().scalars(select(EventDelivery.event_id)).all()
    imported = {
        e.account_id: e for e in rows if e.payload["data"]["reason"] == "grandfather.import"
    }
    assert set(imported) == {"alice", "bob"}
    assert imported["bob"].sequence == 2  # after the ban's event
    assert imported["alice"].payload["data"]["changed"] == ["comment"]
    assert len(pending) == 3
