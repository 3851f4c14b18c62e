"""Helpers for the emulator tests: a webhook receiver, hosted-page browsing, a checkout session."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest
import stripe
from werkzeug.serving import make_server

from devstripe.server import QuietRequestHandler

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

API_VERSION = "2026-10-28.endive"
# 2027-01-15T08:00:00Z, where the `emulator` fixture's clock stands still: objects made in one
# test share a `created` second, wherever the real clock would have ticked between them.
WALL_TIME = 1_800_000_000.0
SECRET = "whsec_test_receiver_secret"
Environ = dict[str, Any]
Expandable = TypeVar("Expandable", bound=stripe.StripeObject)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Receiver:
    """A tiny webhook endpoint that verifies Stripe signatures with the real SDK."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next = 0
        self.rejected = 0
        self._cond = threading.Condition()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=QuietRequestHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _app(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self._cond:
            if self.fail_next > 0:
                self.fail_next -= 1
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"try again"]
        try:
            event = stripe.Webhook.construct_event(
                body, environ.get("HTTP_STRIPE_SIGNATURE"), self.secret
            )
        except (stripe.SignatureVerificationError, ValueError):
            with self._cond:
                self.rejected += 1
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad signature"]
        assert event.id == json.loads(body)["id"]
        with self._cond:
            self.events.append(json.loads(body))
            self.headers.append(
                {
                    "content-type": environ.get("CONTENT_TYPE", ""),
                    "user-agent": environ.get("HTTP_USER_AGENT", ""),
                }
            )
            self._cond.notify_all()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def types(self) -> list[str]:
        """Event types received so far, in arrival order."""
        with self._cond:
            return [e["type"] for e in self.events]

    def wait_for(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> None:
        """Block until pred(events) holds, failing the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"webhooks never satisfied the condition; got {self.types()}")
                self._cond.wait(left)

    def stop(self) -> None:
        """Shut the receiver down."""
        self._server.shutdown()
        self._server.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Page:
    """An HTTP answer from a hosted page."""

    status: int
    body: str
    location: str | None


def browse(url: str, form: dict[str, str] | None = None) -> Page:
    """GET (or POST a form to) a hosted page without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with opener.open(url, data, timeout=5) as resp:
            return Page(resp.status, resp.read().decode(), None)
    except urllib.error.HTTPError as exc:
        with exc:
            location = exc.headers.get("Location")
            absolute = urllib.parse.urljoin(url, location) if location else None
            return Page(exc.code, exc.read().decode(), absolute)


def new_session(client: stripe.StripeClient, **extra: Any) -> Any:
    """A subscription checkout session for the seeded monthly price."""
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": "price_plus_monthly", "quantity": 1}],
        "success_url": "http://app.test/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/cancel",
    }
    params.update(extra)
    # Tests also send what the SDK's TypedDict does not list, to see the emulator refuse it.
    return client.v1.checkout.sessions.create(params=cast("SessionCreateParams", params))


def pay(
    url: str,
    card: str = "4242 4242 4242 4242",
    email: str = "reader@example.com",
    promotion_code: str = "",
) -> Page:
    """Press Pay on the hosted checkout page."""
    return browse(
        url + "/pay",
        {"email": email, "card_number": card, "promotion_code": promotion_code},
    )


def expanded(value: str | Expandable | None, kind: type[Expandable]) -> Expandable:
    """Return an expandable field the request expanded; fail the test on a bare id or nothing."""
    assert isinstance(value, kind), value
    return value


def unexpanded(value: str | stripe.StripeObject | None) -> str:
    """Return an expandable field left as an id; fail the test on an object or nothing."""
    assert isinstance(value, str), value
    return value
