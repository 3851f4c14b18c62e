"""HTTP plumbing for `/v1`: auth, idempotency, Stripe-shaped errors, params, JSON."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from devstripe import engine, render
from devstripe.errors import StripeError
from devstripe.forms import Params, parse_pairs
from devstripe.state import EmulatorState
from devstripe.store import API_VERSION

Obj = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("devstripe_api", __name__, url_prefix="/v1")
IDEMPOTENCY_KEEP = 10_000
# A key sent with a DELETE (canceling a subscription) replays its first answer too, so a
# retried cancel gets the canceled subscription instead of "already canceled".
IDEMPOTENT_METHODS = ("POST", "DELETE")


def state() -> EmulatorState:
    """The emulator state of the running app."""
    return cast(EmulatorState, current_app.extensions["devstripe"])


def params() -> Params:
    """The request's decoded parameters (query string merged with the form body)."""
    return cast(Params, g.devstripe_params)


def base_url() -> str:
    """Where hosted pages live: the configured public URL or this server's own."""
    return state().public_url or request.host_url.rstrip("/")


def json_response(body: Obj, status: int = 200) -> Response:
    """Serialize like Stripe (pretty JSON)."""
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")


def error_response(exc: StripeError) -> Response:
    """Turn a StripeError into its HTTP response."""
    return json_response(exc.body(), exc.status)


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        # curl -u sk_test_xxx: sends the key as the basic-auth user name.
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except ValueError:
            return None
    return None


@bp.before_request
def _authenticate() -> Response | None:
    g.devstripe_request_id = state().new_id("req")
    key = _api_key()
    if not key:
        return error_response(
            StripeError(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        )
    if not key.startswith("sk_test_"):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        return error_response(
            StripeError(
                f"Invalid API Key provided: {shown}",
                status=401,
                code="api_key_invalid" if not key.startswith("sk_live_") else None,
            )
        )
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    try:
        g.devstripe_params = parse_pairs(pairs)
    except StripeError as exc:
        return error_response(exc)
    return _idempotent_replay()


def _fingerprint() -> tuple[str, str]:
    # The parsed parameters, not the raw body: the form parser has consumed the stream.
    canon = json.dumps(getattr(g, "devstripe_params", {}), sort_keys=True)
    return f"{request.method} {request.path}", hashlib.sha256(canon.encode()).hexdigest()


def _idempotent_replay() -> Response | None:
    key = request.headers.get("Idempotency-Key")
    if request.method not in IDEMPOTENT_METHODS or not key:
        return None
    st = state()
    with st.lock:
        stored = st.idempotency.get(key)
    if stored is None:
        return None
    route, digest, status, body = stored
    if (route, digest) != _fingerprint():
        return error_response(
            StripeError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        )
    resp = Response(body, status=status, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


@bp.after_request
def _finish(resp: Response) -> Response:
    resp.headers["Request-Id"] = getattr(g, "devstripe_request_id", "req_unknown")
    resp.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    key = request.headers.get("Idempotency-Key")
    replayed = resp.headers.get("Idempotent-Replayed") == "true"
    # Like Stripe, remember results (errors included) but not server failures.
    if (
        request.method in IDEMPOTENT_METHODS
        and key
        and not replayed
        and resp.status_code < 500
        and resp.status_code != 401
    ):
        st = state()
        with st.lock:
            st.idempotency.setdefault(key, (*_fingerprint(), resp.status_code, resp.get_data()))
            if len(st.idempotency) > IDEMPOTENCY_KEEP:
                # The SDK sends a fresh key with every POST: forget the oldest (Stripe: 24h).
                del st.idempotency[next(iter(st.idempotency))]
        resp.headers["Idempotency-Key"] = key
    return resp


def api_route(
    rule: str, methods: tuple[str, ...] = ("GET",), *, locked: bool = True
) -> Callable[[F], F]:
    """Register a `/v1` view that runs under the state lock and renders StripeErrors."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def view(**kwargs: Any) -> Response:
            st = state()
            idem = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            try:
                with st.request_context(g.devstripe_request_id, idem):
                    if not locked:
                        return cast(Response, fn(**kwargs))
                    with st.lock:
                        engine.tick(st)
                        out = fn(**kwargs)
                return out if isinstance(out, Response) else json_response(out)
            except StripeError as exc:
                return error_response(exc)

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=list(methods))
        return fn

    return deco


def one(obj: Obj) -> Obj:
    """Render a single object with the request's `expand[]`."""
    return render.render_one(state(), obj, params())


def listing(objs: list[Obj], url: str) -> Obj:
    """Render a paginated list with the request's limit/starting_after/ending_before/expand."""
    return render.list_response(state(), objs, params(), url)


def register(app: Flask) -> None:
    """Attach the API blueprint and Stripe-shaped 404/405 handlers."""
    from devstripe import (  # noqa: F401 - importing registers the views
        routes_billing,
        routes_core,
        routes_helpers,
        routes_payments,
    )

    app.register_blueprint(bp)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _not_found(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/v1"):
            return exc
        return error_response(
            StripeError(
                f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                status=404,
            )
        )
