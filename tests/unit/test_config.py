"""load_config(): defaults, parsing, the production checks, secrets kept out of repr()."""

from __future__ import annotations

import os
import stat
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entitlements.app import create_app
from entitlements.config import SETTINGS, Config, ConfigError, load_config, parse_duration

SECRET = "Zq3-vL9xT_m2Rk8sWd4nYb7cHf1pJg6eUa0oNi5t"
DB_PASSWORD = "db-pass-4f9a2c"
DB_URL = f"postgresql+psycopg://svc:{DB_PASSWORD}@127.0.0.1:5432/entitlements"
ISSUER = "https://entitlements.example.com"


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """An instance folder that does not exist yet."""
    return tmp_path / "instance"


# A valid production value for each setting production insists on (those that exist here).
PRODUCTION_VALUES = {
    "DATABASE_URL": DB_URL,
    "SECRET_KEY": SECRET,
    "ISSUER": ISSUER,
    "PUBLIC_URL": "https://entitlements.example.com",
    "SITE_URL": "https://magazine.example.com",
    "STRIPE_SECRET_KEY": "sk_live_stripe-secret-77",
    "STRIPE_WEBHOOK_SECRET": "whsec_first-hook-11,whsec_second-hook-22",
}
REQUIRED_IN_PRODUCTION = [name for name, s in SETTINGS.items() if s.required_in_production]


def production_env(**changes: str | None) -> dict[str, str]:
    """A complete production environment, with `changes` applied (None removes a variable)."""
    env = {"ENTITLEMENTS_ENV": "production"}
    for name in REQUIRED_IN_PRODUCTION:
        env[f"ENTITLEMENTS_{name}"] = PRODUCTION_VALUES[name]
    for name, value in changes.items():
        key = f"ENTITLEMENTS_{name}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# ---- defaults ------------------------------------------------------------------------------


def test_defaults_apply_when_nothing_is_set(instance: Path) -> None:
    config = load_config({"INSTANCE_PATH": str(instance)}, environ={})
    assert config.env == "development"
    assert not config.is_production
    assert config.instance_path == str(instance)
    assert config.database_url == f"sqlite:///{instance / 'entitlements.db'}"
    assert config.issuer == "http://localhost:8000"
    assert config.token_ttl == timedelta(seconds=300)
    assert config.token_audiences == ("site",)
    assert config.default_audience == "site"
    assert config.signing_key_publish_delay == timedelta(minutes=15)
    assert config.jwks_max_age == 300
    assert config.past_due_grace == timedelta(days=7)
    assert config.renewal_grace == timedelta(hours=48)
    assert config.catalog_path is None
    assert config.stripe_secret_key is None
    assert config.stripe_api_base is None
    assert config.stripe_webhook_secrets == ()
    assert config.grandfather_cutoff == datetime(2024, 2, 29, tzinfo=UTC)
    assert config.grandfather_until == datetime(2025, 2, 28, tzinfo=UTC)
    assert config.log_level == "INFO"


def test_instance_path_defaults_to_instance_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config({"SECRET_KEY": SECRET}, environ={})
    assert config.instance_path == str(tmp_path / "instance")


def test_empty_environment_variable_counts_as_unset(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_TOKEN_TTL": "", "ENTITLEMENTS_ISSUER": ""},
    )
    assert config.token_ttl == timedelta(seconds=300)
    assert config.issuer == "http://localhost:8000"


def test_environment_variables_are_read_and_parsed(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance)},
        environ={
            "ENTITLEMENTS_SECRET_KEY": SECRET,
            "ENTITLEMENTS_TOKEN_TTL": "2m",
            "ENTITLEMENTS_TOKEN_AUDIENCES": " site , app ,, ",
            "ENTITLEMENTS_STRIPE_WEBHOOK_SECRET": "whsec_old, whsec_new",
            "ENTITLEMENTS_LOG_LEVEL": "debug",
        },
    )
    assert config.secret_key == SECRET
    assert config.token_ttl == timedelta(minutes=2)
    assert config.token_audiences == ("site", "app")
    assert config.stripe_webhook_secrets == ("whsec_old", "whsec_new")
    assert config.log_level == "DEBUG"


