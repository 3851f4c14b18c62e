"""`entitlements serve`: the API under gunicorn."""

from __future__ import annotations

import click

from ..config import ConfigError
from .common import fail


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn."""
    from ..server import run_gunicorn

    try:
        run_gunicorn(host=host, port=port, workers=workers)
    except ConfigError as exc:
        fail(str(exc), 1)
