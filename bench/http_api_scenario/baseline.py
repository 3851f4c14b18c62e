"""The baseline of bench/http_api.py: a bare Flask app (gunicorn loads it by this name)."""

from __future__ import annotations

from flask import Flask

BARE_PATH = "/bare"


def bare_app() -> Flask:
    """Return the baseline: a bare Flask app with one route answering constant JSON."""
    app = Flask("bare")

    @app.get(BARE_PATH)
    def bare() -> dict[str, bool]:
        return {"ok": True}

    return app