def test_overrides_win_over_the_environment_and_are_case_insensitive(instance: Path) -> None:
    config = load_config(
        {"instance_path": str(instance), "token_ttl": "30s", "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_TOKEN_TTL": "5m"},
    )
    assert config.token_ttl == timedelta(seconds=30)


# ---- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300", timedelta(seconds=300)),
        ("300s", timedelta(seconds=300)),
        ("15m", timedelta(minutes=15)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
        (" 5m ", timedelta(minutes=5)),
        ("0", timedelta(0)),
    ],
)
def test_durations_take_seconds_or_a_unit_suffix(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "m", "5x", "-5", "1.5h", "5 minutes", "5mm", "h5", "P1D"])
def test_malformed_durations_are_rejected_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration like 300s, 15m, 48h or 7d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "attribute", "value", "expected"),
    [
        ("TOKEN_TTL", "token_ttl", "90s", timedelta(seconds=90)),
        ("SIGNING_KEY_PUBLISH_DELAY", "signing_key_publish_delay", "1h", timedelta(hours=1)),
        ("JWKS_MAX_AGE", "jwks_max_age", "5m", 300),
        ("JWKS_MAX_AGE", "jwks_max_age", "60", 60),
        ("PAST_DUE_GRACE", "past_due_grace", "3d", timedelta(days=3)),
        ("RENEWAL_GRACE", "renewal_grace", "12h", timedelta(hours=12)),
        ("READ_TIMEOUT", "read_timeout", "2s", timedelta(seconds=2)),
        ("READ_TIMEOUT", "read_timeout", "0", timedelta(0)),
    ],
)
def test_every_duration_setting_accepts_the_duration_forms(
    instance: Path, name: str, attribute: str, value: str, expected: object
) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={f"ENTITLEMENTS_{name}": value},
    )
    assert getattr(config, attribute) == expected


@pytest.mark.parametrize(
    "name",
    ["TOKEN_TTL", "SIGNING_KEY_PUBLISH_DELAY", "JWKS_MAX_AGE", "PAST_DUE_GRACE", "READ_TIMEOUT"],
)
def test_malformed_duration_setting_is_rejected_naming_the_variable(
    instance: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^ENTITLEMENTS_{name}: .*not a duration"):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={f"ENTITLEMENTS_{name}": "soon"},
        )


def test_a_read_timeout_over_five_minutes_is_refused(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_READ_TIMEOUT must be at most 5m"):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={"ENTITLEMENTS_READ_TIMEOUT": "6m"},
        )


# ---- production ----------------------------------------------------------------------------


def test_complete_production_environment_is_accepted(instance: Path) -> None:
    config = load_config({"INSTANCE_PATH": str(instance)}, environ=production_env())
    assert config.is_production
    assert config.database_url == DB_URL
    assert config.secret_key == SECRET
    assert config.issuer == ISSUER


