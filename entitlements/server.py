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


def run_gunicorn(*, host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn's sync workers until interrupted."""
    from .app import create_app
    from .preflight import check_ready_to_serve

    app = create_app()
    check_ready_to_serve(app)
    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "accesslog": "-",
            # The app logs no secrets; keep gunicorn from logging headers (service keys).
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(L)ss',
        },
    ).run()
