"""WSGI entry point for gunicorn: `gunicorn entitlements.wsgi:app`."""

from .app import create_app
from .preflight import check_ready_to_serve

app = create_app()
check_ready_to_serve(app)
