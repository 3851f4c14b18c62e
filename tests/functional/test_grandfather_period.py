"""An import after the grandfather period has ended still imports, and says it grants nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from tests.functional.test_admin_api import Admin
from tests.functional.test_cli import Cli
from tests.functional.test_grandfather_import import grandfather_grants
from tests.support.responses import json_object

PAST = "2025-02-28T00:00:00Z"  # before T0 and before the wall clock
FUTURE = "2099-02-28T00:00:00Z"
CSV = "account_id,last_commented_at\nalice,2023-05-01T10:00:00Z\nbob,2023-06-01\n"


@pytest.fixture(params=[PAST])
def until(request: pytest.FixtureRequest) -> str:
    """ENTITLEMENTS_GRANDFATHER_UNTIL for the app and the CLI (parametrize to change)."""
    return str(request.param)


@pytest.fixture
def app(make_app: Callable[..., Flask], until: str) -> Flask:
    return make_app(GRANDFATHER_UNTIL=until)


@pytest.fixture
def cli(database_url: str, app: Flask, tmp_path: Path, until: str) -> Cli:
    return Cli(
        database_url,
        tmp_path / "cli-instance",
        env_overrides={"ENTITLEMENTS_GRANDFATHER_UNTIL": until},
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "past-commenters.csv"
    path.write_text(CSV)
    return path


WARNING = (
    f"warning: the grandfather period ended on {PAST} (ENTITLEMENTS_GRANDFATHER_UNTIL): "
    "these rows grant no commenting until the period is moved"
)


def test_cli_import_after_the_period_still_imports_and_warns(
    cli: Cli, app: Flask, csv_file: Path
) -> None:
    assert WARNING in cli.ok("grandfather", "import", str(csv_file))
    out = cli.ok("grandfather", "import", str(csv_file), "--commit")
    assert WARNING in out
    assert out[-1].startswith("imported: 2 grandfather grant(s)")
    assert sorted(grandfather_grants(app)) == ["alice", "bob"]


@pytest.mark.parametrize("until", [FUTURE], indirect=True)
def test_cli_import_during_the_period_has_no_warning(cli: Cli, csv_file: Path) -> None:
    out = cli.ok("grandfather", "import", str(csv_file), "--commit")
    assert not [line for line in out if line.startswith("warning:")]


def test_api_import_after_the_period_still_imports_and_warns(app: Flask) -> None:
    admin = Admin(app)
    headers = {"Content-Type": "text/csv"}
    dry = admin.client.post(
        "/v1/admin/grandfather/import", data=CSV, headers={**admin.headers, **headers}
    )
    assert dry.status_code == 200
    [warning] = json_object(dry)["warnings"]
    assert warning == WARNING.removeprefix("warning: ")
    done = admin.client.post(
        "/v1/admin/grandfather/import?commit=true",
        data=CSV,
        headers={**admin.headers, **headers},
    )
    assert done.status_code == 201
    assert json_object(done)["warnings"] == [warning]
    assert json_object(done)["grants_created"] == 2
    assert sorted(grandfather_grants(app)) == ["alice", "bob"]


@pytest.mark.parametrize("until", [FUTURE], indirect=True)
def test_api_import_during_the_period_has_no_warnings(app: Flask) -> None:
    admin = Admin(app)
    response = admin.client.post(
        "/v1/admin/grandfather/import",
        data=CSV,
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200
    assert json_object(response)["warnings"] == []


def test_the_openapi_document_describes_the_warnings(app: Flask) -> None:
    schema = json_object(app.test_client().get("/openapi.json"))["components"]["schemas"]
    report = schema["GrandfatherImport"]
    assert report["properties"]["warnings"] == {
        "type": "array",
        "description": report["properties"]["warnings"]["description"],
        "items": {"type": "string"},
    }
    assert "warnings" in report["required"]
