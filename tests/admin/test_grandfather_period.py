"""The console says whether the grandfather period is running, and warns an import after it."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from flask import Flask

from tests.admin.conftest import Console
from tests.admin.test_import import grandfathered, upload

PAST = "2025-02-28T00:00:00Z"  # before T0
FUTURE = "2099-02-28T00:00:00Z"
CSV = b"account_id,last_commented_at\nold-1,2023-05-01T10:00:00Z\n"


@pytest.fixture(params=[PAST])
def app(make_app: Callable[..., Flask], request: pytest.FixtureRequest) -> Flask:
    return make_app(GRANDFATHER_UNTIL=request.param)


def page(console: Console, path: str) -> str:
    response = console.get(path)
    assert response.status_code == 200
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def test_home_says_the_period_has_ended(signed_in: Console) -> None:
    home = page(signed_in, "/admin/")
    assert 'id="period-state"' in home
    assert "Ended on <strong>2025-02-28</strong>: grandfather grants give no commenting" in home


@pytest.mark.parametrize("app", [FUTURE], indirect=True)
def test_home_says_until_when_the_period_runs(signed_in: Console) -> None:
    home = page(signed_in, "/admin/")
    assert "Active until <strong>2099-02-28</strong>" in home
    assert "Ended on" not in home


def test_an_import_after_the_period_warns_at_every_step_and_still_imports(
    signed_in: Console, app: Flask
) -> None:
    warning = "grant no commenting until the period is moved"
    assert warning in page(signed_in, "/admin/import")
    preview = upload(signed_in, CSV)
    assert preview.status_code == 200
    text = " ".join(html.unescape(preview.get_data(as_text=True)).split())
    assert 'id="period-warning"' in text
    assert warning in text
    assert "they cannot comment until it is moved" in text
    done = signed_in.post(
        "/admin/import/commit",
        {
            "sha256": preview.get_data(as_text=True).split('name="sha256" value="')[1][:64],
            "new": "1",
            "invalid": "0",
        },
    )
    assert done.status_code == 303
    assert grandfathered(app) == ["old-1"]
    assert warning in page(signed_in, "/admin/import")


@pytest.mark.parametrize("app", [FUTURE], indirect=True)
def test_an_import_during_the_period_has_no_warning(signed_in: Console) -> None:
    assert 'id="period-warning"' not in page(signed_in, "/admin/import")
    assert 'id="period-warning"' not in upload(signed_in, CSV).get_data(as_text=True)
