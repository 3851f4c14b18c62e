"""`python -m examples.magazine`: serve the demo magazine beside the entitlements service."""

from __future__ import annotations

import logging
import os

from werkzeug.serving import run_simple

from .app import create_app
from .settings import settings_from_env
from .setup_demo import AdminApiError, set_up


def main() -> None:
    """Set up the demo readers (unless MAGAZINE_SETUP_DEMO=0), then serve until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = settings_from_env()
    if os.environ.get("MAGAZINE_SETUP_DEMO", "1") != "0":
        admin_key = os.environ.get("MAGAZINE_ADMIN_KEY") or settings.service_key
        try:
            for line in set_up(settings.service_url, admin_key):
                logging.info("%s", line)
        except (AdminApiError, OSError) as error:
            # The site still runs; readers the service lacks just see an empty answer.
            logging.warning("could not set up the demo readers: %s", error)
    host = os.environ.get("MAGAZINE_HOST", "127.0.0.1")
    port = int(os.environ.get("MAGAZINE_PORT", "8001"))
    if settings.events_delivered:
        logging.info("change events on: readers' tokens are kept until an event or their expiry")
    else:
        logging.info("change events off: every page load asks the service for a new token")
    logging.info("the magazine on http://%s:%s  - sign in as a reader at /login", host, port)
    run_simple(host, port, create_app(settings), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
