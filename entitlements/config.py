"""Settings read from ENTITLEMENTS_* environment variables, validated once at start-up."""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from .clock import parse_datetime

ENVIRONMENTS = ("development", "test", "production")
_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# No setting needs more; a bound here keeps timedelta and int() from raising anything but
# ValueError on values such as 99999999999d.
_LONGEST = timedelta(days=3650)
# A production secret key must carry at least this much estimated entropy (see _estimated_bits).
SECRET_KEY_BITS = 128


class ConfigError(RuntimeError):
    """Raised when configuration is missing or invalid; the message says what to set."""


def parse_duration(text: str) -> timedelta:
    """Parse `300`, `300s`, `15m`, `48h` or `7d` into a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 300s, 15m, 48h or 7d")
    digits = match.group(1).lstrip("0")
    if len(digits) > 12 or int(digits or 0) * _UNITS[match.group(2)] > _LONGEST.total_seconds():
        raise ValueError(f"{text.strip()[:40]!r} is out of range (at most 3650d)")
    return timedelta(seconds=int(digits or 0) * _UNITS[match.group(2)])


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_hops(text: str) -> int:
    """Parse a count of trusted proxy hops, 0 to 5."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) > 5:
        raise ValueError(f"{text.strip()[:40]!r} is not a number of proxies from 0 to 5")
    return int(value)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


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
    "DEMO": Setting(
        "false", "Serve /demo, a sign-in page for trying the subscriber pages without a site."
    ),
}


@dataclass(frozen=True)
class Config:
    """Validated settings; built by `load_config` only."""

    env: str
    database_url: str
    read_timeout: timedelta
    instance_path: str
    secret_key: str
    issuer: str
    token_ttl: timedelta
    token_audiences: tuple[str, ...]
    default_audience: str
    signing_key_publish_delay: timedelta
    jwks_max_age: int
    past_due_grace: timedelta
    renewal_grace: timedelta
    catalog_path: str | None
    public_url: str
    site_url: str
    cookie_secure: bool
    stripe_secret_key: str | None
    stripe_api_base: str | None
    stripe_timeout: timedelta
    stripe_webhook_secrets: tuple[str, ...]
    revoke_on_refund: bool
    revoke_on_dispute: bool
    cancel_on_revoke: bool
    grandfather_cutoff: datetime
    grandfather_until: datetime
    log_level: str
    demo: bool
    admin_idle_timeout: timedelta
    trusted_proxies: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        """Return True when strict production checks apply."""
        return self.env == "production"

    def __repr__(self) -> str:
        # Never let a secret reach a log line or an error page through repr().
        shown = []
        for f in fields(self):
            setting = SETTINGS.get(f.name.upper())
            value = "***" if setting is not None and setting.secret else getattr(self, f.name)
            if f.name == "stripe_webhook_secrets":
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Config({', '.join(shown)})"


def _raw(name: str, environ: Mapping[str, str], overrides: Mapping[str, Any]) -> Any:
    if overrides.get(name) is not None:
        return overrides[name]
    value = environ.get(f"ENTITLEMENTS_{name}")
    if value is None or value == "":
        return SETTINGS[name].default
    return value


