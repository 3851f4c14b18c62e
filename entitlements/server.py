"""Run the app under gunicorn (used by `entitlements serve`)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


# gunicorn answers requests past these itself, before the app (README, Operations): a request
# line over 4094 bytes is 414; more than 64 header fields or one over 8190 bytes is 431.
# The longest URL the service makes (a hand-off link, a console audit filter) is far shorter.
REQUEST_LIMITS = {
    "limit_request_line": 4094,
    "limit_request_fields": 64,
    "limit_request_field_size": 8190,
}


def run_gunicorn(*, host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn's sync workers until interrupted.

    The master builds the app and runs the preflight, closing every connection it opened,
    then forks `workers` processes; each opens its own database connections on first use
    (entitlements.forksafe renews anything a fork would share).
    """
    from .access_log import GUNICORN_ACCESS_LOG_FORMAT
    from .app import create_app
    from .preflight import check_ready_to_serve

    app = create_app()
    check_ready_to_serve(app)
    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            # gunicorn's control socket has one default path per user: a second service on
            # the host would take it over (and `gunicornc` would steer the wrong one).
            "control_socket_disable": True,
            # A request that waits on Stripe gets two tries of 5 s per call (STRIPE_TIMEOUT);
            # past this the worker is killed mid-request, so it stays well above them.
            "timeout": 60,
            **REQUEST_LIMITS,
            "accesslog": "-",
            # No headers (service keys) and no query strings (hand-off tokens) in the log.
            "access_log_format": GUNICORN_ACCESS_LOG_FORMAT,
        },
    ).run()
