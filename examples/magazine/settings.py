"""The magazine's settings, read from MAGAZINE_* environment variables by the entry point."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Where `entitlements demo run` (started in the checkout) keeps its all-scope demo key, and,
# while it delivers change events here (ENTITLEMENTS_SITE_URL set), this site's event secret.
DEMO_KEY_FILE = "instance/demo-service-key"
DEMO_EVENT_SECRET_FILE = "instance/demo-event-secret"  # noqa: S105  (a path, not a secret)


@dataclass(frozen=True)
class Settings:
    """Everything the magazine needs to know about itself and the service."""

    service_url: str = "http://127.0.0.1:8000"
    service_key: str = ""
    # `iss` of the service's tokens: its ENTITLEMENTS_ISSUER (the demo's default below).
    issuer: str = "http://localhost:8000"
    audience: str = "site"
    # Beside the demo service's own files, in the instance folder git ignores.
    database: str = "instance/magazine.db"
    secret_key: str = ""
    # Standard Webhooks secret of this site's change-event endpoint; unset: the endpoint is off.
    event_secret: str | None = None
    # Once the service delivers change events to this site, a reader's token may be kept across
    # page loads (an event revokes it); until then every page load asks for a new one.
    events_delivered: bool = False
    secure_cookies: bool = False


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def read_service_key(env: Mapping[str, str]) -> str:
    """Return MAGAZINE_SERVICE_KEY, else the key `entitlements demo run` keeps in the checkout."""
    key = env.get("MAGAZINE_SERVICE_KEY", "").strip()
    if key:
        return key
    path = Path(env.get("MAGAZINE_SERVICE_KEY_FILE", DEMO_KEY_FILE))
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise SystemExit(
            f"set MAGAZINE_SERVICE_KEY (scopes tokens:issue, entitlements:read) or run "
            f"`entitlements demo run` in this folder first ({path} is missing)"
        ) from None


def read_event_secret(env: Mapping[str, str]) -> str | None:
    """Return MAGAZINE_EVENT_SECRET, else the secret `entitlements demo run` keeps, if any."""
    secret = env.get("MAGAZINE_EVENT_SECRET", "").strip()
    if secret:
        return secret
    path = Path(env.get("MAGAZINE_EVENT_SECRET_FILE", DEMO_EVENT_SECRET_FILE))
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def settings_from_env(env: Mapping[str, str] = os.environ) -> Settings:
    """Build the settings from the environment (only the entry point calls this)."""
    event_secret = read_event_secret(env)
    delivered = env.get("MAGAZINE_EVENTS_DELIVERED", "").strip()
    return Settings(
        service_url=env.get("MAGAZINE_ENTITLEMENTS_URL", Settings.service_url).rstrip("/"),
        service_key=read_service_key(env),
        issuer=env.get("MAGAZINE_ISSUER", Settings.issuer),
        audience=env.get("MAGAZINE_AUDIENCE", Settings.audience),
        database=env.get("MAGAZINE_DATABASE", Settings.database),
        # Random per process unless set: a restart signs every reader out, fine for a demo.
        secret_key=env.get("MAGAZINE_SECRET_KEY") or secrets.token_urlsafe(32),
        event_secret=event_secret,
        # A secret means events are delivered (the demo keeps one only then), unless told.
        events_delivered=_flag(delivered) if delivered else event_secret is not None,
        secure_cookies=_flag(env.get("MAGAZINE_SECURE_COOKIES")),
    )
