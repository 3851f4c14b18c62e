"""The demo magazine's settings: the event secret `entitlements demo run` keeps, events mode."""

from __future__ import annotations

from pathlib import Path

from examples.magazine.settings import settings_from_env


def env_in(folder: Path, **more: str) -> dict[str, str]:
    """An environment naming a service key and the files of `folder`."""
    return {
        "MAGAZINE_SERVICE_KEY": "ent_sk_unused",
        "MAGAZINE_EVENT_SECRET_FILE": str(folder / "demo-event-secret"),
        **more,
    }


def test_the_kept_event_secret_turns_events_mode_on(tmp_path: Path) -> None:
    (tmp_path / "demo-event-secret").write_text("whsec_kept\n")
    settings = settings_from_env(env_in(tmp_path))
    assert settings.event_secret == "whsec_kept"
    assert settings.events_delivered


def test_no_secret_means_no_events_mode(tmp_path: Path) -> None:
    settings = settings_from_env(env_in(tmp_path))
    assert settings.event_secret is None
    assert not settings.events_delivered


def test_the_variables_win_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "demo-event-secret").write_text("whsec_kept\n")
    settings = settings_from_env(
        env_in(tmp_path, MAGAZINE_EVENT_SECRET="whsec_set", MAGAZINE_EVENTS_DELIVERED="false")
    )
    assert settings.event_secret == "whsec_set"
    assert not settings.events_delivered
