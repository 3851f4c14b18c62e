"""Client SDK of the entitlements service: verify its tokens, call its API, receive its events.

Flask helpers live in `entitlements_client.flask`, the only module that imports Flask.
"""

from __future__ import annotations

from .client import EntitlementsClient
from .comments import may_edit_comment
from .errors import (
    ApiError,
    EntitlementsError,
    EventVerificationError,
    TransportError,
    VerificationError,
)
from .events import Event, EventReceiver, verify_event
from .results import Access, Entitlements, Handoff, IssuedToken, Policy
from .verifier import TokenVerifier

__version__ = "0.1.0"

__all__ = [
    "Access",
    "ApiError",
    "Entitlements",
    "EntitlementsClient",
    "EntitlementsError",
    "Event",
    "EventReceiver",
    "EventVerificationError",
    "Handoff",
    "IssuedToken",
    "Policy",
    "TokenVerifier",
    "TransportError",
    "VerificationError",
    "may_edit_comment",
    "verify_event",
]
