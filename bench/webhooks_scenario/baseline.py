"""The baseline of bench/webhooks.py: a bare Flask app (gunicorn loads it by this name)."""

from __future__ import annotations

from flask import Flask, Response, request

BARE_PATH = "/bare"


def bare_app() -> Flask:
    """Return the baseline: a bare Flask app whose one route reads the body and answers 200."""
    app = Flask("bare")

    @app.post(BARE_PATH)
    def bare() -> Response:
        request.get_data(cache=False)
        return Response('{"received": true}', status=200, mimetype="application/json")

    return app
