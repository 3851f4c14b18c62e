"""The emulator's Flask application factory."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from flask import Flask, Response

from devstripe import api, catalog, pages
from devstripe.persist import StateFile
from devstripe.state import EmulatorState
from devstripe.store import WallClock


def refuse_production() -> None:
    """Raise if this process is configured as production: the emulator accepts any test key."""
    if os.environ.get("ENTITLEMENTS_ENV", "").strip().lower() == "production":
        raise RuntimeError(
            "devstripe is an offline Stripe emulator for tests and demos; it refuses to start "
            "when ENTITLEMENTS_ENV=production. Point the Stripe SDK at api.stripe.com instead."
        )


def create_emulator(
    *,
    public_url: str | None = None,
    webhook_endpoints: Sequence[tuple[str, str]] = (),
    seed: bool = True,
    cancel_behavior: str = "canceled",
    state_path: str | os.PathLike[str] | None = None,
    wall_clock: WallClock = time.time,
) -> Flask:
    """Build the emulator app; its state is `app.extensions["devstripe"]`.

    public_url: base URL for hosted pages (defaults to the URL each request came in on).
    webhook_endpoints: (url, "whsec_...") pairs that receive every event.
    seed: create product `prod_plus`, prices `plus_monthly`/`plus_annual` and code WELCOME10.
    cancel_behavior: what exhausted payment retries do: "canceled" or "unpaid".
    state_path: a JSON file that keeps the objects across restarts (loaded if present, then
    rewritten after every request that changed something); None keeps them in memory only.
    wall_clock: unix seconds the global clock starts from (tests pass a fixed one); `advance`
    moves the emulator's time ahead of it. Webhook signatures keep the real time.
    """
    refuse_production()
    state = EmulatorState(
        public_url=public_url, cancel_behavior=cancel_behavior, seed=False, wall_clock=wall_clock
    )
    state_file = StateFile(state_path) if state_path is not None else None
    restored = state_file is not None and state_file.load(state)
    if seed and not restored:
        catalog.seed(state)
    for url, secret in webhook_endpoints:
        state.add_webhook_endpoint(url, secret)
    if restored:
        state.requeue_undelivered()
    app = Flask(__name__)
    app.extensions["devstripe"] = state
    if state_file is not None:
        app.extensions["devstripe_file"] = state_file
        state_file.save(state)

        @app.after_request
        def _save(resp: Response) -> Response:
            state_file.save(state)
            return resp

    api.register(app)
    app.register_blueprint(pages.bp)

    @app.get("/")
    def index() -> dict[str, object]:
        return {
            "object": "devstripe",
            "api_base": "/v1",
            "livemode": False,
            "api_version": "2026-10-28.endive",
        }

    return app
