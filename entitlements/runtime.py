"""What views and commands read at request time: the runtime, its clock, the Stripe gateway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from .access import Policy
from .billing.stripe_gateway import StripeGateway
from .catalog import Catalog
from .config import Config
from .errors import UnavailableError
from .http.request_id import current_request_id
from .services.audit import Actor
from .tokens.keys import KeyRing

EXTENSION = "entitlements"


@dataclass(frozen=True)
class Runtime:
    """What views and commands need besides the session: settings, policy, keys, clock."""

    config: Config
    catalog: Catalog
    policy: Policy
    keyring: KeyRing
    clock: Callable[[], datetime]
    gateway: StripeGateway | None


def runtime() -> Runtime:
    """Return the runtime of the current app."""
    value: Runtime = current_app.extensions[EXTENSION]
    return value


def now() -> datetime:
    """Return the current time through the app's (injectable) clock."""
    return runtime().clock()


def gateway() -> StripeGateway:
    """Return the Stripe gateway, or raise 503 when billing is not configured."""
    configured = runtime().gateway
    if configured is None:
        raise UnavailableError(
            "billing is not configured: set ENTITLEMENTS_STRIPE_SECRET_KEY "
            "(`entitlements demo run` starts the offline Stripe emulator)"
        )
    return configured


def request_actor(name: str) -> Actor:
    """Return an audit actor for `name` carrying the current request id."""
    return Actor(name=name, request_id=current_request_id())
