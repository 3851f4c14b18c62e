"""load_config(): defaults, parsing, the production checks, secrets kept out of repr()."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entitlements.app import create_app
from entitlements.config import SETTINGS, ConfigError, load_config, parse_duration

SECRET = "s" * 40
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
    config = load_config(
        {"INSTANCE_PATH": str(instance)}, environ=production_env(SECRET_KEY="k" * 32)
    )
    assert config.secret_key == "k" * 32


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
