"""Typed reads of test-client responses."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def json_object(response: TestResponse) -> dict[str, Any]:
    """Return the JSON object a response carries; fail the test on any other body."""
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data(as_text=True)[:300]
    return body