# One linear pass over the settings reads better than checks scattered over helpers.
def load_config(  # noqa: PLR0912, PLR0915
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, parse and validate configuration; raise ConfigError naming what to fix."""
    overrides = {k.upper(): v for k, v in (overrides or {}).items()}
    env_vars = os.environ if environ is None else environ
    unknown = set(overrides) - set(SETTINGS) - {"CLOCK", "TESTING"}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

    def get(name: str) -> Any:
        return _raw(name, env_vars, overrides)

    env = str(get("ENV"))
    if env not in ENVIRONMENTS:
        raise ConfigError(f"ENTITLEMENTS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    production = env == "production"
    if production:
        missing = [
            f"ENTITLEMENTS_{name}"
            for name, setting in SETTINGS.items()
            if setting.required_in_production and not _explicit(name, env_vars, overrides)
        ]
        if missing:
            raise ConfigError(
                "production needs these settings (no insecure defaults): " + ", ".join(missing)
            )

    def parse(name: str, parser: Any) -> Any:
        value = get(name)
        if value is None or not isinstance(value, str):
            return value
        try:
            return parser(value)
        except ValueError as exc:
            raise ConfigError(f"ENTITLEMENTS_{name}: {exc}") from exc

    instance_path = os.path.abspath(str(get("INSTANCE_PATH") or "instance"))
    database_url = str(
        get("DATABASE_URL") or f"sqlite:///{os.path.join(instance_path, 'entitlements.db')}"
    )
    if _database_backend(database_url) == "sqlite" and production:
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL is SQLite, which production refuses: use PostgreSQL"
        )
    secret_key = get("SECRET_KEY")
    if secret_key is None:
        try:
            secret_key = _development_secret(instance_path)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte, or a file not ASCII
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(
                f"ENTITLEMENTS_INSTANCE_PATH: cannot keep the development secret in "
                f"{instance_path[:200]!r}: {reason}"
            ) from exc
    if len(str(secret_key)) < 32:
        raise ConfigError("ENTITLEMENTS_SECRET_KEY must be at least 32 characters")
    if production and _estimated_bits(str(secret_key)) < SECRET_KEY_BITS:
        raise ConfigError(
            "ENTITLEMENTS_SECRET_KEY is too predictable (repeated or too few distinct "
            "characters); use a random value, e.g. from "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    issuer = _url("ISSUER", str(get("ISSUER")), production=production)
    audiences = parse("TOKEN_AUDIENCES", _parse_list)
    if not audiences:
        raise ConfigError("ENTITLEMENTS_TOKEN_AUDIENCES must name at least one audience")
    default_audience = str(get("DEFAULT_AUDIENCE") or audiences[0])
    if default_audience not in audiences:
        raise ConfigError(
            "ENTITLEMENTS_DEFAULT_AUDIENCE must be one of ENTITLEMENTS_TOKEN_AUDIENCES"
        )
    token_ttl = _within("TOKEN_TTL", parse("TOKEN_TTL", parse_duration), "10s", "24h")
    publish_delay = _within(
        "SIGNING_KEY_PUBLISH_DELAY", parse("SIGNING_KEY_PUBLISH_DELAY", parse_duration), "0", "7d"
    )
    jwks_max_age = int(parse("JWKS_MAX_AGE", lambda v: parse_duration(v).total_seconds()))
    if not 0 <= jwks_max_age <= 86400:
        raise ConfigError("ENTITLEMENTS_JWKS_MAX_AGE must be between 0 and 24h")
    if production and publish_delay.total_seconds() < jwks_max_age:
        raise ConfigError(
            "ENTITLEMENTS_SIGNING_KEY_PUBLISH_DELAY must be at least ENTITLEMENTS_JWKS_MAX_AGE, "
            "or verifiers meet a new key before they have fetched it"
        )
    stripe_key = get("STRIPE_SECRET_KEY")
    if production and stripe_key is not None and not str(stripe_key).startswith(("sk_", "rk_")):
        raise ConfigError("ENTITLEMENTS_STRIPE_SECRET_KEY must be a Stripe secret key (sk_...)")
    webhook_secrets = parse("STRIPE_WEBHOOK_SECRET", _parse_list) or ()
    if production and not webhook_secrets:
        raise ConfigError(
            "ENTITLEMENTS_STRIPE_WEBHOOK_SECRET names no secret (only commas or spaces)"
        )
    stripe_api_base = get("STRIPE_API_BASE")
    if stripe_api_base is not None:
        stripe_api_base = _url(
            "STRIPE_API_BASE", str(stripe_api_base), production=production, loopback_http=True
        )
    public_url = _url("PUBLIC_URL", str(get("PUBLIC_URL")), production=production).rstrip("/")
    site_url = _url("SITE_URL", str(get("SITE_URL")), production=production).rstrip("/")
    cookie_setting = str(get("COOKIE_SECURE")).strip().lower()
    cookie_secure = (
        public_url.startswith("https://")
        if cookie_setting == "auto"
        else parse("COOKIE_SECURE", _parse_bool)
    )
    if production and not cookie_secure:
        raise ConfigError(
            "ENTITLEMENTS_COOKIE_SECURE=false is refused in production: session cookies "
            "would also travel over plain http"
        )
    demo = bool(parse("DEMO", _parse_bool))
    if production and demo:
        raise ConfigError("ENTITLEMENTS_DEMO signs anyone in: it is refused in production")
    read_timeout = parse("READ_TIMEOUT", parse_duration)
    stripe_timeout = _within("STRIPE_TIMEOUT", parse("STRIPE_TIMEOUT", parse_duration), "1s", "20s")
    if read_timeout > timedelta(minutes=5):
        raise ConfigError("ENTITLEMENTS_READ_TIMEOUT must be at most 5m (or 0 for none)")
    admin_idle_timeout = _within(
        "ADMIN_IDLE_TIMEOUT", parse("ADMIN_IDLE_TIMEOUT", parse_duration), "1m", "24h"
    )
    trusted_proxies = parse("TRUSTED_PROXIES", _parse_hops)
    cutoff = parse("GRANDFATHER_CUTOFF", parse_datetime)
    until = parse("GRANDFATHER_UNTIL", parse_datetime)
    if until <= cutoff:
        raise ConfigError(
            "ENTITLEMENTS_GRANDFATHER_UNTIL must be after ENTITLEMENTS_GRANDFATHER_CUTOFF"
        )
    return Config(
        env=env,
        database_url=database_url,
        read_timeout=read_timeout,
        instance_path=instance_path,
        secret_key=str(secret_key),
        issuer=issuer,
        token_ttl=token_ttl,
        token_audiences=tuple(audiences),
        default_audience=default_audience,
        signing_key_publish_delay=publish_delay,
        jwks_max_age=jwks_max_age,
        past_due_grace=_within(
            "PAST_DUE_GRACE", parse("PAST_DUE_GRACE", parse_duration), "0", "90d"
        ),
        renewal_grace=_within("RENEWAL_GRACE", parse("RENEWAL_GRACE", parse_duration), "0", "30d"),
        catalog_path=get("CATALOG"),
        public_url=public_url,
        site_url=site_url,
        cookie_secure=bool(cookie_secure),
        stripe_secret_key=stripe_key,
        stripe_api_base=stripe_api_base,
        stripe_timeout=stripe_timeout,
        stripe_webhook_secrets=tuple(webhook_secrets),
        revoke_on_refund=bool(parse("REVOKE_ON_REFUND", _parse_bool)),
        revoke_on_dispute=bool(parse("REVOKE_ON_DISPUTE", _parse_bool)),
        cancel_on_revoke=bool(parse("CANCEL_ON_REVOKE", _parse_bool)),
        grandfather_cutoff=cutoff,
        grandfather_until=until,
        log_level=_log_level(str(get("LOG_LEVEL"))),
        demo=demo,
        admin_idle_timeout=admin_idle_timeout,
        trusted_proxies=trusted_proxies,
        extra={k: v for k, v in overrides.items() if k in {"CLOCK", "TESTING"}},
    )


def _log_level(text: str) -> str:
    import logging

    level = text.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            "ENTITLEMENTS_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        )
    return level


def _explicit(name: str, environ: Mapping[str, str], overrides: Mapping[str, Any]) -> bool:
    # Spaces alone are no value: " " must not pass for a secret or a database URL.
    return overrides.get(name) is not None or bool(environ.get(f"ENTITLEMENTS_{name}", "").strip())


def _within(name: str, value: timedelta, low: str, high: str) -> timedelta:
    """Return the duration `value` if it lies between `low` and `high`, else refuse it."""
    if not parse_duration(low) <= value <= parse_duration(high):
        raise ConfigError(f"ENTITLEMENTS_{name} must be between {low} and {high}")
    return value


def _estimated_bits(text: str) -> float:
    """Estimate a secret's entropy: the smaller of its length times the Shannon entropy of its
    characters (few distinct characters) and the bits zlib needs for it (repeated patterns).

    One repeated character or 32 spaces score 0 bits, "ab" * 16 scores 32, "0123" * 16 about
    50; 43 characters of `secrets.token_urlsafe(32)` score about 200.
    """
    import zlib

    shannon = sum(count * math.log2(len(text) / count) for count in Counter(text).values())
    empty = len(zlib.compress(b"", 9))
    compressed = 8 * (len(zlib.compress(text.encode("utf-8"), 9)) - empty)
    return min(shannon, compressed)


def _database_backend(url: str) -> str:
    """Return the backend of a database URL (postgresql or sqlite), or refuse the URL."""
    # Imported here: the CLI's --help loads this module and should not pay for SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        backend, _, driver = parsed.drivername.partition("+")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ValueError("port out of range")
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL is not a database URL (postgresql://... or sqlite:///...)"
        ) from exc
    if backend not in ("postgresql", "sqlite") or driver not in ("", "psycopg", "pysqlite"):
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL must be a postgresql:// (psycopg 3) or sqlite:/// URL"
        )
    return backend


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(name: str, value: str, *, production: bool, loopback_http: bool = False) -> str:
    """Return `value` if it is an http(s) URL with a host (https in production), else refuse it.

    Such a URL becomes a link, a redirect or a token claim: `javascript:`, a bare host or a
    stray space must never get that far. `loopback_http` lets http reach this machine only.
    """
    from urllib.parse import urlsplit

    if production:
        wanted = "an https:// URL with a host in production"
        if loopback_http:
            wanted += " (http only to a loopback address)"
    else:
        wanted = "an http:// or https:// URL with a host"
    problem = ConfigError(f"ENTITLEMENTS_{name} must be {wanted}")
    if any(ord(char) < 33 or ord(char) == 127 for char in value):
        raise ConfigError(f"ENTITLEMENTS_{name} must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0 to 65535
    except ValueError as exc:
        raise problem from exc
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise problem
    if production and parts.scheme != "https" and not (loopback_http and _is_loopback(host)):
        raise problem
    return value


def _development_secret(instance_path: str) -> str:
    """Return the development secret kept in the instance folder, creating it once."""
    import secrets

    path = os.path.join(instance_path, "secret_key")
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once agree on one secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value)
    return value
