"""The table of ENTITLEMENTS_* settings: default, help (the README's table) and production rules."""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True)
class Setting:
    """How one ENTITLEMENTS_* variable is documented, parsed and checked."""

    default: str | None
    help: str
    required_in_production: bool = False
    secret: bool = False


# The single table of configuration: the README's table is generated from it.
SETTINGS: dict[str, Setting] = {
    "ENV": Setting("development", "`development`, `test` or `production` (strict checks)."),
    "DATABASE_URL": Setting(
        None,
        "SQLAlchemy URL (PostgreSQL in production). Default: SQLite file `entitlements.db` in "
        "the instance folder.",
        required_in_production=True,
        secret=True,
    ),
    "READ_TIMEOUT": Setting(
        "5s",
        "On PostgreSQL, how long a check or token read may wait before it is cancelled and "
        "answered 503 (a `statement_timeout` startup option; `0` sends none).",
    ),
    "INSTANCE_PATH": Setting(
        None, "Folder for the SQLite file and development secrets. Default: `./instance`."
    ),
    "SECRET_KEY": Setting(
        None,
        "At least 32 characters (in production random: about 128 bits or more); encrypts "
        "signing keys at rest and signs sessions. Development generates one in the instance "
        "folder.",
        required_in_production=True,
        secret=True,
    ),
    "ISSUER": Setting(
        "http://localhost:8000",
        "`iss` of issued tokens (an https URL in production).",
        required_in_production=True,
    ),
    "TOKEN_TTL": Setting("300", "Longest token lifetime (duration: 300, 5m, ...)."),
    "TOKEN_AUDIENCES": Setting(
        "site", "Comma-separated audiences a token may be issued for (the allow-list)."
    ),
    "DEFAULT_AUDIENCE": Setting(None, "Audience when a request names none. Default: the first."),
    "SIGNING_KEY_PUBLISH_DELAY": Setting(
        "15m",
        "How long a rotated key is published in the JWKS before it signs (verifier cache "
        "time; up to 7d).",
    ),
    "JWKS_MAX_AGE": Setting("300", "Cache-Control max-age of the JWKS, in seconds (up to 24h)."),
    "CORAL_SSO_SECRET": Setting(
        None,
        "The Coral Talk SSO secret (Coral admin: Configure, Auth, Login with Single Sign On), "
        "whole, `ssosec_` prefix included; at least 32 characters, no space or control "
        "character; in production random (Coral's own, `ssosec_` and hex digits, is). "
        "Unset: `POST /v1/accounts/{id}/coral-sso-token` answers 404.",
        secret=True,
    ),
    "CORAL_SSO_KID": Setting(
        None,
        "The Coral SSO secret's key ID, sent as the token's `kid` so Coral picks the right "
        "secret while two are active during a rotation. Default: no `kid`.",
    ),
    "CORAL_SSO_TTL": Setting(
        "5m",
        "Lifetime of a Coral SSO token (30s to 5m, never past the answer's `valid_until`): how "
        "long a reader we refuse (banned, lapsed) may still comment in Coral.",
    ),
    "PAST_DUE_GRACE": Setting(
        "7d",
        "How long a `past_due` subscription still entitles, from the failed renewal (up to 90d).",
    ),
    "RENEWAL_GRACE": Setting(
        "48h",
        "How long access continues after a period end Stripe has not reported on yet (up to 30d).",
    ),
    "CATALOG": Setting(None, "Path of a TOML plans catalog. Default: the built-in catalog."),
    "PUBLIC_URL": Setting(
        "http://127.0.0.1:8000",
        "Public base URL of this service; Checkout and the portal return here (https in prod).",
        required_in_production=True,
    ),
    "SITE_URL": Setting(
        "http://127.0.0.1:8000",
        "The magazine's home page, linked from our pages (https in production).",
        required_in_production=True,
    ),
    "COOKIE_SECURE": Setting(
        "auto",
        "Mark session cookies Secure: `true`, `false`, or `auto` (when PUBLIC_URL is https); "
        "production refuses `false`.",
    ),
    "STRIPE_SECRET_KEY": Setting(
        None,
        "Stripe secret key. Unset in development: `demo run` starts the offline emulator.",
        required_in_production=True,
        secret=True,
    ),
    "STRIPE_API_BASE": Setting(
        None,
        "Stripe API base URL (the emulator's URL in development); https in production, "
        "except to a loopback address.",
    ),
    "STRIPE_TIMEOUT": Setting(
        "5s",
        "How long one Stripe request may take before it is retried once, then answered 503 "
        "(1s to 20s; keep two tries of every Stripe call a request makes under gunicorn's 60s).",
    ),
    "STRIPE_WEBHOOK_SECRET": Setting(
        None,
        "Webhook signing secrets (`whsec_...`), comma-separated during rotation.",
        required_in_production=True,
        secret=True,
    ),
    "REVOKE_ON_REFUND": Setting("true", "A full refund of a Plus payment ends access at once."),
    "REVOKE_ON_DISPUTE": Setting("true", "A dispute of a Plus payment ends access at once."),
    "CANCEL_ON_REVOKE": Setting(
        "true",
        "When a refund or dispute ends access, also cancel the Stripe subscription at once "
        "(no further renewals).",
    ),
    "GRANDFATHER_CUTOFF": Setting(
        "2024-02-29T00:00:00Z", "Accounts that commented before this keep commenting."
    ),
    "GRANDFATHER_UNTIL": Setting(
        "2025-02-28T00:00:00Z", "End of the past commenters' temporary period."
    ),
    "LOG_LEVEL": Setting("INFO", "Python logging level."),
    "ADMIN_IDLE_TIMEOUT": Setting(
        "30m", "An admin console session ends after this long without a request (1m to 24h)."
    ),
    "TRUSTED_PROXIES": Setting(
        "0",
        "How many reverse proxies in front set `X-Forwarded-For` and `X-Forwarded-Proto` "
        "(0 to 5). Sign-in throttling counts client addresses: behind a proxy, set this, or "
        "every admin shares the proxy's address.",
    ),
    "WEBHOOKS_ALLOW_PRIVATE": Setting(
        "false",
        "Let change-event endpoints be loopback, private or other non-public addresses and "
        "local names, also over http in production (intranet receivers, tests, the demo). "
        "Cloud metadata addresses stay refused.",
    ),
    "DEMO": Setting(
        "false", "Serve /demo, a sign-in page for trying the subscriber pages without a site."
    ),
}
