"""The validated Config and load_config, which reads it from ENTITLEMENTS_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from ..clock import parse_datetime
from .coral import coral_sso
from .secret_key import SECRET_KEY_BITS, development_secret, estimated_bits
from .settings import ENVIRONMENTS, SETTINGS
from .values import (
    ConfigError,
    database_backend,
    http_url,
    log_level,
    parse_bool,
    parse_duration,
    parse_hops,
    parse_list,
    within,
)


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
    coral_sso_secret: str | None
    coral_sso_kid: str | None
    coral_sso_ttl: timedelta
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
    webhooks_allow_private: bool = False
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
    if database_backend(database_url) == "sqlite" and production:
        raise ConfigError(
            "ENTITLEMENTS_DATABASE_URL is SQLite, which production refuses: use PostgreSQL"
        )
    secret_key = get("SECRET_KEY")
    if secret_key is None:
        try:
            secret_key = development_secret(instance_path)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte, or a file not ASCII
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(
                f"ENTITLEMENTS_INSTANCE_PATH: cannot keep the development secret in "
                f"{instance_path[:200]!r}: {reason}"
            ) from exc
    if len(str(secret_key)) < 32:
        raise ConfigError("ENTITLEMENTS_SECRET_KEY must be at least 32 characters")
    if production and estimated_bits(str(secret_key)) < SECRET_KEY_BITS:
        raise ConfigError(
            "ENTITLEMENTS_SECRET_KEY is too predictable (repeated or too few distinct "
            "characters); use a random value, e.g. from "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    issuer = http_url("ISSUER", str(get("ISSUER")), production=production)
    audiences = parse("TOKEN_AUDIENCES", parse_list)
    if not audiences:
        raise ConfigError("ENTITLEMENTS_TOKEN_AUDIENCES must name at least one audience")
    default_audience = str(get("DEFAULT_AUDIENCE") or audiences[0])
    if default_audience not in audiences:
        raise ConfigError(
            "ENTITLEMENTS_DEFAULT_AUDIENCE must be one of ENTITLEMENTS_TOKEN_AUDIENCES"
        )
    token_ttl = within("TOKEN_TTL", parse("TOKEN_TTL", parse_duration), "10s", "24h")
    publish_delay = within(
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
    coral_secret, coral_kid = coral_sso(
        get("CORAL_SSO_SECRET"),
        get("CORAL_SSO_KID"),
        secret_key=str(secret_key),
        production=production,
    )
    stripe_key = get("STRIPE_SECRET_KEY")
    if production and stripe_key is not None and not str(stripe_key).startswith(("sk_", "rk_")):
        raise ConfigError("ENTITLEMENTS_STRIPE_SECRET_KEY must be a Stripe secret key (sk_...)")
    webhook_secrets = parse("STRIPE_WEBHOOK_SECRET", parse_list) or ()
    if production and not webhook_secrets:
        raise ConfigError(
            "ENTITLEMENTS_STRIPE_WEBHOOK_SECRET names no secret (only commas or spaces)"
        )
    stripe_api_base = get("STRIPE_API_BASE")
    if stripe_api_base is not None:
        stripe_api_base = http_url(
            "STRIPE_API_BASE", str(stripe_api_base), production=production, loopback_http=True
        )
    public_url = http_url("PUBLIC_URL", str(get("PUBLIC_URL")), production=production).rstrip("/")
    site_url = http_url("SITE_URL", str(get("SITE_URL")), production=production).rstrip("/")
    cookie_setting = str(get("COOKIE_SECURE")).strip().lower()
    cookie_secure = (
        public_url.startswith("https://")
        if cookie_setting == "auto"
        else parse("COOKIE_SECURE", parse_bool)
    )
    if production and not cookie_secure:
        raise ConfigError(
            "ENTITLEMENTS_COOKIE_SECURE=false is refused in production: session cookies "
            "would also travel over plain http"
        )
    demo = bool(parse("DEMO", parse_bool))
    if production and demo:
        raise ConfigError("ENTITLEMENTS_DEMO signs anyone in: it is refused in production")
    read_timeout = parse("READ_TIMEOUT", parse_duration)
    stripe_timeout = within("STRIPE_TIMEOUT", parse("STRIPE_TIMEOUT", parse_duration), "1s", "20s")
    if read_timeout > timedelta(minutes=5):
        raise ConfigError("ENTITLEMENTS_READ_TIMEOUT must be at most 5m (or 0 for none)")
    admin_idle_timeout = within(
        "ADMIN_IDLE_TIMEOUT", parse("ADMIN_IDLE_TIMEOUT", parse_duration), "1m", "24h"
    )
    trusted_proxies = parse("TRUSTED_PROXIES", parse_hops)
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
        coral_sso_secret=coral_secret,
        coral_sso_kid=coral_kid,
        coral_sso_ttl=within("CORAL_SSO_TTL", parse("CORAL_SSO_TTL", parse_duration), "30s", "5m"),
        past_due_grace=within(
            "PAST_DUE_GRACE", parse("PAST_DUE_GRACE", parse_duration), "0", "90d"
        ),
        renewal_grace=within("RENEWAL_GRACE", parse("RENEWAL_GRACE", parse_duration), "0", "30d"),
        catalog_path=get("CATALOG"),
        public_url=public_url,
        site_url=site_url,
        cookie_secure=bool(cookie_secure),
        stripe_secret_key=stripe_key,
        stripe_api_base=stripe_api_base,
        stripe_timeout=stripe_timeout,
        stripe_webhook_secrets=tuple(webhook_secrets),
        revoke_on_refund=bool(parse("REVOKE_ON_REFUND", parse_bool)),
        revoke_on_dispute=bool(parse("REVOKE_ON_DISPUTE", parse_bool)),
        cancel_on_revoke=bool(parse("CANCEL_ON_REVOKE", parse_bool)),
        grandfather_cutoff=cutoff,
        grandfather_until=until,
        log_level=log_level(str(get("LOG_LEVEL"))),
        demo=demo,
        admin_idle_timeout=admin_idle_timeout,
        trusted_proxies=trusted_proxies,
        webhooks_allow_private=bool(parse("WEBHOOKS_ALLOW_PRIVATE", parse_bool)),
        extra={k: v for k, v in overrides.items() if k in {"CLOCK", "TESTING"}},
    )


def _explicit(name: str, environ: Mapping[str, str], overrides: Mapping[str, Any]) -> bool:
    # Spaces alone are no value: " " must not pass for a secret or a database URL.
    return overrides.get(name) is not None or bool(environ.get(f"ENTITLEMENTS_{name}", "").strip())