@pytest.mark.parametrize("name", ["DATABASE_URL", "SECRET_KEY", "ISSUER"])
def test_production_refuses_to_start_without_a_required_setting(instance: Path, name: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config({"INSTANCE_PATH": str(instance)}, environ=production_env(**{name: None}))
    message = str(excinfo.value)
    assert f"ENTITLEMENTS_{name}" in message
    others = set(REQUIRED_IN_PRODUCTION) - {name}
    assert not any(f"ENTITLEMENTS_{other}" in message for other in others)


def test_production_names_every_missing_setting_at_once(instance: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config({"INSTANCE_PATH": str(instance)}, environ={"ENTITLEMENTS_ENV": "production"})
    assert {"DATABASE_URL", "SECRET_KEY", "ISSUER"} <= set(REQUIRED_IN_PRODUCTION)
    for name in REQUIRED_IN_PRODUCTION:
        assert f"ENTITLEMENTS_{name}" in str(excinfo.value)


def test_production_never_generates_a_development_secret(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_SECRET_KEY"):
        load_config({"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY=None))
    assert not (instance / "secret_key").exists()


def test_create_app_refuses_to_start_in_production_without_settings(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(f"ENTITLEMENTS_{name}", raising=False)
    monkeypatch.setenv("ENTITLEMENTS_ENV", "production")
    monkeypatch.setenv("ENTITLEMENTS_INSTANCE_PATH", str(instance))
    with pytest.raises(ConfigError, match="ENTITLEMENTS_DATABASE_URL"):
        create_app()


def test_production_rejects_a_short_secret_key(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_SECRET_KEY must be at least 32"):
        load_config({"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY="x" * 31))


def test_secret_key_of_exactly_32_characters_is_accepted(instance: Path) -> None:
    key = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0z-"
    config = load_config({"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY=key))
    assert config.secret_key == key


def test_short_secret_key_is_rejected_outside_production_too(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_SECRET_KEY"):
        load_config({"INSTANCE_PATH": str(instance), "SECRET_KEY": "short"}, environ={})


@pytest.mark.parametrize("issuer", ["http://entitlements.example.com", "entitlements.example.com"])
def test_production_rejects_an_issuer_that_is_not_https(instance: Path, issuer: str) -> None:
    with pytest.raises(ConfigError, match=r"ENTITLEMENTS_ISSUER must be an https:// URL"):
        load_config({"INSTANCE_PATH": str(instance)}, environ=production_env(ISSUER=issuer))


def test_http_issuer_is_accepted_in_development(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_ISSUER": "http://127.0.0.1:8000"},
    )
    assert config.issuer == "http://127.0.0.1:8000"


def test_production_rejects_a_publish_delay_shorter_than_the_jwks_max_age(
    instance: Path,
) -> None:
    env = production_env(SIGNING_KEY_PUBLISH_DELAY="4m", JWKS_MAX_AGE="300")
    with pytest.raises(ConfigError) as excinfo:
        load_config({"INSTANCE_PATH": str(instance)}, environ=env)
    assert "ENTITLEMENTS_SIGNING_KEY_PUBLISH_DELAY" in str(excinfo.value)
    assert "ENTITLEMENTS_JWKS_MAX_AGE" in str(excinfo.value)


def test_production_accepts_a_publish_delay_equal_to_the_jwks_max_age(instance: Path) -> None:
    env = production_env(SIGNING_KEY_PUBLISH_DELAY="5m", JWKS_MAX_AGE="300")
    config = load_config({"INSTANCE_PATH": str(instance)}, environ=env)
    assert config.signing_key_publish_delay.total_seconds() == config.jwks_max_age


def test_production_rejects_a_stripe_key_that_is_not_a_secret_key(instance: Path) -> None:
    env = production_env(STRIPE_SECRET_KEY="pk_live_publishable")
    with pytest.raises(ConfigError, match="ENTITLEMENTS_STRIPE_SECRET_KEY"):
        load_config({"INSTANCE_PATH": str(instance)}, environ=env)


# ---- other validation ----------------------------------------------------------------------


def test_unknown_environment_name_is_rejected_naming_the_variable(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_ENV must be one of"):
        load_config({"INSTANCE_PATH": str(instance)}, environ={"ENTITLEMENTS_ENV": "staging"})


def test_unknown_override_keys_are_rejected_by_name(instance: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*TOKEN_TTLL"):
        load_config({"INSTANCE_PATH": str(instance), "TOKEN_TTLL": "5m"}, environ={})


def test_default_audience_is_the_first_allowed_audience(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_TOKEN_AUDIENCES": "app,site"},
    )
    assert config.default_audience == "app"


def test_default_audience_must_be_in_the_allow_list(instance: Path) -> None:
    env = {"ENTITLEMENTS_TOKEN_AUDIENCES": "site,app", "ENTITLEMENTS_DEFAULT_AUDIENCE": "mobile"}
    with pytest.raises(ConfigError, match="ENTITLEMENTS_DEFAULT_AUDIENCE must be one of"):
        load_config({"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET}, environ=env)


def test_default_audience_from_the_allow_list_is_accepted(instance: Path) -> None:
    env = {"ENTITLEMENTS_TOKEN_AUDIENCES": "site,app", "ENTITLEMENTS_DEFAULT_AUDIENCE": "app"}
    config = load_config({"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET}, environ=env)
    assert config.default_audience == "app"


def test_an_empty_audience_list_is_rejected(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_TOKEN_AUDIENCES"):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={"ENTITLEMENTS_TOKEN_AUDIENCES": " , ,"},
        )


@pytest.mark.parametrize(
    ("value", "expected"), [("10", timedelta(seconds=10)), ("24h", timedelta(hours=24))]
)
def test_token_ttl_accepts_its_bounds(instance: Path, value: str, expected: timedelta) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_TOKEN_TTL": value},
    )
    assert config.token_ttl == expected


@pytest.mark.parametrize("value", ["0", "9s", "86401", "2d"])
def test_token_ttl_outside_10s_to_24h_is_rejected(instance: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_TOKEN_TTL must be between 10s and 24h"):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={"ENTITLEMENTS_TOKEN_TTL": value},
        )


def test_grandfather_period_must_end_after_its_cutoff(instance: Path) -> None:
    env = {
        "ENTITLEMENTS_GRANDFATHER_CUTOFF": "2025-01-01T00:00:00Z",
        "ENTITLEMENTS_GRANDFATHER_UNTIL": "2025-01-01T00:00:00Z",
    }
    with pytest.raises(ConfigError, match="ENTITLEMENTS_GRANDFATHER_UNTIL must be after"):
        load_config({"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET}, environ=env)


def test_malformed_grandfather_time_is_rejected_naming_the_variable(instance: Path) -> None:
    with pytest.raises(ConfigError, match=r"^ENTITLEMENTS_GRANDFATHER_CUTOFF: "):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={"ENTITLEMENTS_GRANDFATHER_CUTOFF": "last february"},
        )


def test_unknown_log_level_is_rejected_naming_the_variable(instance: Path) -> None:
    with pytest.raises(ConfigError, match="ENTITLEMENTS_LOG_LEVEL"):
        load_config(
            {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
            environ={"ENTITLEMENTS_LOG_LEVEL": "LOUD"},
        )


# ---- secrets -------------------------------------------------------------------------------


def test_repr_never_shows_secrets(instance: Path) -> None:
    env = production_env(
        STRIPE_SECRET_KEY=PRODUCTION_VALUES["STRIPE_SECRET_KEY"],
        STRIPE_WEBHOOK_SECRET=PRODUCTION_VALUES["STRIPE_WEBHOOK_SECRET"],
    )
    config = load_config({"INSTANCE_PATH": str(instance)}, environ=env)
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert SECRET not in text
        assert DB_PASSWORD not in text
        assert "stripe-secret-77" not in text
        assert "first-hook-11" not in text
        assert "second-hook-22" not in text
        # Still useful for debugging: the harmless settings are shown.
        assert ISSUER in text
        assert "token_ttl=" in text


# ---- the development secret ----------------------------------------------------------------


def test_development_secret_is_created_once_with_mode_0600_and_reused(instance: Path) -> None:
    first = load_config({"INSTANCE_PATH": str(instance)}, environ={})
    path = instance / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert path.read_text(encoding="ascii").strip() == first.secret_key
    written = path.stat().st_mtime_ns

    second = load_config({"INSTANCE_PATH": str(instance)}, environ={})
    assert second.secret_key == first.secret_key
    assert path.stat().st_mtime_ns == written
    assert os.listdir(instance) == ["secret_key"]


def test_development_secrets_differ_between_instance_folders(tmp_path: Path) -> None:
    one = load_config({"INSTANCE_PATH": str(tmp_path / "a")}, environ={})
    two = load_config({"INSTANCE_PATH": str(tmp_path / "b")}, environ={})
    assert one.secret_key != two.secret_key


def test_explicit_secret_key_creates_no_secret_file(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance)}, environ={"ENTITLEMENTS_SECRET_KEY": SECRET}
    )
    assert config.secret_key == SECRET
    assert not (instance / "secret_key").exists()


# ---- production refuses what is unsafe ------------------------------------------------------


def refusal(instance: Path, environ: dict[str, str]) -> str:
    """Return the one-line ConfigError `environ` is refused with."""
    with pytest.raises(ConfigError) as excinfo:
        load_config({"INSTANCE_PATH": str(instance)}, environ=environ)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "\r" not in message
    return message


@pytest.mark.parametrize("value", [",", " , ", ",,,", " ,\t, "])
def test_production_refuses_a_webhook_secret_list_without_a_secret(
    instance: Path, value: str
) -> None:
    message = refusal(instance, production_env(STRIPE_WEBHOOK_SECRET=value))
    assert message.startswith("ENTITLEMENTS_STRIPE_WEBHOOK_SECRET")


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "STRIPE_WEBHOOK_SECRET"])
def test_production_counts_a_setting_of_spaces_as_missing(instance: Path, name: str) -> None:
    message = refusal(instance, production_env(**{name: " " * 40}))
    assert message.startswith("production needs these settings")
    assert f"ENTITLEMENTS_{name}" in message


@pytest.mark.parametrize(
    "key",
    [
        "x" * 64,
        " " * 31 + "x",
        "ab" * 32,
        "0123" * 16,
        "test-secret-key-" + "x" * 32,  # the test suite's key before this rule
        "password" * 5,
    ],
)
def test_production_refuses_a_low_entropy_secret_key(instance: Path, key: str) -> None:
    message = refusal(instance, production_env(SECRET_KEY=key))
    assert message.startswith("ENTITLEMENTS_SECRET_KEY is too predictable")
    assert key not in message


def test_random_secret_keys_pass_the_entropy_rule(instance: Path) -> None:
    import secrets

    generated = [secrets.token_urlsafe(32) for _ in range(50)]
    generated += [secrets.token_urlsafe(48) for _ in range(50)]
    generated += [secrets.token_hex(32) for _ in range(50)]
    for key in generated:
        config = load_config(
            {"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY=key)
        )
        assert config.secret_key == key


def test_the_development_secret_would_pass_in_production(instance: Path) -> None:
    generated = load_config({"INSTANCE_PATH": str(instance)}, environ={}).secret_key
    config = load_config(
        {"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY=generated)
    )
    assert config.secret_key == generated


def test_low_entropy_secret_keys_are_accepted_outside_production(instance: Path) -> None:
    config = load_config({"INSTANCE_PATH": str(instance), "SECRET_KEY": "s" * 40}, environ={})
    assert config.secret_key == "s" * 40


@pytest.mark.parametrize("value", ["false", "no", "0", "off", " FALSE "])
def test_production_refuses_insecure_cookies(instance: Path, value: str) -> None:
    message = refusal(instance, production_env(COOKIE_SECURE=value))
    assert message.startswith("ENTITLEMENTS_COOKIE_SECURE=false is refused in production")


@pytest.mark.parametrize("value", ["true", "auto"])
def test_production_accepts_secure_cookies(instance: Path, value: str) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance)}, environ=production_env(COOKIE_SECURE=value)
    )
    assert config.cookie_secure is True


def test_insecure_cookies_are_accepted_in_development(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={"ENTITLEMENTS_COOKIE_SECURE": "false"},
    )
    assert config.cookie_secure is False


@pytest.mark.parametrize(
    "url", ["sqlite:///srv/entitlements.db", "sqlite+pysqlite:///:memory:", "sqlite://"]
)
def test_production_refuses_sqlite(instance: Path, url: str) -> None:
    message = refusal(instance, production_env(DATABASE_URL=url))
    assert message.startswith("ENTITLEMENTS_DATABASE_URL is SQLite")


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "entitlements.db",
        "mysql://svc:pw@127.0.0.1/entitlements",
        "postgresql+psycopg2://svc:pw@127.0.0.1/entitlements",
        "postgresql://svc:pw@127.0.0.1:99999/entitlements",
    ],
)
def test_a_database_url_we_cannot_use_is_refused_without_echoing_it(
    instance: Path, environment: str, url: str
) -> None:
    env = production_env(DATABASE_URL=url, ENV=environment)
    if environment != "production":
        env = {"ENTITLEMENTS_DATABASE_URL": url, "ENTITLEMENTS_SECRET_KEY": SECRET}
    message = refusal(instance, env)
    assert message.startswith("ENTITLEMENTS_DATABASE_URL")
    assert "pw" not in message


UNSAFE_URLS = [
    "http://entitlements.example.com",
    "javascript:alert(1)",
    "JavaScript://%0aalert(1)",
    "data:text/html,hi",
    "ftp://entitlements.example.com",
    "https://",
    "https:///path-only",
    "entitlements.example.com",
    "//entitlements.example.com",
    "https://entitlements.example.com:99999",
    "https://entitlements.example.com/ space",
    "https://entitlements.example.com\n",
    "https://[::1",
]


@pytest.mark.parametrize("name", ["PUBLIC_URL", "ISSUER", "SITE_URL"])
@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_production_refuses_a_public_url_that_is_not_https_with_a_host(
    instance: Path, name: str, url: str
) -> None:
    message = refusal(instance, production_env(**{name: url}))
    assert message.startswith(f"ENTITLEMENTS_{name} must be")


@pytest.mark.parametrize("name", ["PUBLIC_URL", "ISSUER", "SITE_URL"])
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://", "example.com", "http://exa mple.com"]
)
def test_development_refuses_a_url_without_http_and_a_host(
    instance: Path, name: str, url: str
) -> None:
    message = refusal(instance, {f"ENTITLEMENTS_{name}": url, "ENTITLEMENTS_SECRET_KEY": SECRET})
    assert message.startswith(f"ENTITLEMENTS_{name} must be")


def test_production_accepts_https_urls_with_paths_and_ports(instance: Path) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance)},
        environ=production_env(
            PUBLIC_URL="https://example.com:8443/entitlements/",
            SITE_URL="HTTPS://Magazine.Example.com/",
        ),
    )
    assert config.public_url == "https://example.com:8443/entitlements"
    assert config.site_url == "HTTPS://Magazine.Example.com"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.stripe.com",
        "http://127.0.0.1.example.com:12111",
        "http://localhost.example.com",
        "javascript:alert(1)",
        "https://",
        "api.stripe.com",
    ],
)
def test_production_refuses_a_stripe_api_base_that_is_not_https(instance: Path, url: str) -> None:
    message = refusal(instance, production_env(STRIPE_API_BASE=url))
    assert message.startswith("ENTITLEMENTS_STRIPE_API_BASE must be")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.stripe.com",
        "http://127.0.0.1:12111",
        "http://127.9.9.9:12111",
        "http://localhost:12111",
        "http://[::1]:12111",
    ],
)
def test_production_accepts_an_https_or_loopback_stripe_api_base(instance: Path, url: str) -> None:
    config = load_config(
        {"INSTANCE_PATH": str(instance)}, environ=production_env(STRIPE_API_BASE=url)
    )
    assert config.stripe_api_base == url


DURATIONS = [
    "TOKEN_TTL",
    "SIGNING_KEY_PUBLISH_DELAY",
    "JWKS_MAX_AGE",
    "PAST_DUE_GRACE",
    "RENEWAL_GRACE",
    "READ_TIMEOUT",
    "ADMIN_IDLE_TIMEOUT",
    "STRIPE_TIMEOUT",
    "CORAL_SSO_TTL",
]


def test_the_duration_list_covers_every_duration_setting() -> None:
    # Config holds durations as timedeltas, except the JWKS max-age (whole seconds).
    durations = {f.name.upper() for f in fields(Config) if f.type == "timedelta"}
    assert durations | {"JWKS_MAX_AGE"} == set(DURATIONS)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize(
    "value",
    ["99999999999d", "9" * 5000, "99999999999999999999999", "-5m", "1e9", "5 d s", "٣٠٠", "inf"],
)
def test_a_huge_negative_or_garbage_duration_is_one_line_naming_the_setting(
    instance: Path, environment: str, name: str, value: str
) -> None:
    env = production_env(**{name: value})
    if environment != "production":
        env = {
            "ENTITLEMENTS_ENV": environment,
            "ENTITLEMENTS_SECRET_KEY": SECRET,
            f"ENTITLEMENTS_{name}": value,
        }
    message = refusal(instance, env)
    assert message.startswith(f"ENTITLEMENTS_{name}")
    assert len(message) < 300


@pytest.mark.parametrize(
    ("name", "value", "bounds"),
    [
        ("SIGNING_KEY_PUBLISH_DELAY", "8d", "between 0 and 7d"),
        ("JWKS_MAX_AGE", "25h", "between 0 and 24h"),
        ("PAST_DUE_GRACE", "91d", "between 0 and 90d"),
        ("RENEWAL_GRACE", "31d", "between 0 and 30d"),
        ("CORAL_SSO_TTL", "6m", "between 30s and 5m"),
        ("TOKEN_TTL", "3650d", "between 10s and 24h"),
        ("ADMIN_IDLE_TIMEOUT", "3650d", "between 1m and 24h"),
        ("READ_TIMEOUT", "3650d", "at most 5m"),
    ],
)
def test_a_duration_past_its_bound_is_refused_with_the_range(
    instance: Path, name: str, value: str, bounds: str
) -> None:
    message = refusal(instance, {f"ENTITLEMENTS_{name}": value, "ENTITLEMENTS_SECRET_KEY": SECRET})
    assert message == f"ENTITLEMENTS_{name} must be {bounds}" or message.startswith(
        f"ENTITLEMENTS_{name} must be {bounds}"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNING_KEY_PUBLISH_DELAY", "7d"),
        ("JWKS_MAX_AGE", "24h"),
        ("PAST_DUE_GRACE", "90d"),
        ("RENEWAL_GRACE", "30d"),
        ("PAST_DUE_GRACE", "0"),
    ],
)
def test_a_duration_at_its_bound_is_accepted(instance: Path, name: str, value: str) -> None:
    load_config(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET},
        environ={f"ENTITLEMENTS_{name}": value},
    )


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize("name", sorted(set(SETTINGS) - {"INSTANCE_PATH"}))
@pytest.mark.parametrize(
    "value",
    ["\x00", "\n", " ", "99999999999d", "-1", "x" * 5000, "javascript:alert(1)", "9999-99-99"],
)
def test_no_value_of_any_setting_escapes_as_anything_but_a_one_line_config_error(
    instance: Path, environment: str, name: str, value: str
) -> None:
    env = production_env(**{name: value})
    if environment != "production":
        env = {"ENTITLEMENTS_SECRET_KEY": SECRET, f"ENTITLEMENTS_{name}": value}
    try:
        load_config({"INSTANCE_PATH": str(instance)}, environ=env)
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert "\n" not in message


@pytest.mark.parametrize("value", ["\x00bad", "/dev/null/instance", "x" * 5000])
def test_an_instance_folder_that_cannot_hold_the_development_secret_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^ENTITLEMENTS_INSTANCE_PATH: cannot keep") as excinfo:
        load_config(environ={"ENTITLEMENTS_INSTANCE_PATH": value})
    assert "\n" not in str(excinfo.value)


def test_a_catalog_that_cannot_be_read_is_a_config_error_naming_the_setting(
    instance: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"^ENTITLEMENTS_CATALOG: cannot read catalog"):
        create_app(
            {
                "INSTANCE_PATH": str(instance),
                "SECRET_KEY": SECRET,
                "CATALOG": str(tmp_path / "missing.toml"),
            }
        )


def test_cancel_on_revoke_defaults_to_true_and_refuses_a_non_boolean(instance: Path) -> None:
    base = {"INSTANCE_PATH": str(instance), "SECRET_KEY": SECRET}
    assert load_config(base, environ={}).cancel_on_revoke is True
    off = load_config(base, environ={"ENTITLEMENTS_CANCEL_ON_REVOKE": "false"})
    assert off.cancel_on_revoke is False
    with pytest.raises(ConfigError, match=r"^ENTITLEMENTS_CANCEL_ON_REVOKE: .*not a boolean"):
        load_config(base, environ={"ENTITLEMENTS_CANCEL_ON_REVOKE": "sometimes"})
