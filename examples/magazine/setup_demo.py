"""Add the demo readers `entitlements demo load` lacks, through the service's admin API.

Idempotent. Needs a service key with the `admin` scope (the demo key has every scope):
    .venv/bin/python -m examples.magazine.setup_demo
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from .settings import read_service_key

ENDED = "demo-grandfather-ended"
BANNED = "demo-banned"
# The service's demo-banned holds a comp `comment` grant and a ban; these make it a banned
# subscriber: ad-free, archive and edition, but no comments.
PLUS_FEATURES = ("ad_free", "archive", "digital_edition")
# The admin API refuses an end before the grant's start (now): a past commenter whose period
# is over gets a period that ends a few seconds after it is created.
ENDED_AFTER = timedelta(seconds=3)


class AdminApiError(RuntimeError):
    """The admin API refused a call."""


def call(url: str, key: str, method: str, path: str, body: object = None) -> Any:
    """Send one admin API request and return its JSON answer; raise AdminApiError on refusal."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310  (the configured service URL, http(s))
        url + path, data=data, method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            raise AdminApiError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None


def grants(url: str, key: str, account_id: str) -> list[dict[str, Any]]:
    """Return an account's grants (revoked and ended ones too)."""
    return list(call(url, key, "GET", f"/v1/admin/grants?account_id={account_id}")["grants"])


def set_up(url: str, key: str, *, now: datetime | None = None) -> list[str]:
    """Create the missing demo readers; return what was done, one line each."""
    at = now or datetime.now(UTC)
    lines = []
    if not any(g["kind"] == "grandfather" for g in grants(url, key, ENDED)):
        ends_at = (at + ENDED_AFTER).isoformat()
        call(url, key, "POST", "/v1/admin/grants", {
            "account_id": ENDED, "feature": "comment", "kind": "grandfather", "ends_at": ends_at,
            "reason": "magazine demo: a past commenter whose grandfather period ended",
        })
        lines.append(f"{ENDED}: grandfather grant of comment ending {ends_at}")
    held = {g["feature"] for g in grants(url, key, BANNED) if g["active"]}
    for feature in PLUS_FEATURES:
        if feature not in held:
            call(url, key, "POST", "/v1/admin/grants", {
                "account_id": BANNED, "feature": feature, "kind": "comp",
                "reason": "magazine demo: a contributor's complimentary Plus",
            })
            lines.append(f"{BANNED}: complimentary {feature}")
    return lines or ["the magazine's demo readers are already set up"]


def main() -> None:
    """Set up the demo readers at MAGAZINE_ENTITLEMENTS_URL with MAGAZINE_ADMIN_KEY."""
    url = os.environ.get("MAGAZINE_ENTITLEMENTS_URL", "http://127.0.0.1:8000").rstrip("/")
    key = os.environ.get("MAGAZINE_ADMIN_KEY") or read_service_key(os.environ)
    try:
        lines = set_up(url, key)
    except (AdminApiError, OSError) as error:
        sys.exit(f"setting up the demo readers failed: {error}")
    sys.stdout.write("".join(f"{line}\n" for line in lines))


if __name__ == "__main__":
    main()
